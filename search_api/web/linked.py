""""Why linked" for the person page: for each agency record the caller sees in full, the
strongest evidence that it is the same child as another record they see in full (the linkage
model's own per-field explanation, ``linkage.compare``), and how it joined the identity (an
automatic link, or a reviewer's decision, from ``link_events``).

Only records shown in full take part: a padlocked or hidden record is never compared, named
or counted here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from linkage import ModelParams, compare
from linkage.store import load_features
from linkage.tables import LinkEventRow
from search_api.search.person_view import PersonView

MAX_COMPARED = 60
MAX_REASONS = 5


@dataclass
class WhyLinked:
    record_id: str
    other_record_id: str | None = None
    other_label: str | None = None
    grade: str | None = None
    probability: float | None = None
    supporting: list[str] = field(default_factory=list)
    against: list[str] = field(default_factory=list)
    how: str | None = None
    how_when: dt.datetime | None = None
    how_by: str | None = None
    how_reason: str | None = None


SOURCES = {
    "auto": "Linked automatically",
    "full_relink": "Linked automatically (full re-link)",
    "review": "Linked by a reviewer's decision",
}


def _label(view: PersonView, record_id: str) -> str:
    for rec in view.records:
        if rec.record_id == record_id:
            who = rec.agency_name or rec.agency or "agency"
            return f"{who} record {rec.source_id or record_id}"
    return f"record {record_id}"


def why_linked(session: Session, view: PersonView, params: ModelParams
               ) -> dict[str, WhyLinked]:
    full = [r.record_id for r in view.records if not r.restricted][:MAX_COMPARED]
    out = {rid: WhyLinked(record_id=rid) for rid in full}
    if not full:
        return out
    features = load_features(session, [int(r) for r in full])
    for rid in full:
        mine = features.get(int(rid))
        if mine is None:
            continue
        best: tuple[float, str, Any] | None = None
        for other in full:
            theirs = features.get(int(other))
            if other == rid or theirs is None:
                continue
            score = compare(mine, theirs, params)
            if best is None or score.match_probability > best[0]:
                best = (score.match_probability, other, score)
        if best is None:
            continue
        probability, other, score = best
        item = out[rid]
        item.other_record_id = other
        item.other_label = _label(view, other)
        item.grade = str(score.grade)
        item.probability = probability
        explanation = score.explanation()
        item.supporting = [e["reason"] for e in explanation if e["weight"] > 0][:MAX_REASONS]
        item.against = [e["reason"] for e in explanation if e["weight"] < 0][:MAX_REASONS]
    identity = [view.person_id, *view.merged_ids]
    events = session.scalars(select(LinkEventRow).where(
        LinkEventRow.kind == "merge",
        or_(LinkEventRow.person_id.in_(identity), LinkEventRow.other_person_id.in_(identity)))
        .order_by(LinkEventRow.at, LinkEventRow.id))
    for event in events:  # later events win: the record's latest move into the identity
        for raw in event.record_ids or []:
            moved = out.get(str(raw))
            if moved is None:
                continue
            item = moved
            item.how = SOURCES.get(event.source, "Linked")
            item.how_when = event.at
            item.how_by = event.decided_by
            item.how_reason = event.reason if event.source == "review" else None
    return out


def explain_pair(session: Session, record_a: int, record_b: int, params: ModelParams
                 ) -> list[dict[str, Any]]:
    """The model's per-field explanation of a pair (for review pairs queued by a safety rule,
    which carry none). Only call it for two records the caller sees in full."""
    features = load_features(session, [record_a, record_b])
    if record_a not in features or record_b not in features:
        return []
    return compare(features[record_a], features[record_b], params).explanation()


__all__ = ["WhyLinked", "explain_pair", "why_linked"]
