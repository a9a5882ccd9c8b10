"""The local single-node OpenSearch that the CLI installs, starts and stops.

Embedded mode needs a search engine without Docker, so this module downloads the OpenSearch
distribution from Maven Central, adds the analysis plugins casesearch's index settings use and
runs one node on 127.0.0.1:

* ``analysis-phonetic``: Maven Central serves the plugin's jar but not its ZIP, so the plugin is
  assembled from the jar, its two dependencies and a plugin descriptor.
* ``casesearch-icu``: Maven Central does not serve ``analysis-icu`` at all, so a small plugin of
  our own (``opensearch_plugin/CasesearchIcuPlugin.java``) providing ``icu_folding`` and
  ``icu_normalizer`` is compiled against the distribution with the JDK's ``javac``.

Layout: downloads in ``<cache_dir>/artifacts`` (each verified against Maven Central's ``.sha1``),
the unpacked distribution in ``<cache_dir>/opensearch-<version>`` (shared by every clone, never
written by the node), and the node's own config, data, logs and pid file in
``<data_dir>/opensearch``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from schemas.settings import OPENSEARCH_VERSION, Settings, get_settings

MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2"
MIN_JAVA = 21
JAVA_HINT = (
    f"OpenSearch {OPENSEARCH_VERSION} needs Java {MIN_JAVA} or newer: install a JDK {MIN_JAVA}+ "
    "(for example `apt-get install openjdk-21-jdk-headless` or Temurin 25) and set JAVA_HOME"
)
CLUSTER_NAME = "casesearch-local"
MARKER = ".casesearch-install.json"
ICU_SOURCE = Path(__file__).parent / "opensearch_plugin" / "CasesearchIcuPlugin.java"
ICU_CLASS = "org.casesearch.opensearch.icu.CasesearchIcuPlugin"
PHONETIC_CLASS = "org.opensearch.plugin.analysis.AnalysisPhoneticPlugin"

console = Console(stderr=True, soft_wrap=True)  # paths in messages must stay copyable


class LocalNodeError(RuntimeError):
    """Something the user can act on; the message is one readable sentence."""


# Artifacts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    """One Maven Central artifact (``group:artifact:version:packaging``)."""

    group: str
    artifact: str
    version: str
    packaging: str = "jar"

    @property
    def coordinates(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}:{self.packaging}"

    @property
    def filename(self) -> str:
        return f"{self.artifact}-{self.version}.{self.packaging}"

    @property
    def url(self) -> str:
        group_path = self.group.replace(".", "/")
        return f"{MAVEN_CENTRAL}/{group_path}/{self.artifact}/{self.version}/{self.filename}"


@dataclass(frozen=True)
class Bundle:
    """What one OpenSearch version needs; the versions follow that release's own poms."""

    distribution: Artifact
    phonetic: tuple[Artifact, ...]
    icu: tuple[Artifact, ...]


def bundle_for(version: str) -> Bundle:
    # Pinned per release: analysis-phonetic's pom names lucene and commons-codec, and
    # lucene-analysis-icu's pom names icu4j. Add a row when OPENSEARCH_VERSION moves.
    pins = {"3.8.0": {"lucene": "10.5.0", "commons-codec": "1.18.0", "icu4j": "77.1"}}
    if version not in pins:
        raise LocalNodeError(f"no pinned plugin dependencies for OpenSearch {version}")
    pin = pins[version]
    return Bundle(
        distribution=Artifact(
            "org.opensearch.distribution.integ-test-zip", "opensearch", version, "zip"
        ),
        phonetic=(
            Artifact("org.opensearch.plugin", "analysis-phonetic", version),
            Artifact("org.apache.lucene", "lucene-analysis-phonetic", pin["lucene"]),
            Artifact("commons-codec", "commons-codec", pin["commons-codec"]),
        ),
        icu=(
            Artifact("org.apache.lucene", "lucene-analysis-icu", pin["lucene"]),
            Artifact("com.ibm.icu", "icu4j", pin["icu4j"]),
        ),
    )


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_sha1_file(text: str) -> str:
    """Maven ``.sha1`` files hold the hex digest, sometimes followed by a file name."""
    match = re.match(r"\s*([0-9a-fA-F]{40})\b", text)
    if not match:
        raise LocalNodeError(f"unreadable .sha1 file from Maven Central: {text[:60]!r}")
    return match.group(1).lower()


def verify_sha1(path: Path, expected: str) -> None:
    actual = sha1_of(path)
    if actual != expected.lower():
        raise LocalNodeError(
            f"{path.name}: SHA-1 mismatch (expected {expected}, got {actual}); "
            "the download is corrupt, delete it and run install again"
        )


def _http_get(url: str, timeout: float = 60.0) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data: bytes = response.read()
            return data
    except (urllib.error.URLError, TimeoutError) as exc:
        raise LocalNodeError(f"could not download {url}: {exc}") from exc


def _download_https(artifact: Artifact, target: Path, progress: Progress) -> None:
    part = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(artifact.url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            task = progress.add_task(artifact.filename, total=total)
            with part.open("wb") as out:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    progress.advance(task, len(chunk))
    except (urllib.error.URLError, TimeoutError) as exc:
        part.unlink(missing_ok=True)
        raise LocalNodeError(f"could not download {artifact.url}: {exc}") from exc
    part.replace(target)


def _download_mvn(artifact: Artifact, target: Path, progress: Progress) -> bool:
    # Maven reuses ~/.m2 and the user's mirrors/proxies; any failure falls back to HTTPS.
    task = progress.add_task(f"{artifact.filename} (mvn)", total=None)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        result = subprocess.run(
            ["mvn", "-q", "-B", "dependency:copy", f"-Dartifact={artifact.coordinates}",
             f"-DoutputDirectory={tmp}"],
            capture_output=True, text=True, check=False,
        )
        produced = Path(tmp) / artifact.filename
        if result.returncode != 0 or not produced.exists():
            progress.update(task, description=f"{artifact.filename} (mvn failed, using HTTPS)")
            return False
        produced.replace(target)
    size = target.stat().st_size
    progress.update(task, total=size, completed=size)
    return True


def fetch(artifact: Artifact, directory: Path, progress: Progress) -> Path:
    """Download one artifact unless a verified copy is already cached; return its path."""
    target = directory / artifact.filename
    sidecar = target.with_name(target.name + ".sha1")
    # A sidecar is written only after a verified download, so a match means no network needed.
    if target.exists() and sidecar.exists():
        with contextlib.suppress(LocalNodeError):
            verify_sha1(target, parse_sha1_file(sidecar.read_text()))
            return target
    expected = parse_sha1_file(_http_get(artifact.url + ".sha1").decode())
    if target.exists() and sha1_of(target) == expected:  # e.g. seeded by hand
        sidecar.write_text(expected + "\n")
        return target
    if not (shutil.which("mvn") and _download_mvn(artifact, target, progress)):
        _download_https(artifact, target, progress)
    try:
        verify_sha1(target, expected)
    except LocalNodeError:
        target.unlink(missing_ok=True)
        raise
    sidecar.write_text(expected + "\n")
    return target


# Java ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Jdk:
    home: Path
    major: int

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"

    @property
    def javac(self) -> Path:
        return self.home / "bin" / "javac"


def parse_java_version(text: str) -> int | None:
    """Major version from a JDK ``release`` file or ``java -version`` output.

    ``JAVA_VERSION="25.0.1"`` -> 25, ``openjdk version "21-ea"`` -> 21,
    ``java version "1.8.0_292"`` -> 8.
    """
    match = re.search(r'(?:JAVA_VERSION=|version )"(\d+)(?:\.(\d+))?', text)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):  # the pre-Java-9 "1.x" scheme
        return int(match.group(2))
    return major


def java_major(home: Path) -> int | None:
    release = home / "release"
    if release.is_file():
        found = parse_java_version(release.read_text(errors="replace"))
        if found is not None:
            return found
    java = home / "bin" / "java"
    if not java.is_file():
        return None
    result = subprocess.run([str(java), "-version"], capture_output=True, text=True, check=False)
    return parse_java_version(result.stderr + result.stdout)


def _jdk_candidates() -> list[Path]:
    candidates: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        candidates += sorted(jvm.glob("temurin-25*"))
        candidates += sorted((p for p in jvm.iterdir() if p.is_dir() and not p.is_symlink()),
                             reverse=True)
    return candidates


def find_jdk(need_javac: bool = False) -> Jdk:
    """JAVA_HOME when it is Java 21+, else a Temurin 25, else any Java 21+ in /usr/lib/jvm."""
    for home in _jdk_candidates():
        major = java_major(home)
        if major is None or major < MIN_JAVA:
            continue
        jdk = Jdk(home.resolve(), major)
        if need_javac and not jdk.javac.is_file():
            continue
        return jdk
    if need_javac:
        raise LocalNodeError(JAVA_HINT + " (a full JDK with javac is needed to build the "
                             "casesearch-icu plugin)")
    raise LocalNodeError(JAVA_HINT)


# Install ------------------------------------------------------------------------------------


def plugin_descriptor(name: str, description: str, classname: str, version: str) -> str:
    return "\n".join([
        f"description={description}",
        f"version={version}",
        f"name={name}",
        f"classname={classname}",
        f"java.version={MIN_JAVA}",
        f"opensearch.version={version}",
        "custom.foldername=",
        "extended.plugins=",
        "has.native.controller=false",
        "",
    ])


def _unzip(archive: Path, destination: Path) -> None:
    """Extract keeping the executable bits (zipfile alone drops them, breaking bin/)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            extracted = Path(zf.extract(info, destination))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                extracted.chmod(mode)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Two concurrent installs (two terminals, parallel tests) must not unpack over each other.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=False,
    )


def render_opensearch_yml(settings: Settings, data: Path, logs: Path) -> str:
    lines = [
        "# Written by casesearch (indexer/local_node.py) on every start; edits are lost.",
        f"cluster.name: {CLUSTER_NAME}",
        "node.name: casesearch-local-1",
        "network.host: 127.0.0.1",
        f"http.port: {settings.opensearch_port}",
        f"transport.port: {settings.opensearch_port + 100}",
        "discovery.type: single-node",
        f"path.data: {data}",
        f"path.logs: {logs}",
        # One node can never hold a replica: default to none so new indices are green.
        "cluster.default_number_of_replicas: 0",
        # A nearly full laptop disk must not silently block shard allocation.
        "cluster.routing.allocation.disk.threshold_enabled: false",
        "",
    ]
    return "\n".join(lines)


def render_jvm_options(original: str, data: Path, logs: Path) -> str:
    """The distribution's jvm.options with heap lines removed and relative paths made absolute.

    Heap comes from OPENSEARCH_JAVA_OPTS; the relative ``logs/`` and ``data`` paths would
    otherwise resolve inside the shared, read-only distribution directory.
    """
    out: list[str] = []
    for line in original.splitlines():
        stripped = line.strip()
        if re.match(r"^-Xm[sx]\d", stripped):
            continue
        line = line.replace("file=logs/gc.log", f"file={logs}/gc.log")
        line = line.replace("-Xloggc:logs/gc.log", f"-Xloggc:{logs}/gc.log")
        line = line.replace("-XX:ErrorFile=logs/", f"-XX:ErrorFile={logs}/")
        line = line.replace("-XX:HeapDumpPath=data", f"-XX:HeapDumpPath={data}")
        out.append(line)
    return "\n".join(out) + "\n"


def java_opts(heap: str) -> str:
    # Start at 512m (or the whole heap when smaller) so a small laptop is not pre-touched to max.
    units = {"m": 1, "g": 1024}
    heap_mb = int(heap[:-1]) * units[heap[-1]]
    initial = f"{min(512, heap_mb)}m"
    return f"-Xms{initial} -Xmx{heap}"


@dataclass
class NodeStatus:
    installed: bool
    running: bool
    pid: int | None
    url: str
    health: str | None
    plugins: list[str] = field(default_factory=list)


class LocalNode:
    """Install, start, stop and inspect the managed node described by ``settings``."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.version = OPENSEARCH_VERSION
        self.bundle = bundle_for(self.version)
        self.cache_dir = self.settings.cache_dir.expanduser().resolve()
        self.artifacts_dir = self.cache_dir / "artifacts"
        self.home = self.cache_dir / f"opensearch-{self.version}"
        self.node_dir = self.settings.data_dir.expanduser().resolve() / "opensearch"
        self.config_dir = self.node_dir / "config"
        self.data_path = self.node_dir / "data"
        self.logs_path = self.node_dir / "logs"
        self.run_dir = self.node_dir / "run"
        self.pid_file = self.run_dir / "opensearch.pid"
        self.url = f"http://127.0.0.1:{self.settings.opensearch_port}"

    # install ------------------------------------------------------------------------------
    def _marker(self) -> dict[str, str]:
        return {
            "version": self.version,
            "distribution": self.bundle.distribution.coordinates,
            "phonetic": ",".join(a.coordinates for a in self.bundle.phonetic),
            "icu": ",".join(a.coordinates for a in self.bundle.icu),
            "icu_source_sha1": sha1_of(ICU_SOURCE),
        }

    def installed(self) -> bool:
        marker = self.home / MARKER
        if not marker.is_file():
            return False
        try:
            return bool(json.loads(marker.read_text()) == self._marker())
        except ValueError:
            return False

    def install(self) -> Path:
        """Download, verify, unpack and add plugins; a no-op when already done."""
        if self.installed():
            return self.home
        jdk = find_jdk(need_javac=True)
        with _locked(self.cache_dir / ".install.lock"):
            if self.installed():  # another process finished while we waited
                return self.home
            self.artifacts_dir.mkdir(parents=True, exist_ok=True)
            with _progress() as progress:
                dist = fetch(self.bundle.distribution, self.artifacts_dir, progress)
                phonetic = [fetch(a, self.artifacts_dir, progress) for a in self.bundle.phonetic]
                icu = [fetch(a, self.artifacts_dir, progress) for a in self.bundle.icu]
            if not (self.home / "bin" / "opensearch").is_file():
                self._unpack(dist)
            self._assemble_phonetic(phonetic)
            self._build_icu(jdk, icu)
            (self.home / MARKER).write_text(json.dumps(self._marker(), indent=2) + "\n")
        console.print(f"OpenSearch {self.version} installed in {self.home}")
        return self.home

    def _unpack(self, archive: Path) -> None:
        console.print(f"Unpacking {archive.name} ...")
        with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix=".unpack-") as tmp:
            _unzip(archive, Path(tmp))
            inner = Path(tmp) / f"opensearch-{self.version}"
            if not (inner / "bin" / "opensearch").is_file():
                raise LocalNodeError(f"{archive.name} does not contain opensearch-{self.version}/")
            if self.home.exists():  # a half-finished earlier attempt
                shutil.rmtree(self.home)
            inner.rename(self.home)

    def _plugin_dir(self, name: str) -> Path:
        target = self.home / "plugins" / name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        return target

    def _assemble_phonetic(self, jars: list[Path]) -> None:
        target = self._plugin_dir("analysis-phonetic")
        for jar in jars:
            shutil.copy2(jar, target / jar.name)
        (target / "plugin-descriptor.properties").write_text(plugin_descriptor(
            "analysis-phonetic",
            "The Phonetic Analysis plugin integrates phonetic token filter analysis with "
            "opensearch.",
            PHONETIC_CLASS, self.version,
        ))

    def _build_icu(self, jdk: Jdk, jars: list[Path]) -> None:
        console.print("Building the casesearch-icu plugin with javac ...")
        target = self._plugin_dir("casesearch-icu")
        with tempfile.TemporaryDirectory(prefix="casesearch-icu-") as tmp:
            classes = Path(tmp) / "classes"
            classpath = os.pathsep.join([str(self.home / "lib" / "*"), *map(str, jars)])
            result = subprocess.run(
                [str(jdk.javac), "--release", str(MIN_JAVA), "-nowarn", "-encoding", "UTF-8",
                 "-d", str(classes), "-cp", classpath, str(ICU_SOURCE)],
                capture_output=True, text=True, check=False,
            )
            if result.returncode != 0:
                first = " | ".join(result.stderr.strip().splitlines()[:3])
                raise LocalNodeError(f"javac could not build {ICU_SOURCE.name}: {first}")
            _write_jar(classes, target / f"casesearch-icu-{self.version}.jar")
        for jar in jars:
            shutil.copy2(jar, target / jar.name)
        (target / "plugin-descriptor.properties").write_text(plugin_descriptor(
            "casesearch-icu",
            "ICU folding and normalisation token filters for casesearch (icu_folding, "
            "icu_normalizer).",
            ICU_CLASS, self.version,
        ))

    # run ----------------------------------------------------------------------------------
    def _run_as(self) -> str | None:
        """The OS user to run the node as: the settings' user when we are root, else us."""
        return self.settings.opensearch_user if os.geteuid() == 0 else None

    def _ensure_user(self, user: str) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "-r", "-m", "-s", "/usr/sbin/nologin", user],
                           check=True, capture_output=True)
            return pwd.getpwnam(user)

    @staticmethod
    def _can_read(user: str, path: Path) -> bool:
        result = subprocess.run(["runuser", "-u", user, "--", "test", "-r", str(path)],
                                capture_output=True, check=False)
        return result.returncode == 0

    def _check_reachable(self, user: str, path: Path) -> None:
        if not self._can_read(user, path):
            raise LocalNodeError(
                f"user {user} (who runs OpenSearch because we are root) cannot read {path}; "
                "set CASESEARCH_DATA_DIR to a directory outside /root, e.g. /var/lib/casesearch"
            )

    def _runtime_home(self, user: str | None) -> Path:
        """The distribution directory the node runs from.

        As root the node runs as another user, who cannot enter the default cache under
        /root. Rather than loosening /root's permissions, the distribution is mirrored into
        the node directory with hard links (a copy across file systems), rebuilt when the
        install changes.
        """
        if user is None or self._can_read(user, self.home / "bin" / "opensearch"):
            return self.home
        mirror = self.node_dir / "home"
        wanted = (self.home / MARKER).read_text()
        current = mirror / MARKER
        if current.is_file() and current.read_text() == wanted:
            return mirror
        console.print(f"Mirroring the distribution into {mirror} for user {user} ...")
        if mirror.exists():
            shutil.rmtree(mirror)
        shutil.copytree(self.home, mirror, copy_function=_link_or_copy)
        return mirror

    def _write_config(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        source = self.home / "config"
        for name in ("log4j2.properties", "jvm.options.d"):
            src, dst = source / name, self.config_dir / name
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            elif src.exists():
                shutil.copy2(src, dst)
        (self.config_dir / "jvm.options").write_text(render_jvm_options(
            (source / "jvm.options").read_text(), self.data_path, self.logs_path))
        (self.config_dir / "opensearch.yml").write_text(
            render_opensearch_yml(self.settings, self.data_path, self.logs_path))

    def _prepare_dirs(self, user: str | None) -> Path:
        """Create config, data, logs and run dirs owned by the node user; return its home."""
        for path in (self.data_path, self.logs_path, self.run_dir):
            path.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if user is None:
            return self.home
        account = self._ensure_user(user)
        # Not the mirrored home: its hard links share inodes with the cache.
        os.chown(self.node_dir, account.pw_uid, account.pw_gid)
        for top in (self.config_dir, self.data_path, self.logs_path, self.run_dir):
            for root, dirs, files in os.walk(top):
                os.chown(root, account.pw_uid, account.pw_gid)
                for name in dirs + files:
                    os.lchown(os.path.join(root, name), account.pw_uid, account.pw_gid)
        self._check_reachable(user, self.config_dir / "opensearch.yml")
        return self._runtime_home(user)

    def read_pid(self) -> int | None:
        """The node's pid, or None when it is not running.

        The launcher returns before the JVM writes its pid file, so a node that is still
        booting is found by its command line (this node's config directory) instead.
        """
        try:
            pid = int(self.pid_file.read_text().strip())
            if _alive(pid) and _is_opensearch(pid):
                return pid
        except (OSError, ValueError):
            pass
        return _find_node_pid(self.config_dir)

    def _request(self, path: str, timeout: float | None = None) -> object:
        with urllib.request.urlopen(self.url + path,
                                    timeout=timeout or self.settings.opensearch_timeout) as resp:
            return json.loads(resp.read().decode())

    def health(self) -> str | None:
        try:
            body = self._request("/_cluster/health")
        except (OSError, ValueError):
            return None
        return str(body.get("status")) if isinstance(body, dict) else None

    def start(self, wait: bool = True, timeout: float = 240.0) -> NodeStatus:
        """Start the node unless it is already running; optionally wait for green."""
        if self.read_pid() is None:
            if self.health() is not None:
                raise LocalNodeError(f"something else already answers on {self.url}; stop it or "
                                     "set CASESEARCH_OPENSEARCH_PORT to a free port")
            self.install()
            self._launch()
        if wait:
            self._wait_green(timeout)
        return self.status()

    def _launch(self) -> None:
        jdk = find_jdk()
        user = self._run_as()
        home = self._prepare_dirs(user)
        self.pid_file.unlink(missing_ok=True)
        env = {
            "JAVA_HOME": str(jdk.home),
            "OPENSEARCH_PATH_CONF": str(self.config_dir),
            "OPENSEARCH_JAVA_OPTS": java_opts(self.settings.opensearch_heap),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
        }
        command = ["env", *[f"{k}={v}" for k, v in env.items()],
                   str(home / "bin" / "opensearch"), "-d", "-p", str(self.pid_file)]
        if user is not None:
            command = ["runuser", "-u", user, "--", *command]
        console.print(f"Starting OpenSearch {self.version} on {self.url} "
                      f"(Java {jdk.major}, heap {self.settings.opensearch_heap}) ...")
        # The launcher's output goes to a file: the daemon inherits the descriptors, and a pipe
        # would keep us waiting on it.
        launcher_out = self.logs_path / "launcher.out"
        with launcher_out.open("w") as out:
            result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False,
                                    cwd=self.node_dir, env={**os.environ, **env})
        output = launcher_out.read_text(errors="replace")
        # The launcher exits 0 even when it rejects its options, so look for its ERROR line too.
        errors = [line for line in output.splitlines() if line.startswith("ERROR")]
        if result.returncode != 0 or errors:
            detail = (errors or output.strip().splitlines() or ["no output"])[-1]
            raise LocalNodeError(f"OpenSearch failed to start (exit {result.returncode}): "
                                 f"{detail}; see {launcher_out} and {self.log_file}")

    @property
    def log_file(self) -> Path:
        return self.logs_path / f"{CLUSTER_NAME}.log"

    def _wait_green(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: str | None = None
        while time.monotonic() < deadline:
            if self.read_pid() is None:
                raise LocalNodeError(f"OpenSearch exited during start-up; see the end of "
                                     f"{self.log_file}")
            try:
                body = self._request("/_cluster/health?wait_for_status=green&timeout=2s",
                                     timeout=5)
                last = str(body.get("status")) if isinstance(body, dict) else None
                if last == "green":
                    return
            except (OSError, ValueError):
                pass
            time.sleep(1)
        raise LocalNodeError(f"OpenSearch did not become green within {timeout:.0f} s "
                             f"(last health: {last or 'no answer'}); see the end of "
                             f"{self.log_file}")

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the node; returns False when it was not running."""
        pid = self.read_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        try:
            os.kill(pid, signal.SIGTERM)
        except PermissionError as exc:
            raise LocalNodeError(f"not allowed to stop OpenSearch (pid {pid}); run as the user "
                                 "who started it, or as root") from exc
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        if _alive(pid):  # a wedged JVM: flush nothing more, just end it
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def plugins(self, running: bool) -> list[str]:
        if running:
            with contextlib.suppress(OSError, ValueError):
                rows = self._request("/_cat/plugins?format=json")
                if isinstance(rows, list):
                    return sorted({str(row.get("component")) for row in rows})
        plugin_root = self.home / "plugins"
        if not plugin_root.is_dir():
            return []
        return sorted(p.name for p in plugin_root.iterdir() if p.is_dir())

    def status(self) -> NodeStatus:
        pid = self.read_pid()
        running = pid is not None
        return NodeStatus(
            installed=self.installed(),
            running=running,
            pid=pid,
            url=self.url,
            health=self.health() if running else None,
            plugins=self.plugins(running),
        )


def _write_jar(classes: Path, jar: Path) -> None:
    # A jar is a zip with a manifest; writing it here avoids needing the JDK's `jar` tool.
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: casesearch\r\n")
        for path in sorted(classes.rglob("*.class")):
            zf.write(path, path.relative_to(classes).as_posix())


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _find_node_pid(config_dir: Path) -> int | None:
    marker = f"-Dopensearch.path.conf={config_dir}".encode()
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            args = proc.joinpath("cmdline").read_bytes().split(b"\0")
            if marker in args and _alive(int(proc.name)):
                return int(proc.name)
    return None


def _is_opensearch(pid: int) -> bool:
    # A stale pid file may name a pid the OS has since given to an unrelated process.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (not Linux): trust the pid file
    return b"org.opensearch.bootstrap.OpenSearch" in cmdline


def _alive(pid: int) -> bool:
    """True when ``pid`` runs and is not a zombie (we may be its parent after ``-d``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


# Module-level conveniences used by the CLI and tests ----------------------------------------


def install(settings: Settings | None = None) -> Path:
    return LocalNode(settings).install()


def start(wait: bool = True, timeout: float = 120.0,
          settings: Settings | None = None) -> NodeStatus:
    return LocalNode(settings).start(wait=wait, timeout=timeout)


def stop(settings: Settings | None = None) -> bool:
    return LocalNode(settings).stop()


def status(settings: Settings | None = None) -> NodeStatus:
    return LocalNode(settings).status()
