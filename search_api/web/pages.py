"""The web pages: sign in, search, a child's page, the review queue and the audit log.

Every page calls the same functions the JSON API routes are (``search_api.routers.search``,
``persons``, ``reviews``, ``audit``), so searching, access filtering and auditing happen in
exactly one place; this module only reads forms and renders templates. Roles are checked with
the same role sets (``search_api.access.policy``) before a function is called.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from pydantic import ValidationError
from sqlalchemy import select
from starlette.datastructures import FormData

from analyzers.identifiers import IdentifierType
from schemas.db import session_scope
from schemas.tables import AgencyRow
from search_api.access.dependencies import get_access
from search_api.access.policy import (
    AUDIT_ROLES,
    REVIEW_ROLES,
    SEARCH_ROLES,
    can_search,
    validate_reason,
)
from search_api.access.principal import Principal
from search_api.access.routes import public
from search_api.access.tokens import principal_from_claims
from search_api.audit.log import AuditEvent, append_committed, client_ip
from search_api.deps import get_state
from search_api.search.models import SearchRequest, SearchResponse
from search_api.search.rescore import params_for
from search_api.state import AppState
from search_api.web.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    PageError,
    SignInRequired,
    checked_form,
    clear_session,
    csrf_token,
    page_principal,
    page_roles,
    principal_from_cookie,
    safe_next,
    set_cookie,
)
from search_api.web.linked import explain_pair, why_linked

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"

router = APIRouter(include_in_schema=False, tags=["web pages"])
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

State = Annotated[AppState, Depends(get_state)]
Form = Annotated[FormData, Depends(checked_form)]
Searcher = Annotated[Principal, Depends(page_roles(*SEARCH_ROLES))]
Reviewer = Annotated[Principal, Depends(page_roles(*REVIEW_ROLES))]
Auditor = Annotated[Principal, Depends(page_roles(*AUDIT_ROLES))]
Anyone = Annotated[Principal, Depends(page_principal)]

UK = ZoneInfo("Europe/London")
ROLE_LABELS = {
    "duty_worker": "duty social worker", "hub_analyst": "safeguarding hub analyst",
    "reviewer": "linkage reviewer", "records_admin": "records administrator",
    "auditor": "auditor", "service": "application",
}
GRADE_TAGS = {"certain": "govuk-tag--green", "probable": "govuk-tag--blue",
              "possible": "govuk-tag--yellow", "certainly_not": "govuk-tag--grey"}
GRADE_LABELS = {"certain": "Certain", "probable": "Probable", "possible": "Possible",
                "certainly_not": "Not a match"}
IDENTIFIER_LABELS = {
    "nhs_number": "NHS number", "upn": "Unique pupil number (UPN)", "former_upn": "Former UPN",
    "ni_number": "National Insurance number", "local_child_id": "Local child ID",
    "police_id": "Police ID", "case_number": "Case number", "other": "Other identifier",
}
EVENT_LABELS = {"apikey_created": "API key created", "apikey_revoked": "API key revoked",
                "sign_in": "Sign-in", "sign_in_failure": "Failed sign-in"}
DECISIONS = {
    "confirm": ("Confirm: these are the same child", "The records will be linked."),
    "reject": ("Reject: these are different children",
               "The records will never be linked automatically."),
    "unsure": ("Unsure", "The pair leaves the queue and is kept as undecided."),
}
_PERSON_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


# Demo people for the development issuer (embedded quick start only).
DEMO_USERS: tuple[dict[str, Any], ...] = (
    {"username": "dee.duty", "name": "Dee Duty", "role": "duty_worker", "agencies": None,
     "hint": "Searches and views children; restricted records are padlocked until you "
             "give a reason."},
    {"username": "hana.hub", "name": "Hana Hub", "role": "hub_analyst", "agencies": None,
     "hint": "Works in the multi-agency safeguarding hub. Sees restricted records in "
             "full."},
    {"username": "rory.reviewer", "name": "Rory Reviewer", "role": "reviewer",
     "agencies": None, "hint": "Decides the pairs in the review queue; can also search."},
    {"username": "ada.admin", "name": "Ada Admin", "role": "records_admin", "agencies": None,
     "hint": "Sees sealed records too, and decides review pairs."},
    {"username": "audrey.auditor", "name": "Audrey Auditor", "role": "auditor",
     "agencies": None, "hint": "Reads and exports the audit log only; cannot search."},
    {"username": "sam.school", "name": "Sam School", "role": "duty_worker",
     "agencies": ["EDU"], "hint": "A school's safeguarding lead: sees education records only."},
)


# Formatting ---------------------------------------------------------------------------------

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


def fmt_date(value: Any) -> str:
    """'2015-04-03' -> '3 April 2015'; '2015-04' -> 'April 2015'; '2015' -> '2015'."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        return fmt_datetime(value)
    if isinstance(value, dt.date):
        return f"{value.day} {MONTHS[value.month - 1]} {value.year}"
    text = str(value)
    m = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$", text)
    if not m:
        return text
    year, month, day = m.groups()
    if month is None:
        return year
    if day is None:
        return f"{MONTHS[int(month) - 1]} {year}"
    return f"{int(day)} {MONTHS[int(month) - 1]} {year}"


def fmt_datetime(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if not isinstance(value, dt.datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    local = value.astimezone(UK)
    hour = local.hour % 12 or 12
    return (f"{local.day} {MONTHS[local.month - 1][:3]} {local.year}, "
            f"{hour}:{local.minute:02d}{'am' if local.hour < 12 else 'pm'}")


def fmt_percent(value: Any) -> str:
    if value is None:
        return ""
    pct = float(value) * 100
    if pct > 99.99:
        return "over 99.99%"
    if pct < 0.01:
        return "under 0.01%"
    if pct >= 99.95 or pct <= 0.05:
        return f"{pct:.2f}%"
    return f"{pct:.1f}%"


def highlight(text: str) -> Markup:
    """An OpenSearch highlight (HTML-encoded, words found in <mark>) made safe again."""
    parts = re.split(r"(</?mark>)", text)
    out: list[str] = []
    for part in parts:
        if part in ("<mark>", "</mark>"):
            out.append(part)
        else:
            out.append(str(escape(html.unescape(part))))
    return Markup("".join(out))


def full_name(given: str | None, family: str | None) -> str:
    return " ".join(p for p in (given, family) if p) or "Name not recorded"


def label(value: Any) -> str:
    return str(value or "").replace("_", " ").capitalize()


FIELD_LABELS = {"uprn": "UPRN", "dob": "Date of birth", "nhs_number": "NHS number",
                "upn": "UPN", "ni_number": "National Insurance number"}


def field_label(value: Any) -> str:
    return FIELD_LABELS.get(str(value), label(value))


def role_text(principal: Principal) -> str:
    roles = ", ".join(ROLE_LABELS.get(str(r), str(r)) for r in sorted(principal.roles))
    if principal.agencies is not None:
        scope = ", ".join(sorted(principal.agencies)) or "no agencies"
        return f"{roles or 'no role'}; {scope} records only"
    return roles or "no role"


templates.env.filters.update(date=fmt_date, datetime=fmt_datetime, percent=fmt_percent,
                             highlight=highlight, label=label,
                             field_label=field_label)
templates.env.globals.update(GRADE_TAGS=GRADE_TAGS, GRADE_LABELS=GRADE_LABELS,
                             IDENTIFIER_LABELS=IDENTIFIER_LABELS, ROLE_LABELS=ROLE_LABELS,
                             full_name=full_name, role_text=role_text)


# Rendering ----------------------------------------------------------------------------------

def nav_items(principal: Principal | None, current: str) -> list[dict[str, Any]]:
    if principal is None:
        return []
    items: list[dict[str, str]] = []
    if can_search(principal):
        items.append({"href": "/search", "text": "Search", "key": "search"})
    if principal.has_any_role(*REVIEW_ROLES):
        items.append({"href": "/reviews", "text": "Review queue", "key": "reviews"})
    if principal.has_any_role(*AUDIT_ROLES):
        items.append({"href": "/audit", "text": "Audit log", "key": "audit"})
    return [{**item, "active": item["key"] == current} for item in items]


def render(request: Request, template: str, context: dict[str, Any], *,
           status: int = 200, current: str = "", session: str | None = None) -> HTMLResponse:
    principal = context.get("principal")
    if principal is None:
        found = getattr(request.state, "principal", None)
        principal = found if isinstance(found, Principal) else None
    settings = request.app.state.casesearch.settings
    ctx = {
        "principal": principal,
        "nav": nav_items(principal, current),
        "csrf_token": csrf_token(request, session),
        "demo": settings.dev_issuer_enabled,
        "errors": [],
        "values": {},
        **context,
    }
    ctx["principal"] = principal
    response = templates.TemplateResponse(request, template, ctx, status_code=status)
    new_secret = getattr(request.state, "new_csrf_secret", None)
    if isinstance(new_secret, str):
        set_cookie(response, request, CSRF_COOKIE, new_secret)
    return response


def error_list(errors: dict[str, str]) -> list[dict[str, str]]:
    return [{"href": f"#{field}", "text": message} for field, message in errors.items()]


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# Errors shown as pages -------------------------------------------------------------------------

async def sign_in_required_handler(request: Request, exc: Exception) -> Response:
    """No valid session: 401 (like the API), with the sign-in form as the page, so a browser
    signs in right here and comes back to where it was going."""
    assert isinstance(exc, SignInRequired)
    response = render(request, "sign_in.html", {
        "title": "Sign in", "users": DEMO_USERS, "next": safe_next(exc.next_path),
        "ended": bool(exc.message), "issuer": get_access(request).dev_issuer is not None,
        "principal": None}, status=401, session="")
    response.headers["WWW-Authenticate"] = "Bearer"
    if exc.clear:
        clear_session(response, request)
    return response


async def page_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    response = render(request, "error.html", {"title": exc.title, "message": exc.message},
                      status=exc.status)
    for key, value in exc.headers.items():
        response.headers[key] = value
    return response


# Start and sign in --------------------------------------------------------------------------

@router.get("/", dependencies=[Depends(public)])
def home(request: Request) -> Response:
    """Signed in: the search page (the audit log for auditors). Otherwise: sign in."""
    principal = principal_from_cookie(request)
    if principal is None:
        return see_other("/sign-in")
    if can_search(principal):
        return see_other("/search")
    if principal.has_any_role(*AUDIT_ROLES):
        return see_other("/audit")
    return see_other("/search")


@router.get("/sign-in", dependencies=[Depends(public)])
def sign_in_page(request: Request, next: str | None = None, ended: str | None = None,
                 signed_out: str | None = None) -> HTMLResponse:
    return render(request, "sign_in.html", {
        "title": "Sign in", "users": DEMO_USERS, "next": safe_next(next),
        "ended": bool(ended), "signed_out": bool(signed_out),
        "issuer": get_access(request).dev_issuer is not None,
        "principal": principal_from_cookie(request)})


@router.post("/sign-in", dependencies=[Depends(public)])
async def sign_in(request: Request, form: Form) -> Response:
    dev = get_access(request).dev_issuer
    if dev is None:
        raise PageError(404, "Page not found", "The development sign-in is not available.")
    chosen = next((u for u in DEMO_USERS if u["username"] == form.get("user")), None)
    next_path = safe_next(str(form.get("next") or "/"))
    if chosen is None:
        errors = {"user": "Select who you want to sign in as"}
        return render(request, "sign_in.html", {
            "title": "Sign in", "users": DEMO_USERS, "next": next_path,
            "issuer": True, "errors": error_list(errors), "field_errors": errors},
            status=422)
    token, lifetime = dev.sign(chosen["username"], [chosen["role"]], chosen["agencies"],
                               chosen["name"])
    claims = get_access(request).validator.validate(token)
    principal = principal_from_claims(claims, get_access(request).sealed_roles)
    await run_in_threadpool(
        append_committed, request.app.state.casesearch.engine, event=AuditEvent.sign_in,
        principal=principal, client_ip=client_ip(request),
        detail={"issuer": "development", "via": "web"})
    if next_path == "/" or next_path.startswith("/sign-in"):
        next_path = "/"
    response = see_other(next_path)
    set_cookie(response, request, SESSION_COOKIE, token, max_age=lifetime)
    # A fresh CSRF key with every session.
    set_cookie(response, request, CSRF_COOKIE, secrets.token_urlsafe(32))
    return response


@router.post("/sign-out")
def sign_out(request: Request, principal: Anyone, form: Form) -> Response:
    response = see_other("/sign-in?signed_out=1")
    clear_session(response, request)
    return response


# Search ---------------------------------------------------------------------------------------

def _agencies(state: AppState, principal: Principal) -> list[dict[str, str]]:
    with session_scope(state.engine) as session:
        rows = list(session.scalars(select(AgencyRow).order_by(AgencyRow.name)))
        return [{"code": r.code, "name": r.name} for r in rows if principal.in_scope(r.code)]


def _search_context(state: AppState, principal: Principal, values: dict[str, Any]
                    ) -> dict[str, Any]:
    return {"title": "Find a child", "values": values,
            "purposes": state.settings.purposes,
            "agencies": _agencies(state, principal),
            "identifier_types": [(t.value, IDENTIFIER_LABELS.get(t.value, t.value))
                                 for t in IdentifierType]}


SEARCH_FIELD_IDS = {"text": "name", "given_name": "name", "family_name": "name",
                    "dob": "dob", "postcode": "postcode", "identifier": "identifier",
                    "agencies": "agency", "purpose": "purpose", "cursor": "name",
                    "page": "name"}
SEARCH_MESSAGES = {
    "name": "Enter a name, date of birth, postcode or identifier",
    "dob": "Enter a date of birth like 27/3/2015, 3/2015 or 2015, or years like 2014-2016",
    "postcode": "Enter a postcode, sector or district, like LS9 7AB, LS9 7 or LS9",
    "identifier": "Enter the identifier, up to 64 characters",
    "agency": "Select agencies from the list",
    "purpose": "Select why you are searching",
}


def _search_values(form: FormData) -> dict[str, Any]:
    def text(key: str) -> str:
        value = form.get(key)
        return value.strip() if isinstance(value, str) else ""

    return {"name": text("name"), "dob": text("dob"), "postcode": text("postcode"),
            "identifier_type": text("identifier_type"), "identifier": text("identifier"),
            "agency": [a for a in form.getlist("agency") if isinstance(a, str)],
            "purpose": text("purpose"), "cursor": text("cursor"), "page": text("page")}


def _search_request(values: dict[str, Any], purposes: list[str]
                    ) -> tuple[SearchRequest | None, dict[str, str]]:
    errors: dict[str, str] = {}
    if values["purpose"] not in purposes:
        errors["purpose"] = SEARCH_MESSAGES["purpose"]
    body: dict[str, Any] = {"purpose": values["purpose"] or "-"}
    if values["name"]:
        body["text"] = values["name"]
    for key in ("dob", "postcode"):
        if values[key]:
            body[key] = values[key]
    if values["identifier"]:
        body["identifier"] = {"value": values["identifier"],
                              "type": values["identifier_type"] or None}
    if values["agency"]:
        body["agencies"] = values["agency"]
    if values["cursor"]:
        body["cursor"] = values["cursor"]
    if values["page"].isdigit():
        body["page"] = int(values["page"])
    try:
        request = SearchRequest.model_validate(body)
    except ValidationError as exc:
        for err in exc.errors():
            loc = [str(x) for x in err.get("loc", ())]
            msg = str(err.get("msg", ""))
            key = loc[0] if loc else msg.removeprefix("Value error, ").split(":", 1)[0]
            field = SEARCH_FIELD_IDS.get(key, "name")
            errors.setdefault(field, SEARCH_MESSAGES[field])
        return None, errors
    return (request, errors) if not errors else (None, errors)


@router.get("/search")
def search_page(request: Request, principal: Searcher, state: State) -> HTMLResponse:
    return render(request, "search.html", {
        **_search_context(state, principal, {"agency": []}), "principal": principal},
        current="search")


@router.post("/search")
def search_results(request: Request, principal: Searcher, state: State,
                   form: Form) -> HTMLResponse:
    from search_api.routers import search as search_routes

    values = _search_values(form)
    body, errors = _search_request(values, state.settings.purposes)
    response: SearchResponse | None = None
    if body is not None:
        try:
            response = search_routes.search(request, principal, state, body)
        except HTTPException as exc:
            if exc.status_code == 503:
                raise PageError(503, "Sorry, search is not working right now",
                                "The search engine is not answering. Try again in a few "
                                "minutes. Your search was recorded.") from exc
            detail: list[Any] = exc.detail if isinstance(exc.detail, list) else []
            for item in detail:
                loc = [str(x) for x in item.get("loc", [])] if isinstance(item, dict) else []
                field = SEARCH_FIELD_IDS.get(loc[-1] if loc else "", "name")
                errors.setdefault(field, SEARCH_MESSAGES[field])
            if not errors:
                errors["name"] = SEARCH_MESSAGES["name"]
    context = _search_context(state, principal, values)
    errors = {k: errors[k] for k in SEARCH_MESSAGES if k in errors}  # in page order
    context.update({"principal": principal, "results": response,
                    "errors": error_list(errors), "field_errors": errors})
    if response is not None:
        context["title"] = "Search results"
    return render(request, "search.html", context, status=422 if errors else 200,
                  current="search")


# A child ------------------------------------------------------------------------------------

def _person(request: Request, principal: Principal, state: AppState, person_id: str,
            purpose: str | None, reason: str | None, errors: dict[str, str] | None = None,
            values: dict[str, Any] | None = None) -> HTMLResponse:
    from search_api.routers import persons as person_routes

    if not _PERSON_ID.match(person_id):
        raise PageError(404, "Page not found", "There is no child with this reference.")
    if purpose not in state.settings.purposes:
        purpose = None
    try:
        view = person_routes.get_person(request=request, principal=principal, state=state,
                                        person_id=person_id, purpose=purpose, reason=reason)
    except HTTPException as exc:
        if exc.status_code == 404:
            raise PageError(404, "Child not found",
                            "There is no child with this reference, or nothing about them "
                            "that you may see.") from exc
        raise PageError(exc.status_code, "Sorry, there is a problem",
                        "This page could not be shown.") from exc
    with session_scope(state.engine) as session:
        why = why_linked(session, view, params_for(state.settings.data_dir))
    shown = next((r for r in view.records if not r.restricted), view.records[0])
    return render(request, "person.html", {
        "principal": principal, "title": full_name(shown.given_names, shown.family_name),
        "view": view, "why": why, "purpose": purpose, "opened": reason is not None,
        "restricted": [r for r in view.records if r.restricted],
        "agency_names": {r.agency: (r.agency_name or r.agency) for r in view.records},
        "errors": error_list(errors or {}), "field_errors": errors or {},
        "values": values or {}}, status=422 if errors else 200, current="search")


@router.get("/persons/{person_id}")
def person_page(request: Request, principal: Searcher, state: State, person_id: str,
                purpose: str | None = None) -> HTMLResponse:
    return _person(request, principal, state, person_id, purpose, None)


@router.post("/persons/{person_id}/open")
def open_restricted(request: Request, principal: Searcher, state: State, person_id: str,
                    form: Form) -> HTMLResponse:
    """Open padlocked records with a stated reason (break-glass); audited with the view."""
    raw = form.get("reason")
    text = raw if isinstance(raw, str) else ""
    purpose = form.get("purpose")
    purpose = purpose if isinstance(purpose, str) else None
    try:
        reason = validate_reason(text)
    except HTTPException:
        message = ("Enter a reason of at least 10 characters" if len(text.strip()) < 10
                   else "Reason must be 1,000 characters or fewer")
        return _person(request, principal, state, person_id, purpose, None,
                       errors={"reason": message}, values={"reason": text})
    return _person(request, principal, state, person_id, purpose, reason)


# Review queue ---------------------------------------------------------------------------------

MAX_SKIP_TRIES = 5


def _review_page(request: Request, principal: Principal, state: AppState, skip: int, *,
                 errors: dict[str, str] | None = None, values: dict[str, Any] | None = None,
                 decided: dict[str, str] | None = None) -> HTMLResponse:
    from search_api.routers import reviews as review_routes

    offset = max(0, skip)
    listed = review_routes.list_reviews(request=request, principal=principal, state=state,
                                        status="pending", limit=1, offset=offset)
    tries = 1
    # A pair with a record this reviewer may not see is left out; look a little further.
    while not listed.reviews and offset + 1 < listed.total and tries < MAX_SKIP_TRIES:
        offset += 1
        tries += 1
        listed = review_routes.list_reviews(request=request, principal=principal,
                                            state=state, status="pending", limit=1,
                                            offset=offset)
    pair = listed.reviews[0] if listed.reviews else None
    rows: list[dict[str, Any]] = []
    explanation: list[dict[str, Any]] = []
    computed = False
    if pair is not None:
        rows = _comparison_rows(pair.records[0].detail, pair.records[1].detail)
        explanation = list(pair.explanation or [])
        restricted = any(r.restricted for r in pair.records)
        if not explanation and not restricted:
            # Queued by a safety rule, without a score: explain it with the same model.
            with session_scope(state.engine) as session:
                explanation = explain_pair(session, int(pair.records[0].record_id),
                                           int(pair.records[1].record_id),
                                           params_for(state.settings.data_dir))
            computed = True
    return render(request, "reviews.html", {
        "principal": principal, "title": "Review queue", "pair": pair, "rows": rows,
        "explanation": explanation, "computed": computed,
        "total": listed.total, "position": offset, "decisions": DECISIONS,
        "decided": decided, "errors": error_list(errors or {}),
        "field_errors": errors or {}, "values": values or {}},
        status=422 if errors else 200, current="reviews")


def _names(detail: dict[str, Any]) -> list[str]:
    out = []
    for n in detail.get("names") or []:
        if isinstance(n, dict):
            text = full_name(n.get("given_names"), n.get("family_name"))
            out.append(f"{text} ({label(n.get('type'))})" if n.get("type") else text)
    return out


def _identifiers(detail: dict[str, Any]) -> list[str]:
    out = []
    for i in detail.get("identifiers") or []:
        if isinstance(i, dict):
            kind = IDENTIFIER_LABELS.get(str(i.get("type")), label(i.get("type")))
            bad = "" if i.get("valid", True) else " (fails its check)"
            out.append(f"{kind}: {i.get('value')}{bad}")
    return out


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)]


def _comparison_rows(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    def dob(d: dict[str, Any]) -> list[str]:
        value = d.get("dob") or d.get("date_of_birth")
        if not value:
            return []
        precision = d.get("dob_precision")
        text = str(value)
        text = {"year": text[:4], "month": text[:7]}.get(str(precision), text)
        shown = fmt_date(text)
        return [shown + (" (estimated)" if d.get("dob_estimated") else "")]

    fields = [
        ("Agency", lambda d: _as_list(d.get("agency"))),
        ("Source record", lambda d: _as_list(
            " ".join(str(x) for x in (d.get("source_system"), d.get("source_id")) if x))),
        ("Given names", lambda d: _as_list(d.get("given_names"))),
        ("Family name", lambda d: _as_list(d.get("family_name"))),
        ("Other names", _names),
        ("Date of birth", dob),
        ("Gender", lambda d: _as_list(label(d.get("gender")) if d.get("gender") else None)),
        ("Postcodes", lambda d: _as_list(d.get("postcodes"))),
        ("Address", lambda d: _as_list(d.get("address_text"))),
        ("Identifiers", _identifiers),
        ("Date of death", lambda d: [fmt_date(x) for x in _as_list(d.get("date_of_death"))]),
    ]
    rows = []
    for title, get in fields:
        left, right = get(a), get(b)
        if not left and not right:
            continue
        rows.append({"field": title, "a": left, "b": right,
                     "same": bool(left) and [x.casefold() for x in left]
                     == [x.casefold() for x in right]})
    return rows


@router.get("/reviews")
def reviews_page(request: Request, principal: Reviewer, state: State, skip: int = 0,
                 decided: int | None = None, outcome: str | None = None) -> HTMLResponse:
    done = None
    if decided is not None and outcome in ("confirmed", "rejected", "unsure"):
        done = {"id": str(decided), "outcome": outcome}
    return _review_page(request, principal, state, min(max(skip, 0), 100_000), decided=done)


@router.post("/reviews/{review_id}")
def decide_pair(request: Request, principal: Reviewer, state: State, review_id: int,
                form: Form) -> Response:
    from search_api.routers import reviews as review_routes

    decision = form.get("decision")
    raw = form.get("reason")
    text = raw if isinstance(raw, str) else ""
    skip_raw = form.get("skip")
    skip = int(skip_raw) if isinstance(skip_raw, str) and skip_raw.isdigit() else 0
    errors: dict[str, str] = {}
    if decision not in DECISIONS:
        errors["decision"] = "Select whether these records are the same child"
    try:
        reason = validate_reason(text)
    except HTTPException:
        reason = ""
        errors["reason"] = ("Enter why you decided this, in at least 10 characters"
                            if len(text.strip()) < 10
                            else "Reason must be 1,000 characters or fewer")
    values = {"decision": decision, "reason": text}
    if errors:
        return _review_page(request, principal, state, skip, errors=errors, values=values)
    body = review_routes.DecisionIn(decision=str(decision), reason=reason)  # type: ignore[arg-type]
    try:
        result = review_routes.decide(request=request, principal=principal, state=state,
                                      review_id=review_id, body=body)
    except HTTPException as exc:
        if exc.status_code == 404:
            raise PageError(404, "Pair not found",
                            "This pair is not in the queue, or you may not see it.") from exc
        if exc.status_code == 409:
            return _review_page(request, principal, state, skip, values=values, errors={
                "decision": "These records cannot be linked: a reviewer has already decided "
                            "that records in these two identities are different children"})
        raise
    done = urlencode({"decided": result.id, "outcome": result.status, "skip": skip})
    return see_other(f"/reviews?{done}")


# Audit log ----------------------------------------------------------------------------------

AUDIT_PAGE_SIZE = 50


def _audit_filters(request: Request) -> tuple[dict[str, Any], Any, dict[str, str]]:
    from search_api.routers.audit import AuditFilters

    q = request.query_params
    values: dict[str, Any] = {
        "person": (q.get("person") or "").strip()[:200],
        "user": (q.get("user") or "").strip()[:200],
        "event": [e for e in q.getlist("event") if e in {x.value for x in AuditEvent}],
        "from": (q.get("from") or "").strip()[:40],
        "to": (q.get("to") or "").strip()[:40],
    }
    errors: dict[str, str] = {}
    filters = None
    for key in ("from", "to"):
        try:
            AuditFilters(**{f"date_{key}": values[key] or None})
        except HTTPException:
            errors[f"audit-{key}"] = (f"Enter the {'start' if key == 'from' else 'end'} date "
                                      "as a real date, like 2026-03-27")
    if not errors:
        filters = AuditFilters(person=values["person"] or None, user=values["user"] or None,
                               event=values["event"] or None,
                               date_from=values["from"] or None, date_to=values["to"] or None)
    return values, filters, errors


@router.get("/audit")
def audit_page(request: Request, principal: Auditor, state: State,
               before_id: int | None = None) -> HTMLResponse:
    from search_api.routers import audit as audit_routes

    values, filters, errors = _audit_filters(request)
    entries: list[dict[str, Any]] = []
    next_before: int | None = None
    if filters is not None:
        page = audit_routes.list_audit(request=request, filters=filters, principal=principal,
                                       state=state, limit=AUDIT_PAGE_SIZE,
                                       before_id=before_id if before_id and before_id > 0
                                       else None)
        entries = page["entries"]
        next_before = page["next_before_id"]
    query = [(k, v) for k, v in values.items() if k != "event" and v]
    query += [("event", e) for e in values["event"]]
    return render(request, "audit.html", {
        "principal": principal, "title": "Audit log", "values": values, "entries": entries,
        "events": [(e.value, EVENT_LABELS.get(e.value, label(e.value))) for e in AuditEvent],
        "event_labels": EVENT_LABELS, "query": urlencode(query),
        "older": urlencode([*query, ("before_id", next_before)]) if next_before else None,
        "paged": before_id is not None,
        "errors": error_list(errors), "field_errors": errors},
        status=422 if errors else 200, current="audit")


@router.get("/audit.csv")
def audit_csv(request: Request, principal: Auditor, state: State) -> Response:
    from search_api.routers import audit as audit_routes

    _values, filters, errors = _audit_filters(request)
    if filters is None:
        raise PageError(422, "There is a problem with the dates",
                        " ".join(errors.values()))
    return audit_routes.export_audit(request=request, filters=filters, principal=principal,
                                     state=state, limit=10_000)


__all__ = ["DEMO_USERS", "page_error_handler", "router", "sign_in_required_handler"]
