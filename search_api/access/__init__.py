"""Access control: who is calling (principal), what they may see (policy), and the plumbing.

Public surface (imported lazily so ``search_api.access.tables`` stays cheap for migrations):

    from search_api.access import (Principal, Role, current_principal, require_roles,
                                   visibility, opensearch_filter, minimal_view, apply_view,
                                   validate_purpose, purpose_query, validate_reason, protect)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Principal": "principal", "PrincipalKind": "principal", "Role": "principal",
    "current_principal": "dependencies", "refuse": "dependencies",
    "require_roles": "policy", "visibility": "policy", "opensearch_filter": "policy",
    "minimal_view": "policy", "apply_view": "policy", "can_search": "policy",
    "validate_purpose": "policy", "purpose_query": "policy", "validate_reason": "policy",
    "SEARCH_ROLES": "policy", "RESTRICTED_FULL_ROLES": "policy", "REVIEW_ROLES": "policy",
    "LINK_ROLES": "policy", "INGEST_ROLES": "policy", "AUDIT_ROLES": "policy",
    "protect": "routes", "protected_router": "routes", "public": "routes",
    "unprotected_routes": "routes", "install_access": "install",
}

__all__ = [
    "AUDIT_ROLES",
    "INGEST_ROLES",
    "LINK_ROLES",
    "RESTRICTED_FULL_ROLES",
    "REVIEW_ROLES",
    "SEARCH_ROLES",
    "Principal",
    "PrincipalKind",
    "Role",
    "apply_view",
    "can_search",
    "current_principal",
    "install_access",
    "minimal_view",
    "opensearch_filter",
    "protect",
    "protected_router",
    "public",
    "purpose_query",
    "refuse",
    "require_roles",
    "unprotected_routes",
    "validate_purpose",
    "validate_reason",
    "visibility",
]

assert set(__all__) == set(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from search_api.access.dependencies import current_principal, refuse
    from search_api.access.install import install_access
    from search_api.access.policy import (
        AUDIT_ROLES,
        INGEST_ROLES,
        LINK_ROLES,
        RESTRICTED_FULL_ROLES,
        REVIEW_ROLES,
        SEARCH_ROLES,
        apply_view,
        can_search,
        minimal_view,
        opensearch_filter,
        purpose_query,
        require_roles,
        validate_purpose,
        validate_reason,
        visibility,
    )
    from search_api.access.principal import Principal, PrincipalKind, Role
    from search_api.access.routes import protect, protected_router, public, unprotected_routes


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'search_api.access' has no attribute {name!r}")
    return getattr(importlib.import_module(f"search_api.access.{module}"), name)
