"""Helpers for the browser tests: axe-core, screenshots, sign-in, and finding demo children."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from linkage.store import current_persons
from schemas.db import engine_for, session_scope
from schemas.settings import Settings
from schemas.tables import PersonRecordRow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
# The synthetic data set: small enough to load in well under a minute.
PEOPLE = 150
SEED = 7
BLOCKING_IMPACTS = ("serious", "critical")
AXE_RESULTS: dict[str, dict[str, int]] = {}


def axe_check(page: Any, name: str) -> dict[str, int]:
    """Run axe-core (the copy shipped by axe-playwright-python) on the page; fail on any serious
    or critical violation. Injected with ``evaluate`` so the page's CSP stays in force."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"resultTypes": ["violations"]})
    violations: list[dict[str, Any]] = results.response["violations"]
    out = ARTIFACTS / "axe"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(violations, indent=2))
    counts = Counter(str(v.get("impact")) for v in violations)
    AXE_RESULTS[name] = dict(counts)
    blocking = [v for v in violations if v.get("impact") in BLOCKING_IMPACTS]
    assert not blocking, f"axe on {name}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at "
        f"{[n['target'] for n in v['nodes']][:3]}" for v in blocking)
    return dict(counts)


def shot(page: Any, name: str) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, username: str) -> None:
    page.goto("/sign-in")
    page.locator(f"input[name=user][value='{username}']").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def sign_out(page: Any) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert "/sign-in" in page.url


@dataclass(frozen=True)
class DemoChild:
    person_id: str
    nickname: str
    formal: str
    family_name: str
    query: str
    records: int


def misspell(name: str) -> str:
    """A plausible misspelling: a doubled letter typed once, else 'ie'/'y' swapped."""
    lower = name.lower()
    for i in range(1, len(lower)):
        if lower[i] == lower[i - 1] and lower[i].isalpha():
            return lower[:i] + lower[i + 1:]
    if lower.endswith("ie"):
        return lower[:-2] + "y"
    if lower.endswith("y"):
        return lower[:-1] + "ie"
    return lower[:-1] + lower[-1] * 2


def _first(given: str | None) -> str:
    return (given or "").split()[0] if given else ""


def find_nickname_child(settings: Settings) -> DemoChild:
    """A demo child (under 18) known to one agency by a nickname of the name the others use,
    with all their records linked into one identity; the query is the nickname, misspelt,
    with the surname."""
    from nicknames import NickNamer

    nicknamer = NickNamer()
    truth = list(csv.DictReader((settings.data_dir / "demo" / "truth.csv").open()))
    by_person: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in truth:
        if row["planted_invalid"] == "0":
            by_person[row["person_key"]].append(row)
    born_after = dt.date(2026 - 17, 1, 1)
    with session_scope(engine_for(settings.resolved_database_url)) as session:
        for key in sorted(by_person):
            rows = by_person[key]
            if len(rows) < 2 or not any("nickname" in r["notes"] for r in rows):
                continue
            records = [session.scalars(select(PersonRecordRow).where(
                PersonRecordRow.agency_code == r["agency"],
                PersonRecordRow.source_id == r["source_id"])).one_or_none() for r in rows]
            found = [r for r in records if r is not None]
            if (len(found) != len(rows) or any(r.sensitivity != "normal" for r in found)
                    or len({r.person_id for r in found}) != 1):
                continue
            if any(r.date_of_birth is None or r.date_of_birth < born_after for r in found):
                continue
            firsts = Counter(_first(r.given_names) for r in found if r.given_names)
            if len(firsts) < 2:
                continue
            formal = firsts.most_common(1)[0][0]
            nicks = {n.lower() for n in nicknamer.nicknames_of(formal.lower())}
            for given in firsts:
                if given.lower() in nicks and len(given) >= 4:
                    family = found[0].family_name or ""
                    if not family or any(r.family_name != family for r in found):
                        break
                    person_id = current_persons(session, [found[0].id])[found[0].id]
                    return DemoChild(person_id=person_id, nickname=given,
                                     formal=formal, family_name=family,
                                     query=f"{misspell(given)} {family.lower()}",
                                     records=len(found))
    raise AssertionError("no demo child with a nickname found in the synthetic data")


@dataclass(frozen=True)
class RestrictedRecord:
    person_id: str
    given_names: str
    family_name: str


def find_restricted_record(settings: Settings) -> RestrictedRecord:
    """A restricted record (a duty worker sees it padlocked) and its identity."""
    with session_scope(engine_for(settings.resolved_database_url)) as session:
        row = session.scalars(select(PersonRecordRow).where(
            PersonRecordRow.sensitivity == "restricted",
            PersonRecordRow.given_names.is_not(None),
            PersonRecordRow.family_name.is_not(None))
            .order_by(PersonRecordRow.id)).first()
        assert row is not None, "the synthetic data has no restricted record"
        return RestrictedRecord(person_id=current_persons(session, [row.id])[row.id],
                                given_names=str(row.given_names),
                                family_name=str(row.family_name))
