"""Engine and session helpers, and running migrations."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, any_, bindparam, create_engine, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: a failed statement's values (names, dates) never reach a log.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets the API read while the ingester writes; FKs are off by default in SQLite.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10,
                         hide_parameters=True)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


# One factory for every engine, given the engine per session. Each sessionmaker makes its own
# Session subclass, whose event dispatch SQLAlchemy builds on its first use: a factory made
# per session cost about 0.7 ms a transaction (an audit write, a link) on this machine.
_SESSIONS: sessionmaker[Session] = sessionmaker(expire_on_commit=False)


def new_session(engine: Engine) -> Session:
    return _SESSIONS(bind=engine)


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


IN_CHUNK = 500  # values per IN list (SQLite)
ARRAY_CHUNK = 10_000  # values per ``= ANY(:array)`` (PostgreSQL): one parameter however many


def chunk_size(session: Session) -> int:
    """How many values one ``in_values`` takes: more on PostgreSQL, where a chunk is one
    parameter."""
    return ARRAY_CHUNK if is_postgres(session) else IN_CHUNK


def value_chunks(session: Session, values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """``values`` in chunks of ``chunk_size`` for ``in_values``."""
    size = chunk_size(session)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def in_values(session: Session, column: Any, values: Iterable[Any]) -> Any:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``. An IN list is a
    placeholder per value, so each chunk's statement text differed: SQLAlchemy expanded it on
    every execution and psycopg, which caches only short statements, converted it afresh (a
    third of a full re-link's writes). One array parameter keeps the text fixed."""
    if is_postgres(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    session = new_session(engine)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision`` on the database at ``url``."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
