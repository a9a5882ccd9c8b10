"""Pure helpers of the managed OpenSearch node (no JVM, no network)."""

from __future__ import annotations

import hashlib
import stat
import zipfile
from pathlib import Path

import pytest
from rich.progress import Progress

from indexer import local_node
from indexer.local_node import (
    Artifact,
    LocalNodeError,
    bundle_for,
    fetch,
    java_opts,
    parse_java_version,
    parse_sha1_file,
    plugin_descriptor,
    render_jvm_options,
    render_opensearch_yml,
    verify_sha1,
)
from schemas.settings import load_settings


@pytest.mark.parametrize(("text", "major"), [
    ('IMPLEMENTOR="Eclipse Adoptium"\nJAVA_VERSION="25.0.1"\n', 25),
    ('JAVA_VERSION="21"', 21),
    ('openjdk version "17.0.13" 2024-10-15\nOpenJDK Runtime Environment', 17),
    ('openjdk version "21-ea" 2023-09-19', 21),
    ('java version "1.8.0_292"', 8),
    ("not java at all", None),
])
def test_parse_java_version(text: str, major: int | None) -> None:
    assert parse_java_version(text) == major


def test_find_jdk_names_the_fix_when_none_is_new_enough(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    old = tmp_path / "java-17"
    old.mkdir()
    (old / "release").write_text('JAVA_VERSION="17.0.2"\n')
    monkeypatch.setattr(local_node, "_jdk_candidates", lambda: [old])
    with pytest.raises(LocalNodeError, match="needs Java 21 or newer.*JAVA_HOME"):
        local_node.find_jdk()


def test_find_jdk_skips_a_jre_when_javac_is_needed(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    homes = []
    for name, with_javac in (("jre-25", False), ("jdk-21", True)):
        home = tmp_path / name
        (home / "bin").mkdir(parents=True)
        (home / "release").write_text(f'JAVA_VERSION="{name[-2:]}"\n')
        (home / "bin" / "java").touch()
        if with_javac:
            (home / "bin" / "javac").touch()
        homes.append(home)
    monkeypatch.setattr(local_node, "_jdk_candidates", lambda: homes)
    assert local_node.find_jdk().major == 25
    assert local_node.find_jdk(need_javac=True).home.name == "jdk-21"


def test_opensearch_yml_for_a_loopback_single_node(tmp_path: Path) -> None:
    settings = load_settings({"CASESEARCH_OPENSEARCH_PORT": "9250"})
    text = render_opensearch_yml(settings, tmp_path / "data", tmp_path / "logs")
    assert "network.host: 127.0.0.1" in text
    assert "http.port: 9250" in text
    assert "transport.port: 9350" in text
    assert "discovery.type: single-node" in text
    assert f"path.data: {tmp_path / 'data'}" in text
    assert "cluster.default_number_of_replicas: 0" in text


def test_jvm_options_drop_heap_and_use_absolute_paths() -> None:
    original = "\n".join([
        "-Xms1g", "-Xmx1g", "-XX:HeapDumpPath=data", "-XX:ErrorFile=logs/hs_err_pid%p.log",
        "9-:-Xlog:gc*,gc+age=trace,safepoint:file=logs/gc.log:utctime,pid,tags",
        "21-:-javaagent:agent/opensearch-agent.jar",
    ])
    text = render_jvm_options(original, Path("/d"), Path("/l"))
    assert "-Xms1g" not in text and "-Xmx1g" not in text
    assert "-XX:HeapDumpPath=/d" in text
    assert "-XX:ErrorFile=/l/hs_err_pid%p.log" in text
    assert "file=/l/gc.log:" in text
    assert "-javaagent:agent/opensearch-agent.jar" in text  # relative to the home, read-only


@pytest.mark.parametrize(("heap", "opts"), [
    ("768m", "-Xms512m -Xmx768m"), ("2g", "-Xms512m -Xmx2g"), ("256m", "-Xms256m -Xmx256m"),
])
def test_java_opts(heap: str, opts: str) -> None:
    assert java_opts(heap) == opts


def test_sha1_verification_rejects_a_corrupt_file(tmp_path: Path) -> None:
    good = b"opensearch distribution bytes"
    path = tmp_path / "opensearch-3.8.0.zip"
    path.write_bytes(good)
    expected = hashlib.sha1(good).hexdigest()
    verify_sha1(path, expected)
    path.write_bytes(good[:-1] + b"X")
    with pytest.raises(LocalNodeError, match="SHA-1 mismatch"):
        verify_sha1(path, expected)


def test_parse_sha1_file_accepts_a_trailing_file_name() -> None:
    digest = "38693cf0b1d7362a8b726af74dc06026a7c23809"
    assert parse_sha1_file(digest) == digest
    assert parse_sha1_file(f"{digest.upper()}  icu4j-77.1.jar\n") == digest
    with pytest.raises(LocalNodeError):
        parse_sha1_file("<html>not found</html>")


def test_a_verified_cached_artifact_needs_no_network(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    artifact = Artifact("com.ibm.icu", "icu4j", "77.1")
    cached = tmp_path / artifact.filename
    cached.write_bytes(b"jar")
    (tmp_path / (artifact.filename + ".sha1")).write_text(hashlib.sha1(b"jar").hexdigest())

    def no_network(url: str, timeout: float = 60.0) -> bytes:
        raise AssertionError(f"unexpected download of {url}")

    monkeypatch.setattr(local_node, "_http_get", no_network)
    with Progress(disable=True) as progress:
        assert fetch(artifact, tmp_path, progress) == cached


def test_artifact_urls_follow_the_maven_layout() -> None:
    bundle = bundle_for("3.8.0")
    assert bundle.distribution.url == (
        "https://repo.maven.apache.org/maven2/org/opensearch/distribution/integ-test-zip/"
        "opensearch/3.8.0/opensearch-3.8.0.zip")
    assert [a.filename for a in bundle.icu] == ["lucene-analysis-icu-10.5.0.jar",
                                                "icu4j-77.1.jar"]
    with pytest.raises(LocalNodeError):
        bundle_for("0.0.1")


def test_plugin_descriptor_names_class_and_versions() -> None:
    text = plugin_descriptor("casesearch-icu", "ICU filters", "org.example.Plugin", "3.8.0")
    lines = set(text.splitlines())
    assert {"name=casesearch-icu", "classname=org.example.Plugin", "version=3.8.0",
            "opensearch.version=3.8.0", "java.version=21", "extended.plugins="} <= lines


def test_unzip_keeps_executable_bits(tmp_path: Path) -> None:
    archive = tmp_path / "dist.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("opensearch-3.8.0/bin/opensearch")
        info.external_attr = (stat.S_IFREG | 0o755) << 16
        zf.writestr(info, "#!/bin/sh\n")
    local_node._unzip(archive, tmp_path / "out")
    mode = (tmp_path / "out" / "opensearch-3.8.0" / "bin" / "opensearch").stat().st_mode
    assert mode & stat.S_IXUSR


def test_the_icu_plugin_source_ships_with_the_package() -> None:
    source = local_node.ICU_SOURCE.read_text()
    assert local_node.ICU_CLASS.rsplit(".", 1)[1] in source
    assert '"icu_folding"' in source and '"icu_normalizer"' in source
