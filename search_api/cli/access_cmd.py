"""`casesearch apikey create|revoke|list` and `casesearch audit verify`."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from schemas.db import engine_for, session_scope, upgrade
from schemas.settings import Mode
from search_api.cli.common import console, fail, settings_or_exit

if TYPE_CHECKING:
    from search_api.access.principal import Principal

apikey_app = typer.Typer(no_args_is_help=True, help="API keys for applications.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit log.")


def register(app: typer.Typer) -> None:
    app.add_typer(apikey_app, name="apikey", help="Create, revoke and list API keys.")
    app.add_typer(audit_app, name="audit", help="Check the audit log.")


def _engine() -> Engine:
    settings = settings_or_exit()
    url = settings.resolved_database_url
    try:
        if settings.mode is Mode.embedded:
            upgrade(url)
        engine = engine_for(url)
        tables = set(inspect(engine).get_table_names())
    except SQLAlchemyError as exc:
        fail(f"cannot open the database: {type(exc).__name__}")
    if not {"api_keys", "audit_log", "audit_head"} <= tables:
        fail("the database has no access tables yet: run the migrations (casesearch serve "
             "--prepare-only in embedded mode)")
    return engine


def _operator() -> Principal:
    from search_api.access.principal import Principal, PrincipalKind

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Principal(subject=f"cli:{user}", display_name=user, kind=PrincipalKind.user,
                     roles=frozenset(), agencies=None, auth="cli")


@apikey_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="which application this key is for")],
    role: Annotated[str, typer.Option("--role", help="role the key acts with")] = "service",
    agency: Annotated[list[str] | None, typer.Option(
        "--agency", help="agency code in scope (repeat for several)")] = None,
    all_agencies: Annotated[bool, typer.Option(
        "--all-agencies", help="scope every agency instead of --agency")] = False,
) -> None:
    """Create a key. It is printed once and never stored: only its SHA-256 hash is kept."""
    from search_api.access.apikeys import create_api_key
    from search_api.access.principal import Role
    from search_api.audit.log import AuditEvent, append

    if role not in {r.value for r in Role}:
        fail(f"--role: unknown role {role!r} (roles: {', '.join(r.value for r in Role)})", 2)
    agency = agency or []
    if all_agencies == bool(agency):
        fail("give --agency CODE (repeatable) or --all-agencies", 2)
    engine = _engine()
    operator = _operator()
    try:
        with session_scope(engine) as session:
            row, raw = create_api_key(session, name=name, role=role,
                                      agencies=None if all_agencies else agency,
                                      created_by=operator.subject)
            append(session, event=AuditEvent.apikey_created, principal=operator,
                   target=f"apikey:{row.id}",
                   detail={"name": row.name, "role": row.role, "agencies": row.agencies})
            key_id, scope = row.id, ", ".join(row.agencies) if row.agencies else "all agencies"
    except ValueError as exc:
        fail(str(exc), 2)
    console.print(f"created API key {key_id} ({name}, role {role}, {scope}). "
                  "Store it now: it is not shown again.")
    typer.echo(raw)


@apikey_app.command("revoke")
def revoke(key_id: Annotated[int, typer.Argument(help="the key's id (see `apikey list`)")]
           ) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from search_api.access.apikeys import revoke_api_key
    from search_api.audit.log import AuditEvent, append

    engine = _engine()
    with session_scope(engine) as session:
        row = revoke_api_key(session, key_id)
        if row is None:
            fail(f"no API key with id {key_id}")
        append(session, event=AuditEvent.apikey_revoked, principal=_operator(),
               target=f"apikey:{key_id}")
    console.print(f"revoked API key {key_id}")


@apikey_app.command("list")
def list_keys() -> None:
    """List keys (never the keys themselves: only their first characters)."""
    from search_api.access.apikeys import list_api_keys

    engine = _engine()
    with session_scope(engine) as session:
        rows = list_api_keys(session)
    table = Table("id", "name", "role", "agencies", "key starts", "created", "revoked")
    for row in rows:
        table.add_row(str(row.id), row.name, row.role,
                      ", ".join(row.agencies) if row.agencies else "all",
                      row.prefix + "…", f"{row.created_at:%Y-%m-%d %H:%M}",
                      f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "")
    from rich.console import Console

    Console().print(table)


@audit_app.command("verify")
def verify_cmd() -> None:
    """Check the hash chain; exit 1 naming the first bad entry."""
    from search_api.audit.log import verify

    result = verify(_engine())
    if not result.ok:
        fail(f"audit log chain broken at entry {result.first_bad_id}: {result.message}")
    console.print(f"audit log intact: {result.checked} entries checked")
