"""The audit log: ``append`` an entry in the caller's transaction, ``verify`` the chain."""

from search_api.audit.log import (
    AuditEvent,
    VerifyResult,
    append,
    append_committed,
    client_ip,
    verify,
)

__all__ = ["AuditEvent", "VerifyResult", "append", "append_committed", "client_ip", "verify"]
