"""Turning scored pairs into identity clusters, with the safety rules and human constraints.

Pure: nodes are any hashable ids (record ids in production, row indexes in the evaluation),
so the SQL linker and the in-memory evaluation use the same code.

Rules, applied in this order:
0. the current identities stay whole (the machine never splits; a person does, by unlinking);
1. must-link constraints are unions next (a person said so);
2. edges are taken strongest first. An edge at or above the auto threshold links its two
   clusters unless
   - a cannot-link constraint joins any record of one cluster to any record of the other
     (refused: no chain of links may join records a person said are different),
   - the pair carries a safety flag (conflicting valid identifiers, possible twins), or the
     link would bring together, through other records, a pair that carries one, or
   - the joined cluster would be larger than the cluster cap;
   the last two go to human review instead;
3. edges between the review and auto thresholds go to review (unless already together);
   below the review threshold nothing happens.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["ClusterPlan", "Decision", "ScoredEdge", "plan_clusters"]

N = TypeVar("N", bound=Hashable)


@dataclass(frozen=True, slots=True)
class ScoredEdge(Generic[N]):
    a: N
    b: N
    probability: float
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision(Generic[N]):
    edge: ScoredEdge[N]
    outcome: str  # linked | review | refused | ignored | already_linked
    reason: str


@dataclass
class ClusterPlan(Generic[N]):
    clusters: list[set[N]]
    decisions: list[Decision[N]] = field(default_factory=list)

    @property
    def review(self) -> list[Decision[N]]:
        return [d for d in self.decisions if d.outcome == "review"]

    @property
    def refused(self) -> list[Decision[N]]:
        return [d for d in self.decisions if d.outcome == "refused"]

    def cluster_of(self) -> dict[N, int]:
        return {n: i for i, c in enumerate(self.clusters) for n in c}


class _UnionFind(Generic[N]):
    def __init__(self, nodes: Iterable[N]) -> None:
        self.parent: dict[N, N] = {n: n for n in nodes}
        self.members: dict[N, set[N]] = {n: {n} for n in self.parent}
        self.cannot: dict[N, set[N]] = {n: set() for n in self.parent}
        self.soft: dict[N, set[N]] = {n: set() for n in self.parent}

    def add(self, n: N) -> None:
        if n not in self.parent:
            self.parent[n] = n
            self.members[n] = {n}
            self.cannot[n] = set()
            self.soft[n] = set()

    def find(self, n: N) -> N:
        root = n
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[n] != root:
            self.parent[n], n = root, self.parent[n]
        return root

    def blocked(self, ra: N, rb: N) -> bool:
        return self._blocked(self.cannot, ra, rb)

    def flagged(self, ra: N, rb: N) -> bool:
        return self._blocked(self.soft, ra, rb)

    def _blocked(self, table: dict[N, set[N]], ra: N, rb: N) -> bool:
        small, big = (ra, rb) if len(table[ra]) <= len(table[rb]) else (rb, ra)
        return any(self.find(x) == big for x in table[small])

    def union(self, ra: N, rb: N) -> N:
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] |= self.members.pop(rb)
        self.cannot[ra] |= self.cannot.pop(rb)
        self.soft[ra] |= self.soft.pop(rb)
        return ra


def plan_clusters(
    nodes: Iterable[N],
    edges: Sequence[ScoredEdge[N]],
    *,
    auto_threshold: float,
    review_threshold: float,
    cluster_cap: int,
    must_link: Iterable[tuple[N, N]] = (),
    cannot_link: Iterable[tuple[N, N]] = (),
    existing: Iterable[Iterable[N]] = (),
    flagged_pairs: Iterable[tuple[N, N]] = (),
) -> ClusterPlan[N]:
    """existing: the current identities; they are kept whole (only a person splits one).
    flagged_pairs: pairs with a safety flag (conflicting identifiers, possible twins) that
    automatic links must not bring together, directly or through other records. Edges that
    carry flags are added to them."""
    uf: _UnionFind[N] = _UnionFind(nodes)
    for group in existing:
        members = list(group)
        for n in members:
            uf.add(n)
        for other in members[1:]:
            ra, rb = uf.find(members[0]), uf.find(other)
            if ra != rb:
                uf.union(ra, rb)
    cannot = list(cannot_link)
    for a, b in cannot:
        uf.add(a)
        uf.add(b)
        uf.cannot[uf.find(a)].add(b)
        uf.cannot[uf.find(b)].add(a)
    soft_pairs = [*flagged_pairs, *((e.a, e.b) for e in edges if e.flags)]
    for a, b in soft_pairs:
        uf.add(a)
        uf.add(b)
        uf.soft[uf.find(a)].add(b)
        uf.soft[uf.find(b)].add(a)
    decisions: list[Decision[N]] = []
    for a, b in must_link:
        uf.add(a)
        uf.add(b)
        ra, rb = uf.find(a), uf.find(b)
        if ra != rb:
            if uf.blocked(ra, rb):
                # Contradictory human decisions: keep them apart and surface it.
                decisions.append(Decision(ScoredEdge(a, b, 1.0), "refused",
                                          "must-link contradicts a cannot-link decision"))
                continue
            uf.union(ra, rb)
    for e in sorted(edges, key=lambda e: -e.probability):
        uf.add(e.a)
        uf.add(e.b)
        if e.probability < review_threshold:
            continue
        ra, rb = uf.find(e.a), uf.find(e.b)
        if ra == rb:
            continue
        if uf.blocked(ra, rb):
            decisions.append(Decision(e, "refused", "a cannot-link decision separates these "
                                      "records (directly or through their clusters)"))
            continue
        if e.probability < auto_threshold:
            decisions.append(Decision(e, "review", "between the review and auto-link "
                                      "thresholds"))
            continue
        if e.flags:
            decisions.append(Decision(e, "review", "safety rule: " + ", ".join(e.flags)))
            continue
        if uf.flagged(ra, rb):
            decisions.append(Decision(e, "review", "safety rule: the link would join, through "
                                      "other records, records flagged as possible twins or "
                                      "with conflicting identifiers"))
            continue
        if len(uf.members[ra]) + len(uf.members[rb]) > cluster_cap:
            decisions.append(Decision(e, "review", f"the joined identity would hold more than "
                                      f"{cluster_cap} records"))
            continue
        uf.union(ra, rb)
        decisions.append(Decision(e, "linked", "above the auto-link threshold"))
    clusters = [set(m) for m in uf.members.values()]
    return ClusterPlan(clusters, decisions)
