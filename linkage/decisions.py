"""Human decisions: confirm / reject / unsure on a review pair, and unlinking records.

A decision is stored twice: on the review row (status, reason, who, when) and, for confirm and
reject, as a constraint (must_link / cannot_link) that every later re-link, retrain and
threshold change obeys. Callers write the audit entry in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from linkage.clustering import ScoredEdge
from linkage.store import (
    LinkConfig,
    LinkConflict,
    add_constraint,
    apply_edges,
    current_persons,
    lock_linkage,
    members_of,
    split_records,
)
from linkage.tables import LinkReviewRow
from schemas.tables import utcnow

__all__ = ["DECISIONS", "DecisionResult", "decide_review", "unlink_records"]

DECISIONS = {"confirm": "confirmed", "reject": "rejected", "unsure": "unsure"}


@dataclass(frozen=True)
class DecisionResult:
    review_id: int
    status: str
    person_ids: tuple[str, ...]  # the identities of the two records after the decision
    merged: bool = False
    split: bool = False


def decide_review(session: Session, review: LinkReviewRow, decision: str, *, reason: str,
                  decided_by: str, config: LinkConfig) -> DecisionResult:
    """Apply a reviewer's decision. Raises LinkConflict when a confirm would join records
    that a person has said are different (directly or through their identities)."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {sorted(DECISIONS)}")
    lock_linkage(session)
    a, b = int(review.record_a), int(review.record_b)
    merged = split = False
    if decision == "confirm":
        constraint = add_constraint(session, a, b, "must_link", reason=reason,
                                    decided_by=decided_by, review_id=review.id)
        outcome = apply_edges(session, [ScoredEdge(a, b, 1.0)], config, source="review",
                              decided_by=decided_by, reason=reason)
        persons = current_persons(session, [a, b])
        if persons.get(a) != persons.get(b):
            # A cannot-link (a person's earlier decision) separates them: refuse, keep nothing.
            constraint.superseded_at = utcnow()
            raise LinkConflict("these records cannot be linked: a reviewer has already decided "
                               "that records in these two identities are different children")
        merged = outcome.merges > 0
    elif decision == "reject":
        add_constraint(session, a, b, "cannot_link", reason=reason, decided_by=decided_by,
                       review_id=review.id)
        persons = current_persons(session, [a, b])
        if persons.get(a) is not None and persons.get(a) == persons.get(b):
            # Linked meanwhile (another path): the reviewer says they are different children.
            split_records(session, persons[b], [b], source="reject", reason=reason,
                          decided_by=decided_by, cannot_link=False)
            split = True
    review.status = DECISIONS[decision]
    review.reason = reason
    review.decided_by = decided_by
    review.decided_at = utcnow()
    review.updated_at = review.decided_at
    session.flush()
    persons = current_persons(session, [a, b])
    return DecisionResult(review.id, review.status,
                          (persons.get(a, ""), persons.get(b, "")), merged, split)


def unlink_records(session: Session, person_id: str, record_ids: Sequence[int], *,
                   reason: str, decided_by: str) -> str:
    """Split record_ids out of person_id into a new identity, with cannot-link constraints
    between them and the records that stay. Returns the new person id."""
    lock_linkage(session)
    resolved = current_persons(session, record_ids)
    if any(resolved.get(int(r)) != person_id for r in record_ids):
        members = members_of(session, [person_id]).get(person_id, [])
        missing = sorted(int(r) for r in record_ids if int(r) not in members)
        raise LinkConflict(f"records {missing} are not part of person {person_id}")
    return split_records(session, person_id, record_ids, source="unlink", reason=reason,
                         decided_by=decided_by)
