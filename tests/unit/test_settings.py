from pathlib import Path

import pytest

from schemas.settings import Mode, SettingsError, load_settings


def test_defaults_are_embedded() -> None:
    s = load_settings({})
    assert s.mode is Mode.embedded
    assert s.resolved_database_url.startswith("sqlite:///")
    assert s.resolved_database_url.endswith("casesearch.sqlite3")
    assert s.manages_local_opensearch and s.in_process_worker
    assert s.resolved_opensearch_url == "http://127.0.0.1:9200"


def test_urls_switch_to_real_services() -> None:
    s = load_settings({
        "CASESEARCH_DATABASE_URL": "postgresql+psycopg://u:p@db:5432/cs",
        "CASESEARCH_OPENSEARCH_URL": "http://search:9200/",
        "CASESEARCH_BROKER_URL": "redis://redis:6379/0",
        "CASESEARCH_DATA_DIR": "/var/lib/cs",
    })
    assert s.resolved_database_url == "postgresql+psycopg://u:p@db:5432/cs"
    assert s.resolved_opensearch_url == "http://search:9200"
    assert not s.manages_local_opensearch and not s.in_process_worker
    assert s.data_dir == Path("/var/lib/cs")


@pytest.mark.parametrize(("env", "variable", "words"), [
    ({"CASESEARCH_OPENSEARCH_URL": "localhost:9200"}, "CASESEARCH_OPENSEARCH_URL", "http"),
    ({"CASESEARCH_DATABASE_URL": "mysql://x"}, "CASESEARCH_DATABASE_URL", "postgresql"),
    ({"CASESEARCH_BROKER_URL": "amqp://x"}, "CASESEARCH_BROKER_URL", "redis"),
    ({"CASESEARCH_MODE": "turbo"}, "CASESEARCH_MODE", "embedded"),
    ({"CASESEARCH_API_PORT": "eighty"}, "CASESEARCH_API_PORT", "integer"),
    ({"CASESEARCH_DATABSE_URL": "sqlite:///x"}, "CASESEARCH_DATABSE_URL",
     "did you mean CASESEARCH_DATABASE_URL"),
])
def test_bad_values_name_the_variable(env: dict[str, str], variable: str, words: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    message = str(info.value)
    assert message.startswith(variable + ":")
    assert words in message
    assert "\n" not in message


def test_database_password_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"CASESEARCH_DATABASE_URL": "mysql://user:secret@x/db"})
    assert "secret" not in str(info.value)
