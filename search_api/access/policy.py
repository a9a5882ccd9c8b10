"""The access rules, in one place. Every router asks these functions; none re-implements them.

Sensitivity x role x agency scope:

* A record of an agency outside the caller's scope is ``hidden``.
* ``sealed`` records are ``full`` for the roles in the ``sealed_roles`` setting (default
  records_admin) and ``hidden`` for everyone else: not in results, counts or linked records.
* ``restricted`` records are ``full`` for hub_analyst and records_admin (and sealed roles);
  every other searching role sees a padlocked ``minimal`` hit (name, date of birth, holding
  agency) and must state a reason, which is audited, to open it.
* ``normal`` records are ``full`` for every searching role.
* The auditor role reads the audit log only: records are ``hidden`` to it.
* A record with an unknown or missing sensitivity is ``hidden`` to everyone (fail
  closed; the OpenSearch filter likewise only admits the three known values).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Query, Request

from search_api.access.dependencies import current_principal, refuse
from search_api.access.principal import Principal, Role

View = Literal["full", "minimal", "hidden"]

SENSITIVITIES = ("normal", "restricted", "sealed")

# What each capability needs. Routers use these with require_roles(*...).
SEARCH_ROLES: tuple[Role, ...] = (Role.duty_worker, Role.hub_analyst, Role.reviewer,
                                  Role.records_admin, Role.service)
RESTRICTED_FULL_ROLES: tuple[Role, ...] = (Role.hub_analyst, Role.records_admin)
REVIEW_ROLES: tuple[Role, ...] = (Role.reviewer, Role.records_admin)
LINK_ROLES: tuple[Role, ...] = (Role.reviewer, Role.records_admin)
INGEST_ROLES: tuple[Role, ...] = (Role.service, Role.records_admin)
AUDIT_ROLES: tuple[Role, ...] = (Role.auditor,)

MIN_REASON_CHARS = 10
MAX_REASON_CHARS = 1000


def can_search(principal: Principal) -> bool:
    return principal.has_any_role(*SEARCH_ROLES)


def visibility(principal: Principal, sensitivity: str, agency: str) -> View:
    """How much of one record (or case note) this caller may see."""
    if (not can_search(principal) or not principal.in_scope(agency)
            or sensitivity not in SENSITIVITIES):
        return "hidden"
    level = sensitivity
    if level == "sealed":
        return "full" if principal.can_see_sealed else "hidden"
    if level == "restricted":
        if principal.can_see_sealed or principal.has_any_role(*RESTRICTED_FULL_ROLES):
            return "full"
        return "minimal"
    return "full"


def opensearch_filter(principal: Principal) -> list[dict[str, Any]]:
    """Bool ``filter`` clauses that keep only documents this caller may see at all.

    Restricted documents stay in (they become minimal hits on the way out); sealed ones and
    other agencies' ones are removed inside the query, so they never reach counts,
    aggregations or highlights. Documents without a known ``sensitivity`` never match.
    """
    if not can_search(principal):
        return [{"match_none": {}}]
    allowed = ["normal", "restricted", "sealed"] if principal.can_see_sealed \
        else ["normal", "restricted"]
    clauses: list[dict[str, Any]] = [{"terms": {"sensitivity": allowed}}]
    if principal.agencies is not None:
        if not principal.agencies:
            return [{"match_none": {}}]
        clauses.append({"terms": {"agency": sorted(principal.agencies)}})
    return clauses


# Keys a minimal (padlocked) hit keeps: a reference to open it, the name, the date of birth
# and the holding agency. Everything else (identifiers, addresses, aliases, relationships,
# case details, scores, highlights, explanations) is dropped.
MINIMAL_KEYS = frozenset({
    "id", "record_id",
    "given_names", "family_name", "name", "full_name", "display_name",
    "date_of_birth", "dob_precision",
    "agency", "agency_code", "agency_name", "holding_agency",
})


def minimal_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """The padlocked view of a restricted record: name, date of birth, holding agency."""
    out = {k: v for k, v in record.items() if k in MINIMAL_KEYS}
    source = record.get("source")
    if isinstance(source, Mapping) and "agency" in source and "agency" not in out:
        out["agency"] = source["agency"]
    out["restricted"] = True
    return out


def record_sensitivity(record: Mapping[str, Any]) -> str:
    value = record.get("sensitivity")
    return str(value) if value is not None else ""  # missing: hidden to everyone


def record_agency(record: Mapping[str, Any]) -> str | None:
    for key in ("agency", "agency_code", "holding_agency"):
        if isinstance(record.get(key), str):
            return str(record[key])
    source = record.get("source")
    if isinstance(source, Mapping) and isinstance(source.get("agency"), str):
        return str(source["agency"])
    return None


def apply_view(principal: Principal, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The second, on-the-way-out check: the record as this caller may see it, or None.

    Reads ``sensitivity`` and ``agency`` (or ``agency_code`` / ``source.agency``) from the
    record itself; a record carrying neither is hidden.
    """
    agency = record_agency(record)
    if agency is None:
        return None
    view = visibility(principal, record_sensitivity(record), agency)
    if view == "full":
        return dict(record)
    if view == "minimal":
        return minimal_view(record)
    return None


def validate_reason(reason: str | None) -> str:
    """A stated reason for opening a restricted record (break-glass); 422 if inadequate."""
    text = " ".join((reason or "").split())
    if len(text) < MIN_REASON_CHARS:
        raise HTTPException(422, f"opening a restricted record needs a reason of at least "
                                 f"{MIN_REASON_CHARS} characters; it is audited")
    if len(text) > MAX_REASON_CHARS:
        raise HTTPException(422, f"reason is longer than {MAX_REASON_CHARS} characters")
    return text


def validate_purpose(purpose: str | None, allowed: Sequence[str]) -> str:
    """The canonical spelling of a stated purpose of access; 422 naming the choices if not."""
    wanted = " ".join((purpose or "").split()).casefold()
    for choice in allowed:
        if choice.casefold() == wanted:
            return choice
    raise HTTPException(422, {"msg": "purpose must be one of the configured purposes",
                              "purposes": list(allowed)})


def purpose_query(request: Request, purpose: Annotated[str, Query(
        max_length=100, description="why you are searching (one of the configured "
        "purposes); recorded in the audit log")]) -> str:
    """Dependency: a validated ``purpose`` query parameter."""
    return validate_purpose(purpose, request.app.state.casesearch.settings.purposes)


def require_roles(*roles: Role) -> Callable[..., Principal]:
    """Dependency factory: the caller, if it holds any of ``roles``; else 403, audited."""
    wanted = frozenset(Role(r) for r in roles)

    def _require(request: Request,
                 principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.roles & wanted:
            return principal
        refuse(request, principal, needed=sorted(wanted))
        raise AssertionError("unreachable")  # pragma: no cover

    _require.__name__ = "require_" + "_or_".join(sorted(wanted))
    return _require
