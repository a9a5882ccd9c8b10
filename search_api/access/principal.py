"""Who is asking: a person (bearer token) or an application (API key), with roles and scope."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from schemas.settings import ROLE_NAMES


class Role(StrEnum):
    duty_worker = "duty_worker"
    hub_analyst = "hub_analyst"
    reviewer = "reviewer"
    records_admin = "records_admin"
    auditor = "auditor"
    service = "service"


assert tuple(Role) == ROLE_NAMES, "schemas.settings.ROLE_NAMES must list the same roles"


class PrincipalKind(StrEnum):
    user = "user"
    service = "service"


DEFAULT_SEALED_ROLES: frozenset[Role] = frozenset({Role.records_admin})


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """Known role names only; anything else is ignored (never grants access)."""
    known = {r.value for r in Role}
    return frozenset(Role(v) for v in values if isinstance(v, str) and v in known)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``agencies`` is the set of agency codes whose records the caller may see, or ``None``
    meaning every agency. ``sealed_roles`` is filled from the ``sealed_roles`` setting when
    the principal is resolved, so the policy needs no settings of its own.
    """

    subject: str
    display_name: str
    kind: PrincipalKind
    roles: frozenset[Role]
    agencies: frozenset[str] | None
    sealed_roles: frozenset[Role] = field(default=DEFAULT_SEALED_ROLES, repr=False)
    # How the caller proved itself: "jwt" or "apikey:<id>" (for the audit log).
    auth: str = "jwt"

    def has_any_role(self, *roles: Role | str) -> bool:
        return any(Role(r) in self.roles for r in roles)

    def in_scope(self, agency: str | None) -> bool:
        if self.agencies is None:
            return True
        return agency is not None and agency in self.agencies

    @property
    def can_see_sealed(self) -> bool:
        return bool(self.roles & self.sealed_roles)
