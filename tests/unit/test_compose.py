"""docker-compose.yml cannot run here (no Docker engine): check it by reading it."""

from pathlib import Path

import yaml

from schemas.settings import ENV_PREFIX, OPENSEARCH_VERSION, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _env(service: str) -> dict[str, str]:
    env = COMPOSE["services"][service].get("environment", {})
    return {str(k): str(v) for k, v in env.items()}


def test_every_service_is_there_with_a_healthcheck() -> None:
    services = COMPOSE["services"]
    for name in ("opensearch", "postgres", "redis", "api", "worker"):
        assert name in services, name
        assert "healthcheck" in services[name], name
    assert set(COMPOSE["volumes"]) >= {"opensearch-data", "postgres-data", "redis-data"}


def test_app_services_use_the_settings_variables() -> None:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    for service in ("api", "worker", "migrate"):
        env = _env(service)
        for var in ("CASESEARCH_DATABASE_URL", "CASESEARCH_OPENSEARCH_URL",
                    "CASESEARCH_BROKER_URL", "CASESEARCH_MODE"):
            assert var in env, (service, var)
        unknown = {k for k in env if k.startswith(ENV_PREFIX)} - known
        assert not unknown, (service, unknown)
        # The values parse with the real settings module (compose interpolation aside).
        concrete = {k: v.replace("${POSTGRES_PASSWORD:-casesearch}", "pw")
                    for k, v in env.items() if "${" not in v.replace(
                        "${POSTGRES_PASSWORD:-casesearch}", "")}
        settings = load_settings(concrete)
        assert settings.mode.value == "production"
        assert settings.broker_url and settings.broker_url.startswith("redis://redis")
        assert settings.opensearch_url == "http://opensearch:9200"


def test_opensearch_version_and_plugins_match_the_cli() -> None:
    build = COMPOSE["services"]["opensearch"]["build"]
    assert build["args"]["OPENSEARCH_VERSION"] == OPENSEARCH_VERSION
    dockerfile = (ROOT / build["dockerfile"]).read_text()
    assert "analysis-phonetic" in dockerfile and "analysis-icu" in dockerfile


def test_depends_on_waits_for_health() -> None:
    api = COMPOSE["services"]["api"]["depends_on"]
    assert api["opensearch"]["condition"] == "service_healthy"
    assert api["redis"]["condition"] == "service_healthy"
