"""Linkage in SQL (SQLite and PostgreSQL): merges keep the older id, history, safety rules,
human decisions surviving re-links, retrains and threshold changes, unlink."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from linkage.decisions import decide_review, unlink_records
from linkage.incremental import link_full, link_records, train_from_store
from linkage.model import load_params
from linkage.store import (
    LinkConfig,
    LinkConflict,
    active_constraints,
    current_persons,
    identity_as_at,
    members_of,
    neighbourhood_of,
    queue_review,
    queue_reviews,
)
from linkage.tables import LinkConstraintRow, LinkEventRow, LinkReviewRow, RecordMembershipRow
from schemas.db import engine_for, session_scope, upgrade
from schemas.ingest.service import ingest_payload
from schemas.settings import Settings, load_settings
from schemas.tables import AgencyRow, OutboxRow, PersonRecordRow, PersonRow

NHS = ["9434765919", "4010232137", "9990000018"]


class _Down:
    """An OpenSearch client that is not answering: linkage falls back to SQL candidates."""

    def msearch(self, **_: Any) -> Any:
        raise ConnectionError("down")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    upgrade(database_url)
    with session_scope(engine_for(database_url)) as session:
        for code, kind in (("LA1", "social_care"), ("HEA", "health"), ("POL", "police")):
            session.add(AgencyRow(code=code, name=code, kind=kind))
    return load_settings({"CASESEARCH_DATABASE_URL": database_url,
                          "CASESEARCH_DATA_DIR": str(tmp_path)})


def engine(settings: Settings) -> Engine:
    return engine_for(settings.resolved_database_url)


def person(source_id: str, agency: str = "LA1", **kw: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "record_type": "person",
        "source": {"agency": agency, "source_system": "sys", "source_id": source_id,
                   "version": 1},
        "given_names": "Jayden", "family_name": "Okonkwo", "date_of_birth": "2014-06-21",
        "gender": "male",
        "addresses": [{"lines": ["14 Harehills Lane"], "postcode": "LS9 7AB"}],
    }
    rec.update(kw)
    return rec


def ingest(settings: Settings, *records: dict[str, Any]) -> list[int]:
    ids = []
    for r in records:  # one at a time: each record's person is created later than the last
        report = ingest_payload(engine(settings), [r])
        assert not report.rejections, report.rejections
        with session_scope(engine(settings)) as session:
            ids.append(int(session.scalar(select(PersonRecordRow.id).where(
                PersonRecordRow.source_id == r["source"]["source_id"],
                PersonRecordRow.agency_code == r["source"]["agency"])) or 0))
        time.sleep(0.01)
    return ids


def link(settings: Settings, ids: list[int]) -> Any:
    return link_records(settings, ids, client=_Down())


def persons(settings: Settings, ids: list[int]) -> dict[int, str]:
    with session_scope(engine(settings)) as session:
        return current_persons(session, ids)


def nhs(value: str) -> list[dict[str, str]]:
    return [{"type": "nhs_number", "value": value}]


def pending(settings: Settings) -> list[LinkReviewRow]:
    with session_scope(engine(settings)) as session:
        return list(session.scalars(select(LinkReviewRow)
                                    .where(LinkReviewRow.status == "pending")))


# ---------------------------------------------------------------------------------------------


def test_merge_keeps_older_person_id_history_and_outbox(settings: Settings) -> None:
    a, b = ingest(settings, person("1", identifiers=nhs(NHS[0])),
                  person("2", agency="HEA", given_names="Jaden", identifiers=nhs(NHS[0])))
    before = persons(settings, [a, b])
    assert before[a] != before[b]
    moment = dt.datetime.now(dt.UTC)
    time.sleep(0.02)
    outcome = link(settings, [b])
    assert outcome.merges == 1
    after = persons(settings, [a, b])
    assert after[a] == after[b] == before[a]  # the older id survives
    with session_scope(engine(settings)) as session:
        absorbed = session.get(PersonRow, before[b])
        assert absorbed is not None and absorbed.merged_into == before[a]
        event = session.scalars(select(LinkEventRow)).one()
        assert (event.kind, event.person_id, event.other_person_id) == \
            ("merge", before[a], before[b])
        assert event.record_ids == [b] and event.decided_by is None
        assert event.probability is not None and event.probability >= 0.99  # the link's own
        # The moved record itself points at the survivor, not only through merged_into.
        assert session.scalar(select(PersonRecordRow.person_id).where(
            PersonRecordRow.id == b)) == before[a]
        assert identity_as_at(session, b, moment) == before[b]
        assert identity_as_at(session, b, dt.datetime.now(dt.UTC)) == before[a]
        assert identity_as_at(session, a, moment) == before[a]
        outbox = session.scalars(select(OutboxRow).where(OutboxRow.entity_id == b,
                                                         OutboxRow.processed_at.is_(None)))
        assert any(o.entity_type == "person_record" for o in outbox)
        # The move's own outbox row: the record at its stored version, due now, not tried.
        queued = session.scalars(select(OutboxRow).where(OutboxRow.entity_id == b)
                                 .order_by(OutboxRow.id.desc())).first()
        assert queued is not None and queued.entity_type == "person_record"
        assert (queued.version, queued.attempts, queued.processed_at) == (1, 0, None)
        stamped = queued.created_at.replace(tzinfo=queued.created_at.tzinfo or dt.UTC)
        assert stamped >= moment


def test_a_record_still_pointing_at_an_absorbed_person_resolves_to_the_survivor(
        settings: Settings) -> None:
    a, b, c = ingest(settings, person("1", identifiers=nhs(NHS[0])),
                     person("2", agency="HEA", given_names="Jaden", identifiers=nhs(NHS[0])),
                     person("3", agency="POL", given_names="Ruby", family_name="Okafor",
                            date_of_birth="2009-01-02", identifiers=nhs(NHS[2])))
    before = persons(settings, [a, b, c])
    assert link(settings, [b]).merges == 1
    with session_scope(engine(settings)) as session:
        # A row written before the merge moved it (or by an older version of the code).
        session.execute(update(PersonRecordRow).where(PersonRecordRow.id == b)
                        .values(person_id=before[b]))
    assert persons(settings, [a, b, c]) == {a: before[a], b: before[a], c: before[c]}


def test_identities_in_one_statement_match_the_step_by_step_reads(settings: Settings) -> None:
    a, b = ingest(settings, person("1", identifiers=nhs(NHS[0])),
                  person("2", agency="HEA", given_names="Jaden", identifiers=nhs(NHS[0])))
    before = persons(settings, [a, b])
    assert link(settings, [b]).merges == 1
    c, d = ingest(settings,
                  person("3", agency="POL", given_names="Jaydon", identifiers=nhs(NHS[0])),
                  person("4", agency="POL", given_names="Ruby", family_name="Okafor",
                         date_of_birth="2009-01-02", identifiers=nhs(NHS[2])))
    before.update(persons(settings, [c, d]))
    assert link(settings, [c]).merges == 1
    with session_scope(engine(settings)) as session:
        # A chain two hops long: c's old person points at b's old person, which points at
        # a's; and c's row itself still names its first person.
        session.execute(update(PersonRow).where(PersonRow.id == before[c])
                        .values(merged_into=before[b]))
        session.execute(update(PersonRecordRow).where(PersonRecordRow.id == c)
                        .values(person_id=before[c]))
    with session_scope(engine(settings)) as session:
        # Human decisions touching a member, a seed and neither (and one superseded).
        for x, y, kind in ((a, d, "cannot_link"), (b, c, "must_link"), (d, 10_000_000,
                                                                       "must_link")):
            session.add(LinkConstraintRow(record_a=x, record_b=y, kind=kind, reason="test",
                                          decided_by="test"))
        session.add(LinkConstraintRow(record_a=a, record_b=c, kind="cannot_link",
                                      reason="test", decided_by="test",
                                      superseded_at=dt.datetime.now(dt.UTC)))
    with session_scope(engine(settings)) as session:
        for ids in ([a], [c], [b, d], [a, b, c, d], [d, 10_000_000], [10_000_000]):
            person_of, groups, _, _ = neighbourhood_of(session, ids)
            assert person_of == current_persons(session, ids)
            assert groups == members_of(session, set(person_of.values()))
            near = {*ids, *(r for rs in groups.values() for r in rs)}
            assert neighbourhood_of(session, ids) == (
                person_of, groups, *active_constraints(session, near))
        assert neighbourhood_of(session, [c])[2:] == ([(b, c)], [(a, d)])
        person_of, groups, _, _ = neighbourhood_of(session, [c])
        assert person_of == {c: before[a]}
        assert groups == {before[a]: [a, b, c]}


def test_ids_are_stable_across_relinks(settings: Settings) -> None:
    ids = ingest(settings, person("1", identifiers=nhs(NHS[0])),
                 person("2", agency="HEA", identifiers=nhs(NHS[0])),
                 person("3", given_names="Zainab", family_name="Begum",
                        date_of_birth="2012-01-30"))
    link_full(settings)
    first = persons(settings, ids)
    with session_scope(engine(settings)) as session:
        events = session.scalar(select(func.count()).select_from(LinkEventRow))
    again = link_full(settings)
    assert again.merges == 0
    assert persons(settings, ids) == first
    with session_scope(engine(settings)) as session:
        assert session.scalar(select(func.count()).select_from(LinkEventRow)) == events


def test_conflicting_nhs_numbers_never_link_automatically(settings: Settings) -> None:
    a, b = ingest(settings, person("1", identifiers=nhs(NHS[0])),
                  person("2", agency="HEA", identifiers=nhs(NHS[1])))
    link(settings, [b])
    p = persons(settings, [a, b])
    assert p[a] != p[b]
    queued = pending(settings)
    assert len(queued) == 1 and "identifier_conflict" in queued[0].flags


def test_twins_never_link_automatically(settings: Settings) -> None:
    a, b = ingest(settings, person("1", given_names="Hassan"),
                  person("2", given_names="Hussein"))
    link(settings, [b])
    p = persons(settings, [a, b])
    assert p[a] != p[b]
    flags = [r.flags for r in pending(settings)]
    assert all("possible_twins" in f for f in flags)


def test_cluster_cap_sends_big_joins_to_review(settings: Settings, tmp_path: Path) -> None:
    capped = load_settings({"CASESEARCH_DATABASE_URL": settings.resolved_database_url,
                            "CASESEARCH_DATA_DIR": str(tmp_path), "CASESEARCH_LINK_CLUSTER_CAP":
                            "2"})
    ids = ingest(capped, *(person(str(i), agency=ag, identifiers=nhs(NHS[0]))
                           for i, ag in enumerate(("LA1", "HEA", "POL"))))
    link_full(capped)
    p = persons(capped, ids)
    assert len(set(p.values())) == 2
    assert any("more than 2" in r.queued_reason for r in pending(capped))


def test_rejection_survives_relink_retrain_and_threshold_change(settings: Settings,
                                                               tmp_path: Path) -> None:
    a, b = ingest(settings, person("1"),
                  person("2", agency="HEA", date_of_birth="2014-06-12",
                         addresses=[{"lines": ["1 Oak Road"], "postcode": "LS9 6XY"}]))
    link(settings, [b])
    queued = pending(settings)
    assert len(queued) == 1 and persons(settings, [a])[a] != persons(settings, [b])[b]
    with session_scope(engine(settings)) as session:
        review = session.get(LinkReviewRow, queued[0].id)
        assert review is not None
        decide_review(session, review, "reject", reason="different children, checked with GP",
                      decided_by="reviewer-1", config=LinkConfig.from_settings(settings))
    # a threshold that would now link them automatically, a re-link, a retrain, a re-link
    loose = load_settings({"CASESEARCH_DATABASE_URL": settings.resolved_database_url,
                           "CASESEARCH_DATA_DIR": str(tmp_path),
                           "CASESEARCH_LINK_AUTO_THRESHOLD": "0.5",
                           "CASESEARCH_LINK_REVIEW_THRESHOLD": "0.4"})
    link_full(loose)
    with pytest.raises(ValueError):
        train_from_store(loose)  # two records: too few, the defaults stay
    train_from_store(loose, u_sample_size=1000, min_records=2)
    assert load_params(loose.data_dir).training.get("source") == "em"
    link_full(loose)
    link(loose, [a, b])
    p = persons(loose, [a, b])
    assert p[a] != p[b]
    with session_scope(engine(loose)) as session:
        review = session.get(LinkReviewRow, queued[0].id)
        assert review is not None and review.status == "rejected"
        assert review.decided_by == "reviewer-1" and review.decided_at is not None


def test_confirmation_merges_and_survives_relink(settings: Settings) -> None:
    a, b = ingest(settings, person("1", identifiers=nhs(NHS[0])),
                  person("2", agency="HEA", identifiers=nhs(NHS[1])))
    link(settings, [b])
    review_id = pending(settings)[0].id
    with session_scope(engine(settings)) as session:
        review = session.get(LinkReviewRow, review_id)
        assert review is not None
        result = decide_review(session, review, "confirm", reason="same child, NHS number "
                               "re-issued", decided_by="reviewer-2",
                               config=LinkConfig.from_settings(settings))
        assert result.merged
    link_full(settings)
    p = persons(settings, [a, b])
    assert p[a] == p[b]
    with session_scope(engine(settings)) as session:
        event = session.scalars(select(LinkEventRow)).one()
        assert event.source == "review" and event.decided_by == "reviewer-2"


def test_transitive_chain_through_cannot_link_is_refused(settings: Settings) -> None:
    a, c = ingest(settings, person("1", identifiers=nhs(NHS[0])),
                  person("3", agency="POL", identifiers=nhs(NHS[0])))
    with session_scope(engine(settings)) as session:
        from linkage.store import add_constraint

        add_constraint(session, a, c, "cannot_link", reason="different children",
                       decided_by="reviewer-1")
    (b,) = ingest(settings, person("2", agency="HEA", identifiers=nhs(NHS[0])))
    link(settings, [b])
    link_full(settings)
    p = persons(settings, [a, b, c])
    assert p[a] != p[c]
    assert p[b] in (p[a], p[c])


def test_unlink_splits_and_stays_split(settings: Settings) -> None:
    a, b = ingest(settings, person("1", identifiers=nhs(NHS[0])),
                  person("2", agency="HEA", identifiers=nhs(NHS[0])))
    link(settings, [b])
    pid = persons(settings, [a])[a]
    with session_scope(engine(settings)) as session:
        new_id = unlink_records(session, pid, [b], reason="wrongly merged by a typo",
                                decided_by="admin-1")
    p = persons(settings, [a, b])
    assert p[a] == pid and p[b] == new_id
    link_full(settings)
    link(settings, [a, b])
    assert persons(settings, [a, b]) == p
    with session_scope(engine(settings)) as session:
        kinds = [e.kind for e in session.scalars(select(LinkEventRow).order_by(LinkEventRow.id))]
        assert kinds == ["merge", "split"]
        constraint = session.scalars(select(LinkConstraintRow)).one()
        assert constraint.kind == "cannot_link" and constraint.decided_by == "admin-1"
        with pytest.raises(LinkConflict):
            unlink_records(session, pid, [a], reason="the last record of a person",
                           decided_by="admin-1")


def test_reviews_queued_in_bulk_end_as_pair_by_pair(settings: Settings) -> None:
    """A full re-link queues its review pairs in chunks: the rows and the count are those of
    queueing them one at a time (refresh pending, reopen obsolete, leave decided alone)."""
    with session_scope(engine(settings)) as session:
        for a, b in ((1, 2), (4, 3), (5, 6)):
            queue_review(session, a, b, None, 0.6, "old")
        session.flush()
        session.execute(update(LinkReviewRow).where(LinkReviewRow.record_a == 3)
                        .values(status="obsolete"))
        session.execute(update(LinkReviewRow).where(LinkReviewRow.record_a == 5)
                        .values(status="rejected"))
    bulk = [(100 + i, 5000 + i, None, 0.65, "bulk") for i in range(600)]  # two chunks
    items = [(2, 1, None, 0.7, "new"), (3, 4, None, 0.7, "new"), (5, 6, None, 0.7, "new"),
             (8, 7, None, 0.7, "first"), (7, 8, None, 0.8, "last"), *bulk]
    with session_scope(engine(settings)) as session:
        queued = queue_reviews(session, items)
    assert queued == 1 + 1 + 600  # (3, 4) reopened, (7, 8) and the bulk new
    with session_scope(engine(settings)) as session:
        rows = {(r.record_a, r.record_b): (r.status, r.probability, r.queued_reason)
                for r in session.scalars(select(LinkReviewRow))}
    assert len(rows) == 3 + 1 + 600
    assert rows[(1, 2)] == ("pending", 0.7, "new")
    assert rows[(3, 4)] == ("pending", 0.7, "new")
    assert rows[(5, 6)] == ("rejected", 0.6, "old")
    assert rows[(7, 8)] == ("pending", 0.8, "last")
    assert rows[(100, 5000)] == rows[(699, 5599)] == ("pending", 0.65, "bulk")


def test_person_ids_resolve_through_chains_longer_than_one_read(settings: Settings) -> None:
    # 1,300 persons: 650 chains of two merges (a -> b -> c), read 500 ids a round, so the
    # survivors are found over several rounds, as in a full re-link's thousands of merges.
    from indexer.documents import resolve_person_ids

    now = dt.datetime.now(dt.UTC)
    with session_scope(engine(settings)) as session:
        for k in range(650):
            session.add(PersonRow(id=f"c{k}", created_at=now, merged_into=None))
        session.flush()
        for k in range(650):
            session.add(PersonRow(id=f"b{k}", created_at=now, merged_into=f"c{k}"))
        session.flush()
        for k in range(650):
            session.add(PersonRow(id=f"a{k}", created_at=now, merged_into=f"b{k}"))
    with session_scope(engine(settings)) as session:
        asked = [f"a{k}" for k in range(650)] + [f"c{k}" for k in range(0, 650, 2)] + [None]
        resolved = resolve_person_ids(session, asked)
    # every id met on the way is resolved too (the survivors map to themselves)
    assert resolved == {f"{x}{k}": f"c{k}" for x in "abc" for k in range(650)}


@pytest.mark.parametrize("whole_queue", [False, True])
def test_reviews_of_records_now_one_identity_become_obsolete(
        settings: Settings, monkeypatch: pytest.MonkeyPatch, whole_queue: bool) -> None:
    # A full re-link reads the whole pending queue once; smaller links read it by records.
    # Both must close exactly the pairs whose records the link made one identity.
    import linkage.store as store

    if whole_queue:
        monkeypatch.setattr(store, "_WHOLE_QUEUE_AT", 0)
    a, b, c = ingest(settings, person("1", identifiers=nhs(NHS[0])),
                     person("2", agency="HEA", identifiers=nhs(NHS[0])),
                     person("3", agency="POL", given_names="Zainab", family_name="Begum",
                            date_of_birth="2012-01-30"))
    with session_scope(engine(settings)) as session:
        queue_review(session, a, b, None, 0.7, "queued before the merge")
        queue_review(session, a, c, None, 0.65, "queued before the merge")
    outcome = link_full(settings)
    assert outcome.merges == 1
    p = persons(settings, [a, b, c])
    assert p[a] == p[b] != p[c]
    with session_scope(engine(settings)) as session:
        status = {(r.record_a, r.record_b): r.status
                  for r in session.scalars(select(LinkReviewRow))}
    assert status == {(min(a, b), max(a, b)): "obsolete", (min(a, c), max(a, c)): "pending"}


@pytest.mark.parametrize("set_based_at", [0, 10**9])
def test_many_merges_in_one_call_repoint_records_and_earlier_merges(
        settings: Settings, monkeypatch: pytest.MonkeyPatch, set_based_at: int) -> None:
    # A full re-link merges thousands of persons in one call; on PostgreSQL the updates then
    # go one statement a chunk (0: always) rather than one a row (10**9: never). Either way:
    # every moved record points at its survivor, and a person merged earlier into an
    # absorbed one is re-pointed at the survivor.
    import linkage.store as store
    from linkage.store import MergeGroup, merge_groups

    monkeypatch.setattr(store, "_SET_BASED_AT", set_based_at)
    monkeypatch.setattr(store, "_SET_BASED_CHUNK", 7)  # several chunks
    n = 40
    report = ingest_payload(engine(settings), [person(str(k)) for k in range(3 * n)])
    assert not report.rejections
    with session_scope(engine(settings)) as session:
        rows = session.execute(select(PersonRecordRow.source_id, PersonRecordRow.id,
                                      PersonRecordRow.person_id)).all()
        created = dict(session.execute(select(PersonRow.id, PersonRow.created_at)).all())
    record_of = {int(s): int(r) for s, r, _ in rows}
    person_of = {int(s): str(p) for s, _, p in rows}

    def oldest(*ps: str) -> str:
        return min(ps, key=lambda p: (created[p], p))

    # First: the k-th "x" person (source 2n+k) into the k-th "b" person (n+k).
    with session_scope(engine(settings)) as session:
        first = merge_groups(session, [MergeGroup([person_of[n + k], person_of[2 * n + k]])
                                       for k in range(n)], source="test")
    holder = {k: s for k, (s, _) in enumerate(first)}  # who holds b's and x's records
    gone = {k: next(p for p in (person_of[n + k], person_of[2 * n + k]) if p != holder[k])
            for k in range(n)}
    # Then the k-th "a" person with that holder: one call, n merges.
    with session_scope(engine(settings)) as session:
        second = merge_groups(session, [MergeGroup([person_of[k], holder[k]])
                                        for k in range(n)], source="test")
    assert [s for s, _ in second] == [oldest(person_of[k], holder[k]) for k in range(n)]
    with session_scope(engine(settings)) as session:
        now = dict(session.execute(select(PersonRecordRow.id, PersonRecordRow.person_id)).all())
        into = dict(session.execute(select(PersonRow.id, PersonRow.merged_into)).all())
        events = session.scalar(select(func.count()).select_from(LinkEventRow))
        open_rows = session.execute(select(RecordMembershipRow.record_id,
                                           RecordMembershipRow.person_id)
                                    .where(RecordMembershipRow.valid_to.is_(None))).all()
        outbox = session.execute(select(OutboxRow.entity_id, OutboxRow.created_at,
                                        OutboxRow.attempts)
                                 .where(OutboxRow.entity_type == "person_record",
                                        OutboxRow.processed_at.is_(None))).all()
    # One open membership a moved record, at its survivor; an outbox row for every move.
    assert dict(open_rows) == {r: now[r] for r in {r for r, _ in open_rows}}
    ever_moved = {r for _, moved in [*first, *second] for r in moved}
    assert sorted(r for r, _ in open_rows) == sorted(ever_moved)
    moves = Counter(e for e, _, _ in outbox)
    assert all(at is not None and tries == 0 for _, at, tries in outbox)
    for k, (survivor, moved) in enumerate(second):
        ids = [record_of[k], record_of[n + k], record_of[2 * n + k]]
        assert all(now[r] == survivor for r in ids)
        held = [person_of[k], holder[k], holder[k]]  # after the first call
        assert sorted(moved) == sorted(r for r, h in zip(ids, held, strict=True)
                                       if h != survivor)
        other = holder[k] if survivor == person_of[k] else person_of[k]
        assert into[survivor] is None and into[other] == survivor
        assert into[gone[k]] == survivor  # was merged into the holder: now straight through
        assert all(moves[r] >= 1 for r in moved)
    assert events == 2 * n


def test_a_first_move_records_where_the_record_was_through_merges(settings: Settings) -> None:
    # A record's first membership row says where it had been since it arrived: its person as
    # resolved through merges, even when its row still names a person absorbed before
    # memberships were kept. A record with history gets no second such row.
    from linkage.store import MergeGroup, merge_groups

    a, b, c = ingest(settings, person("1"), person("2", given_names="Ruby"),
                     person("3", given_names="Tom"))  # ingested in order: a oldest
    first = persons(settings, [a, b, c])
    with session_scope(engine(settings)) as session:
        # b's person was absorbed into a's before history was kept: no membership rows.
        session.execute(update(PersonRow).where(PersonRow.id == first[b])
                        .values(merged_into=first[a]))
    with session_scope(engine(settings)) as session:
        assert merge_groups(session, [MergeGroup([first[c], first[a]])], source="test") == [
            (first[a], [c])]
    with session_scope(engine(settings)) as session:
        session.execute(update(PersonRecordRow).where(PersonRecordRow.id == c)
                        .values(person_id=first[c]))  # c's row names its absorbed person
        session.add(PersonRow(id="P-OLDEST", created_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
                              merged_into=None))
        session.flush()
        merge_groups(session, [MergeGroup([first[a], "P-OLDEST"])], source="test")
    with session_scope(engine(settings)) as session:
        rows = session.execute(select(RecordMembershipRow.record_id, RecordMembershipRow.person_id,
                                      RecordMembershipRow.valid_to.is_(None))
                               .order_by(RecordMembershipRow.id)).all()
    by_record: dict[int, list[tuple[str, bool]]] = {}
    for rid, pid, is_open in rows:
        by_record.setdefault(int(rid), []).append((pid, bool(is_open)))
    # a and b had no history: where they were (b's row names its absorbed person, resolved
    # to a's), then the oldest person. c moved twice: its first row is written once.
    assert by_record[a] == [(first[a], False), ("P-OLDEST", True)]
    assert by_record[b] == [(first[a], False), ("P-OLDEST", True)]
    assert by_record[c] == [(first[c], False), (first[a], False), ("P-OLDEST", True)]
