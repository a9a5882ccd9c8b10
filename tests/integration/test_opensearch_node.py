"""The managed local OpenSearch node: health, plugins and the analysis casesearch relies on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from indexer.local_node import LocalNode

pytestmark = pytest.mark.integration

ANALYSIS: dict[str, Any] = {
    "filter": {
        "name_dm": {"type": "phonetic", "encoder": "double_metaphone", "replace": True},
        "name_bm": {"type": "phonetic", "encoder": "beider_morse", "rule_type": "approx",
                    "name_type": "generic", "languageset": ["english", "polish"]},
        "nfkc_cf": {"type": "icu_normalizer", "name": "nfkc_cf"},
    },
    "analyzer": {
        "dm": {"tokenizer": "standard", "filter": ["lowercase", "name_dm"]},
        "bm": {"tokenizer": "standard", "filter": ["lowercase", "name_bm"]},
        "folded": {"tokenizer": "keyword", "filter": ["icu_folding"]},
    },
    "normalizer": {"folded_keyword": {"type": "custom", "filter": ["icu_folding"]}},
}


@pytest.fixture(scope="module")
def client(managed_node: LocalNode) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=managed_node.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def index(client: httpx.Client) -> Iterator[str]:
    name = f"test-analysis-{uuid.uuid4().hex[:8]}"
    response = client.put(f"/{name}", json={"settings": {"analysis": ANALYSIS}})
    assert response.status_code == 200, response.text
    yield name
    client.delete(f"/{name}")


def tokens(client: httpx.Client, index: str, text: str, **spec: Any) -> list[str]:
    response = client.post(f"/{index}/_analyze", json={"text": text, **spec})
    assert response.status_code == 200, response.text
    return [token["token"] for token in response.json()["tokens"]]


def test_cluster_health_is_green(client: httpx.Client) -> None:
    assert client.get("/_cluster/health").json()["status"] == "green"


def test_status_reports_the_running_node(managed_node: LocalNode) -> None:
    state = managed_node.status()
    assert state.installed and state.running and state.pid
    assert state.health == "green"
    assert {"analysis-phonetic", "casesearch-icu"} <= set(state.plugins)


def test_start_again_is_a_no_op(managed_node: LocalNode) -> None:
    pid = managed_node.read_pid()
    assert managed_node.start(wait=True, timeout=10).pid == pid


def test_new_indices_are_green_on_one_node(client: httpx.Client, index: str) -> None:
    health = client.get(f"/_cluster/health/{index}", params={"wait_for_status": "green",
                                                              "timeout": "10s"}).json()
    assert health["status"] == "green"


def test_double_metaphone_keys_smyth(client: httpx.Client, index: str) -> None:
    assert tokens(client, index, "Smyth", analyzer="dm") == ["SM0", "XMT"]


def test_icu_folding_removes_accents_and_case(client: httpx.Client, index: str) -> None:
    assert tokens(client, index, "Wiśniewski Zoë", analyzer="folded") == ["wisniewski zoe"]
    assert tokens(client, index, "ZOË", normalizer="folded_keyword") == ["zoe"]


def test_icu_normalizer_nfkc_casefold(client: httpx.Client, index: str) -> None:
    # Full-width letters and the German sharp s, as pasted from other systems.
    assert tokens(client, index, "ＡＢＣ Straße", tokenizer="keyword",
                  filter=["nfkc_cf"]) == ["abc strasse"]


def test_beider_morse_gives_tokens_shared_by_spellings(client: httpx.Client, index: str) -> None:
    smyth = tokens(client, index, "Smyth", analyzer="bm")
    smith = tokens(client, index, "Smith", analyzer="bm")
    assert smyth and smith
    assert set(smyth) & set(smith)
