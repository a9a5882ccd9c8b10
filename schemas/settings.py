"""The one settings module: every knob is a ``CASESEARCH_*`` environment variable.

Defaults are the embedded ones (SQLite file, in-process worker, a local OpenSearch node
managed by the CLI); setting the URL variables switches to real external services.
"""

from __future__ import annotations

import difflib
import json
import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "CASESEARCH_"
# Role names of search_api.access.principal.Role (kept here so settings validate on their own).
ROLE_NAMES = ("duty_worker", "hub_analyst", "reviewer", "records_admin", "auditor", "service")
DEFAULT_PURPOSES = ("new referral", "strategy discussion", "MASH enquiry",
                    "section 47 enquiry", "case work", "data quality")
OPENSEARCH_VERSION = "3.8.0"


class Mode(StrEnum):
    embedded = "embedded"
    production = "production"


class SettingsError(ValueError):
    """A bad ``CASESEARCH_*`` value: one line naming the variable and what is wrong."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    mode: Mode = Field(Mode.embedded, description="embedded (quick start) or production")
    data_dir: Path = Field(Path(".data"), description="where the SQLite file, OpenSearch data "
                           "and logs live in embedded mode")
    cache_dir: Path = Field(Path.home() / ".cache" / "casesearch",
                            description="downloaded OpenSearch artifacts (shared across clones)")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default a SQLite file "
                                     "under the data directory")
    opensearch_url: str | None = Field(None, description="an existing cluster; default the local "
                                       "node the CLI manages")
    opensearch_port: int = Field(9200, ge=1, le=65535, description="port of the managed local node")
    opensearch_heap: str = Field("768m", pattern=r"^\d+[mg]$", description="local node JVM heap")
    opensearch_user: str = Field("casesearch-os", description="unprivileged user that runs the "
                                 "local node when started as root")
    opensearch_timeout: float = Field(5.0, gt=0, description="seconds per OpenSearch request")
    broker_url: str | None = Field(None, description="Celery broker (Redis); default an "
                                   "in-process worker")
    index_prefix: str = Field("casesearch", pattern=r"^[a-z][a-z0-9_-]*$",
                              description="prefix of every index and alias")
    api_host: str = Field("127.0.0.1", description="address the API binds to")
    api_port: int = Field(8000, ge=1, le=65535, description="port the API binds to")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    oidc_issuer: str | None = Field(None, description="OIDC issuer URL for people's bearer "
                                    "tokens; default the built-in development issuer "
                                    "(embedded mode only)")
    oidc_audience: str = Field("casesearch", description="audience the tokens must carry")
    oidc_jwks_url: str | None = Field(None, description="JWKS URL; default discovered from "
                                      "the issuer")
    demo_data: bool = Field(True, description="load the synthetic demo data on first start in "
                            "embedded mode")
    # Access control (issue #6). Lists are JSON or comma-separated in the environment.
    sealed_roles: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["records_admin"],
        description="roles that may see sealed records (nobody else ever sees them)")
    purposes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_PURPOSES),
        description="the purposes of access a search may state")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS; default none (CORS closed)")
    rate_limit_per_minute: int = Field(120, ge=0, description="requests per minute per "
                                       "principal (0 turns the limit off)")
    # Record linkage: pairs at or above the auto threshold link automatically (unless a safety
    # rule sends them to review); between the two thresholds they go to human review.
    link_auto_threshold: float = Field(0.99, gt=0, lt=1, description="match probability at "
                                       "or above which records link automatically")
    link_review_threshold: float = Field(0.6, gt=0, lt=1, description="match probability at "
                                         "or above which a pair goes to human review")
    link_cluster_cap: int = Field(12, ge=2, description="largest identity (records) that "
                                  "automatic linking may build; bigger joins go to review")

    @field_validator("sealed_roles", "purposes", "cors_origins", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("sealed_roles")
    @classmethod
    def _sealed_roles(cls, value: list[str]) -> list[str]:
        unknown = [role for role in value if role not in ROLE_NAMES]
        if unknown:
            raise ValueError(f"unknown role {unknown[0]!r} (roles: {', '.join(ROLE_NAMES)})")
        return value

    @field_validator("purposes")
    @classmethod
    def _purposes(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one purpose is needed")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme = urlparse(value).scheme
        if not scheme or scheme.split("+")[0] not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("opensearch_url")
    @classmethod
    def _opensearch_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parsed = urlparse(value)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value.rstrip("/")

    @field_validator("broker_url")
    @classmethod
    def _broker_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parsed = urlparse(value)
        if parsed.scheme not in {"redis", "rediss"} or not parsed.hostname:
            raise ValueError("must be a redis:// URL with a host")
        return value

    # Derived values -------------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'casesearch.sqlite3').resolve()}"

    @property
    def resolved_opensearch_url(self) -> str:
        return self.opensearch_url or f"http://127.0.0.1:{self.opensearch_port}"

    @property
    def manages_local_opensearch(self) -> bool:
        return self.opensearch_url is None

    @property
    def in_process_worker(self) -> bool:
        return self.broker_url is None

    @property
    def dev_issuer_enabled(self) -> bool:
        """The built-in development issuer: embedded mode with no real issuer configured."""
        return self.mode is Mode.embedded and self.oidc_issuer is None


# Variables read by the scripts and the test harness, not by the app.
SCRIPT_VARIABLES = frozenset({"CASESEARCH_PG_PORT", "CASESEARCH_REDIS_PORT",
                              "CASESEARCH_REQUIRE_SERVICES"})
SCRIPT_PREFIXES = ("CASESEARCH_TEST_",)


def _reject_unknown_variables(environ: dict[str, str]) -> None:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    for key in sorted(environ):
        if key in SCRIPT_VARIABLES or key.startswith(SCRIPT_PREFIXES):
            continue
        if key.startswith(ENV_PREFIX) and key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f" (did you mean {hint[0]}?)" if hint else ""
            raise SettingsError(f"{key}: unknown setting{suggestion}")


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read and validate the settings, turning any error into one readable line."""
    env = dict(os.environ if environ is None else environ)
    _reject_unknown_variables(env)
    try:
        if environ is None:
            return Settings()  # type: ignore[call-arg]  # values come from the environment
        # Explicit mapping (tests): pass values in, ignoring the process environment.
        values = {k[len(ENV_PREFIX):].lower(): v for k, v in env.items()
                  if k.startswith(ENV_PREFIX)}
        return Settings.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        message = err["msg"].removeprefix("Value error, ")
        raw = env.get(ENV_PREFIX + field.upper())
        shown = f" (got {raw!r})" if raw is not None and field != "database_url" else ""
        raise SettingsError(f"{ENV_PREFIX}{field.upper()}: {message}{shown}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
