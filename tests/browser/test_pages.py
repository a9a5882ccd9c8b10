"""The web pages in a real browser: the duty worker's, reviewer's and auditor's journeys,
keyboard-only use, axe-core on every page, and screenshots for people to look at."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from schemas.db import engine_for, session_scope
from schemas.settings import Settings
from search_api.access.tables import AuditRow
from tests.browser.support import (
    AXE_RESULTS,
    axe_check,
    find_nickname_child,
    find_restricted_record,
    shot,
    sign_in,
    sign_out,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PURPOSE = "MASH enquiry"


def audit_rows(settings: Settings, event: str) -> list[AuditRow]:
    with session_scope(engine_for(settings.resolved_database_url)) as session:
        rows = list(session.scalars(select(AuditRow).where(AuditRow.event == event)
                                    .order_by(AuditRow.id)))
        session.expunge_all()
        return rows


def focused(page: Any) -> dict[str, Any]:
    info: dict[str, Any] = page.evaluate(
        "() => { const e = document.activeElement; return {tag: e.tagName, id: e.id, "
        "type: e.getAttribute('type'), text: (e.innerText || e.value || '').trim(), "
        "cls: e.className} }")
    return info


def tab_until(page: Any, predicate: Any, limit: int = 40) -> dict[str, Any]:
    for _ in range(limit):
        page.keyboard.press("Tab")
        info = focused(page)
        if predicate(info):
            return info
    raise AssertionError(f"never reached the element by Tab (last: {focused(page)})")


def test_start_redirects_to_sign_in_and_pages_need_a_session(page: Any) -> None:
    page.goto("/")
    assert page.url.endswith("/sign-in")
    shot(page, "00-sign-in")
    axe_check(page, "sign-in")
    # A page asked for without a session answers 401 (as the API does) with the sign-in form,
    # which comes back to that page.
    response = page.goto("/reviews?skip=1")
    assert response is not None and response.status == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert page.locator("input[name=next]").input_value() == "/reviews?skip=1"
    page.locator("input[name=user][value='rory.reviewer']").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert page.url.endswith("/reviews?skip=1")
    assert page.get_by_role("heading", level=1).inner_text() == "Review queue"
    page.context.clear_cookies()
    # A sign-in form without its CSRF token is refused.
    response = page.request.post("/sign-in", form={"user": "dee.duty"})
    assert response.status == 400 and "This form has expired" in response.text()


def test_duty_worker_finds_a_child_by_a_misspelt_nickname_keyboard_only(
        page: Any, web_settings: Settings) -> None:
    child = find_nickname_child(web_settings)
    sign_in(page, "dee.duty")
    assert page.url.endswith("/search")
    assert page.get_by_role("heading", level=1).inner_text() == "Find a child"
    shot(page, "01-search")
    axe_check(page, "search")
    assert not page.console_errors, page.console_errors

    # Keyboard only, from the top of the page: the skip link first, then the name field.
    page.keyboard.press("Tab")
    skip = focused(page)
    assert skip["text"] == "Skip to main content"
    page.keyboard.press("Enter")
    info = tab_until(page, lambda f: f["id"] == "name")
    assert info["tag"] == "INPUT"
    page.keyboard.type(child.query)
    with page.expect_navigation():
        page.keyboard.press("Enter")  # no purpose yet: the error summary, linked to the field
    summary = page.locator(".govuk-error-summary")
    assert summary.is_visible()
    assert page.title().startswith("Error: ")
    assert page.evaluate("document.activeElement.classList.contains('govuk-error-summary')")
    shot(page, "02-search-error")
    axe_check(page, "search-error")
    link = tab_until(page, lambda f: f["tag"] == "A" and "why you are searching" in f["text"])
    assert link["text"] == "Select why you are searching"
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "purpose"
    for _ in range(2):  # the third purpose
        page.keyboard.press("ArrowDown")
    assert page.locator("input[name=purpose]:checked").get_attribute("value") == PURPOSE
    assert page.locator("#name").input_value() == child.query
    tab_until(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "Search")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # Results: one row per child with a grade tag and the reasons it matched.
    assert re.search(r"\d+ child(ren)? found", page.get_by_role("heading", level=1).inner_text())
    card = page.locator(f".govuk-summary-card[data-person-id='{child.person_id}']")
    assert card.count() == 1, f"{child} not among the results"
    tag = card.locator(".govuk-tag").first
    assert tag.inner_text().strip().split("\n")[0] in ("Certain", "Probable", "Possible")
    assert card.get_by_text("Why it matched").is_visible()
    shot(page, "03-results")
    axe_check(page, "results")
    searches = audit_rows(web_settings, "search")
    assert searches[-1].purpose == PURPOSE and child.person_id in (searches[-1].result_ids or [])

    # The child's page: every agency's record, each with why it is linked.
    with page.expect_navigation():
        card.locator(".govuk-summary-card__title a").click()
    assert f"/persons/{child.person_id}" in page.url
    records = page.locator("#records .govuk-summary-card")
    assert records.count() == child.records
    assert page.locator("#records").get_by_text("Why linked").count() == child.records
    assert page.locator("#records .app-evidence__for").count() >= child.records - 1
    shot(page, "04-person")
    axe_check(page, "person")
    page.get_by_role("tab", name=re.compile("Names")).click()
    assert page.locator("#names table").is_visible()
    page.get_by_role("tab", name=re.compile("Notes")).click()
    shot(page, "05-person-notes")
    axe_check(page, "person-notes")
    views = audit_rows(web_settings, "record_view")
    assert views[-1].target == child.person_id and views[-1].purpose == PURPOSE
    assert views[-1].auth == "jwt-cookie"
    assert not page.console_errors, page.console_errors


def test_restricted_record_is_padlocked_until_opened_with_a_reason(
        page: Any, web_settings: Settings) -> None:
    record = find_restricted_record(web_settings)
    sign_in(page, "dee.duty")
    page.fill("#name", f"{record.given_names} {record.family_name}")
    page.locator(f"input[name=purpose][value='{PURPOSE}']").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Search").click()
    card = page.locator(f".govuk-summary-card[data-person-id='{record.person_id}']")
    assert card.count() == 1
    if not card.is_visible():  # among the weaker results, folded away
        page.locator("details summary", has_text="sharing only some").click()
    assert card.locator(".app-restricted").is_visible()
    card.get_by_text("Open with a reason").click()
    card.locator("textarea[name=reason]").fill("too short")
    shot(page, "06-results-restricted")
    axe_check(page, "results-restricted")
    with page.expect_navigation():
        card.get_by_role("button", name="Open restricted records").click()
    assert page.locator(".govuk-error-summary").get_by_text(
        "Enter a reason of at least 10 characters").is_visible()
    axe_check(page, "person-reason-error")
    page.fill("#reason", "Strategy discussion about this child this afternoon")
    with page.expect_navigation():
        page.get_by_role("button", name="Open restricted records").click()
    assert page.get_by_text("You opened restricted records").is_visible()
    assert page.locator("#records .app-padlock").count() == 0
    shot(page, "07-person-opened")
    axe_check(page, "person-opened")
    opened = audit_rows(web_settings, "record_view")[-1]
    assert opened.reason == "Strategy discussion about this child this afternoon"
    assert (opened.detail or {}).get("break_glass") is True


def test_reviewer_confirms_a_pair_and_the_auditor_sees_it(
        page: Any, web_settings: Settings) -> None:
    sign_in(page, "rory.reviewer")
    page.goto("/reviews")
    assert page.get_by_role("heading", level=1).inner_text() == "Review queue"
    for _ in range(20):  # skip pairs with a record restricted to this reviewer
        if page.locator("form[action^='/reviews/']").count():
            break
        with page.expect_navigation():
            page.get_by_role("link", name="Skip this pair").click()
    form = page.locator("form[action^='/reviews/']")
    assert form.count() == 1, "no pair this reviewer may decide"
    review_id = (form.get_attribute("action") or "").rsplit("/", 1)[-1]
    assert page.locator(".app-compare tbody tr").count() >= 3
    shot(page, "08-review")
    axe_check(page, "review")
    with page.expect_navigation():
        page.get_by_role("button", name="Save decision and show the next pair").click()
    summary = page.locator(".govuk-error-summary")
    assert summary.get_by_role("link", name=re.compile("Select whether")).is_visible()
    assert summary.get_by_role("link", name=re.compile("Enter why")).is_visible()
    axe_check(page, "review-error")
    page.get_by_label("Confirm: these are the same child").check()
    page.fill("#reason", "Same date of birth and address; school confirmed the nickname")
    with page.expect_navigation():
        page.get_by_role("button", name="Save decision and show the next pair").click()
    assert page.get_by_text(f"Pair {review_id} confirmed.").is_visible()
    shot(page, "09-review-next")
    axe_check(page, "review-next")
    decision = audit_rows(web_settings, "link_decision")[-1]
    assert decision.target == f"review:{review_id}" and decision.actor == "rory.reviewer"

    # A reviewer is not an auditor: refused, as a page, and audited.
    page.goto("/audit")
    assert page.get_by_role("heading", level=1).inner_text() == "You cannot see this page"
    axe_check(page, "forbidden")
    assert audit_rows(web_settings, "permission_refused")[-1].actor == "rory.reviewer"
    sign_out(page)

    sign_in(page, "audrey.auditor")
    assert page.url.endswith("/audit")
    page.get_by_label("Link decision").check()
    page.fill("#audit-user", "rory.reviewer")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply filters").click()
    rows = page.locator("tbody tr[data-event='link_decision']")
    assert rows.count() >= 1
    assert f"review:{review_id}" in rows.first.inner_text()
    assert "school confirmed the nickname" in rows.first.inner_text()
    shot(page, "10-audit")
    axe_check(page, "audit")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Export these filters as CSV")).click()
    csv_text = Path(download.value.path()).read_text(encoding="utf-8")
    assert csv_text.startswith("id,at,event") and f"review:{review_id}" in csv_text
    assert audit_rows(web_settings, "export")[-1].actor == "audrey.auditor"
    page.goto("/audit?from=not-a-date")
    assert page.locator(".govuk-error-summary a[href='#audit-from']").is_visible()
    axe_check(page, "audit-error")
    assert not page.console_errors, page.console_errors


def test_pages_work_without_javascript(browser: Any, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, "hana.hub")
        page.fill("#name", "smith")
        page.locator(f"input[name=purpose][value='{PURPOSE}']").check()
        with page.expect_navigation():
            page.get_by_role("button", name="Search").click()
        assert re.search(r"found", page.get_by_role("heading", level=1).inner_text())
        shot(page, "11-results-no-js")
    finally:
        context.close()


def test_axe_summary() -> None:
    """Runs last: every page checked above had no serious or critical violation."""
    if not AXE_RESULTS:
        pytest.skip("no page was checked (the browser tests above were skipped)")
    print("axe-core violations by impact, per page:", AXE_RESULTS)
