"""`earlyhelp web`: the managers' and practitioners' web app (server-rendered, no framework in the browser).

Every change goes through the contract: a form becomes the command's model,
sent as the workflow update it names, so the engine's validators and the
worker's role checks decide, exactly as for the CLI. Lists come from the
read model (PostgreSQL); a case's page from the case itself (its queries).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, get_args
from urllib.parse import quote, urlencode

import aiohttp_jinja2
import aiohttp_session
import asyncpg
import jinja2
from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities import (
    case_files,
    chronology,
    papers,
    people_index,
    read_model,
    report,
    retention,
    subject_access,
)
from activities.delivery import reference
from activities.effects import DEADLINE_NAMES, Letterhead, stage_name, task_name
from activities.plain_words import without_sources
from activities.retention import RetentionRule
from starter.staff.render import when
from starter.staff.report_html import body as report_body
from web import api, forms, genogram, letters, oidc, staff_api
from web.auth import (
    ROLES_KEY,
    THROTTLE_KEY,
    Throttle,
    User,
    check_csrf,
    check_password,
    csrf_token,
    current_user,
    flash,
    require_sign_in,
    safe_next,
    sign_in,
    take_flash,
)
from web.cases import (
    CLIENT_KEY,
    FILE_KINDS,
    FOR_THE_FAMILY,
    POOL_KEY,
    RETENTION_KEY,
    TASK_QUEUE_KEY,
    Problem,
    engine,
    handle,
    keep_document,
    list_filters,
    managed_case,
    post_letter,
    referral_by,
    sealer_of,
    settled,
    viewers,
    visible_case,
)
from web.sessions import IDLE_SECONDS, PostgresStorage
from worker.authz import LEADS, STAFF_FIELDS, Roles
from worker.identity import Signer, acting_for
from worker.temporal import new_update_id, send_command, start_case
from workflows.bounds import SHOWN_FOR_CONTROL, Id, concern_parts, refusal
from workflows.calendar import LONDON, spoken_gap
from workflows.case import EarlyHelpCase
from workflows.mash import ACKNOWLEDGE_WITHIN, watch_id
from workflows.models import (
    CaseDetails,
    MashAcknowledgement,
    Need,
    NeedCode,
    Referral,
    RemoveDocument,
    SafeguardingConcern,
    Snapshot,
    Stage,
)
from workflows.pathway import STEPS
from workflows.policy import Policy
from workflows.rules import RuleBroken, threshold_recommendation
from workflows.state import CHILD_ROLES

HERE = Path(__file__).parent
LIST_LIMIT = 500  # rows of a caseload on one page; `earlyhelp caseload --csv` gives them all
INBOX_LIMIT = read_model.INBOX_ROWS


OIDC_KEY = web.AppKey("oidc", oidc.Provider)
SENT_FILE_KEY = web.AppKey("sent_file", Path)
SENT_SHOWN = 200
TAG_COLOURS = {
    "pending": "govuk-tag--blue",
    "met": "govuk-tag--green",
    "missed": "govuk-tag--red",
    "completed_late": "govuk-tag--orange",
    "cancelled": "govuk-tag--grey",
}
ROLE_NAMES = {
    "managers": "team manager",
    "screeners": "EH Duty and Advice",
    "practitioners": "lead practitioner",
    "social_workers": "social worker",
    "mash": "MASH team",
}  # the local Notify stand-in's latest messages shown at /sent


BY_NAME = {step.name: (model, step) for model, step in STEPS.items()}
# The referral form: the Referral model's fields but those the service sets or that other routes use.
# A member's details, household and relationships are recorded on the case page once the case is open.
REFERRAL_OMITS = frozenset({"policy", "keyed_by", "prior_assessment", "details", "lives_in_household", "relationships"})
# A member added on the case page lives in the household (record_member_left says otherwise).
COMMAND_OMITS = frozenset({"lives_in_household"})
NEW_ACTION_ROWS = 3  # blank rows under the plan's actions, for new ones
MEMBER_ROWS = 8  # blank rows for family members on the referral form (rows left blank are not sent)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # case pages hold family data: never kept by the browser or a proxy
}


# --- talking to the engine -------------------------------------------------------------


def available(snap: Snapshot, user: User, roles: Roles) -> list[str]:
    """The commands this person may give in the case's current stage (only those; none once it has ended)."""
    return [
        step.name
        for step in STEPS.values()
        if step.for_stage(snap.stage) and step.for_route(snap.route) and roles.may(step.name, user.id)
    ]


def command_widgets(name: str, snap: Snapshot, roles: Roles, details: CaseDetails | None = None) -> list[forms.Widget]:
    """A command's form. With the case's details (the page): the children to ask for their voice, and the plan's
    actions and three blank rows; without (a POST): whatever the form sent."""
    model, _ = BY_NAME[name]
    rows = len(details.plan) + NEW_ACTION_ROWS if details is not None else 0
    widgets = forms.fields_of(
        model, [n.code for n in snap.needs], omit=COMMAND_OMITS, rows=rows, people=children_of(details)
    )
    leads = team_leads(roles, snap.locality, snap.route)
    for w in widgets:
        if w.name in STAFF_FIELDS and leads:  # a choice from the locality's team, never a typed name
            w.kind, w.choices, w.hint = "select", leads, "from the team of " + snap.locality
    return widgets


def team_leads(roles: Roles, locality: str, route: str) -> list[str]:
    """Who may lead a case of this locality and route (the worker's rule: worker/authz.py check_staff)."""
    return sorted(
        person
        for person, held in roles.people.items()
        if held & LEADS[route] and (roles.localities(person) is None or locality in roles.localities(person))
    )


def children_of(details: CaseDetails | None) -> list[tuple[str, str]]:
    """The family's children still in the household, by reference, with their names where recorded."""
    found = []
    for m in details.members if details is not None else []:
        if m.role.casefold() in CHILD_ROLES and m.lives_in_household:
            name = " ".join(n for n in (m.details.given_name, m.details.family_name) if n) if m.details else ""
            found.append((m.person_ref, f"{name} ({m.person_ref})" if name else m.person_ref))
    return found


def initial_values(snap: Snapshot, details: CaseDetails | None = None) -> dict[str, list[str]]:
    """Pre-filled answers: the case's needs for an assessment's needs; the plan as it stands for its update; the
    assessment's draft for the next save."""
    values: dict[str, list[str]] = {}
    for need in snap.needs:
        values[f"needs.{need.code}"] = ["on"]
        values[f"needs.{need.code}.description"] = [need.description]
        if need.complex:
            values[f"needs.{need.code}.complex"] = ["on"]
    if details is None:
        return values
    for i, action in enumerate(details.plan):
        for key, value in action.model_dump(mode="json", exclude_none=True).items():
            values[f"actions.{i}.{key}"] = ["on" if value is True else str(value)] if value is not False else []
    draft = details.assessment_draft.model_dump(mode="json") if details.assessment_draft else {}
    for key, value in draft.items():
        if isinstance(value, dict):
            values |= {f"sections.{key}.{k}": [v] for k, v in value.items()}
        elif value not in (None, [], ""):
            values[f"sections.{key}"] = ["\n".join(value) if isinstance(value, list) else str(value)]
    return values


def submitted(form: Any) -> dict[str, list[str]]:
    return {k: [str(v) for v in form.getall(k)] for k in set(form.keys()) if k not in ("csrf", FORM_ID)}


# Each rendered page gives its forms one id; the command's update id is derived from it, so a double
# submit or a browser's retry of the same form is recorded once (Temporal dedupes update ids).
FORM_ID = "form_id"
_FORM_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def form_update_id(form: Any, name: str) -> str:
    given = str(form.get(FORM_ID, ""))
    return f"web-{name}-{given}" if _FORM_ID_PATTERN.match(given) else new_update_id()


# --- pages ---------------------------------------------------------------------------------


async def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    user = request.get("user")
    context = {
        "user": user,
        "csrf": await csrf_token(request),
        "form_id": secrets.token_urlsafe(16),
        "flash": await take_flash(request),
        "list_limit": LIST_LIMIT,
        "path": request.path,
        "when": when,
        "deadline_name": DEADLINE_NAMES,
        "task_name": task_name,
        "label": forms.label,
        "role_names": ROLE_NAMES,
        "tag_colour": TAG_COLOURS,
        "council_sign_in": request.app[OIDC_KEY] is not None,
        "next_path": request.query.get("next", ""),
        **context,
    }
    return aiohttp_jinja2.render_template(template, request, context, status=status)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def home(request: web.Request) -> web.Response:
    user = current_user(request)
    raise web.HTTPSeeOther("/inbox" if user.is_manager else "/mash" if user.in_mash else "/cases")


async def sign_in_page(request: web.Request) -> web.Response:
    if request.method == "POST":
        form = await request.post()
        person, password = str(form.get("user", "")).strip(), str(form.get("password", ""))
        throttle = request.app[THROTTLE_KEY]
        if wait := throttle.sign_in_wait(request.remote, person):
            return await render(
                request,
                "sign_in.html",
                {"error": f"Too many failed attempts: try again in {int(wait // 60) + 1} minutes.", "person": person},
                status=429,
            )
        # scrypt takes ~50 ms of CPU: off the event loop, so sign-ins never stall other requests.
        ok = await asyncio.to_thread(check_password, request.app[ROLES_KEY], person, password)
        throttle.signed_in(request.remote, person, ok)
        if ok:
            await sign_in(request, person)
            raise web.HTTPSeeOther(safe_next(request.query.get("next")))
        return await render(
            request, "sign_in.html", {"error": "That staff id and password do not match.", "person": person}, status=401
        )
    return await render(request, "sign_in.html", {})


async def oidc_sign_in(request: web.Request) -> web.Response:
    provider = request.app[OIDC_KEY]
    if provider is None:
        raise web.HTTPNotFound()
    try:
        raise web.HTTPSeeOther(await oidc.begin(request, provider, safe_next(request.query.get("next"))))
    except oidc.OidcRefused as e:
        return await render(request, "sign_in.html", {"error": str(e)}, status=503)


async def oidc_callback(request: web.Request) -> web.Response:
    provider = request.app[OIDC_KEY]
    if provider is None:
        raise web.HTTPNotFound()
    try:
        person, next_path = await oidc.finish(request, provider, request.app[ROLES_KEY])
    except oidc.OidcRefused as e:
        return await render(request, "sign_in.html", {"error": str(e)}, status=401)
    await sign_in(request, person)
    raise web.HTTPSeeOther(safe_next(next_path))


async def sign_out(request: web.Request) -> web.Response:
    (await aiohttp_session.get_session(request)).invalidate()
    raise web.HTTPSeeOther("/sign-in")


async def inbox(request: web.Request) -> web.Response:
    user = current_user(request)
    if not user.is_manager:
        raise Problem(403, "The inbox is for team managers.")
    async with request.app[POOL_KEY].acquire() as conn:
        pending = await read_model.approvals(
            conn, manager=user.id, locality=user.localities, sealer=sealer_of(request), limit=INBOX_LIMIT
        )
        now = datetime.now(UTC)
        escalations = await read_model.due(conn, now, overdue=True, locality=user.localities, limit=INBOX_LIMIT)
        coming = [
            d
            for d in await read_model.due(
                conn, now, within=timedelta(days=7), locality=user.localities, limit=INBOX_LIMIT
            )
            if not d["overdue"]
        ]
        caseload = await read_model.caseload(conn, locality=user.localities, limit=LIST_LIMIT)
    return await render(
        request,
        "inbox.html",
        {
            "pending": pending,
            "escalations": escalations,
            "inbox_limit": INBOX_LIMIT,
            "coming": coming,
            "caseload": caseload,
        },
    )


async def cases(request: web.Request) -> web.Response:
    """Tasks, the person's own cases, and every case they may see: searched, filtered, sorted, a page at a time."""
    user = current_user(request)
    found = list_filters(request.query)
    async with request.app[POOL_KEY].acquire() as conn:
        mine = await read_model.caseload(conn, lead=user.id, limit=LIST_LIMIT)
        tasks = await read_model.tasks(conn, user.id)
        if "screeners" in user.roles:  # referrals to screen and cases to allocate are Duty and Advice's
            tasks += await read_model.duty_tasks(conn, user.localities)
        rows, total = await read_model.find_cases(
            conn, scope=user.localities, lead_or_scope=user.id, sealer=sealer_of(request), **found
        )
    pages = max(1, -(-total // read_model.PAGE_SIZE))
    return await render(
        request,
        "cases.html",
        {
            "mine": mine,
            "tasks": tasks,
            "rows": rows,
            "total": total,
            "found": found,
            "pages": pages,
            "list_url": lambda changes: (
                "/cases?"
                + urlencode(
                    {k: v for k, v in {**request.query, **{k: str(v) for k, v in changes.items()}}.items() if v}
                )
                + "#found"
            ),
            "now": datetime.now(UTC),
            "soon": datetime.now(UTC) + timedelta(days=7),
            "stages": [s.value for s in Stage],
            "localities": [x for x in Policy().localities if user.localities is None or x in user.localities],
            "leads": sorted(
                p for p, held in request.app[ROLES_KEY].people.items() if held & {"practitioners", "social_workers"}
            ),
            "sorts": read_model.SORTS,
        },
    )


async def case_page(
    request: web.Request,
    errors: dict[str, str] | None = None,
    open_form: str | None = None,
    values: dict[str, list[str]] | None = None,
    status: int = 200,
) -> web.Response:
    case_id = request.match_info["case_id"]
    snap = await visible_case(request, case_id)
    async with request.app[POOL_KEY].acquire() as conn:  # every run's events (README "Bounded history")
        await read_model.saved_up_to(conn, case_id, snap.events, within=1.0)
        timeline = await read_model.timeline(conn, case_id, sealer_of(request))
        messages = await read_model.messages(conn, case_id, sealer_of(request))
        documents = await read_model.documents(conn, case_id)
        files = {
            r["document_id"] for r in await conn.fetch("SELECT document_id FROM case_files WHERE case_id = $1", case_id)
        }
        user = current_user(request)
        # Managers see who viewed the case and when (the audit log: every door's views, the codec server's too).
        viewed = await viewers(conn, case_id) if user.is_manager else []
    details = await engine(handle(request, case_id).query(EarlyHelpCase.details))
    commands = [
        {
            "name": name,
            "help": forms.plain(BY_NAME[name][0].__doc__ or ""),
            "widgets": command_widgets(name, snap, request.app[ROLES_KEY], details),
        }
        for name in available(snap, user, request.app[ROLES_KEY])
    ]
    significant = request.query.get("significant") == "1"
    bookkeeping = request.query.get("deadlines") == "1"  # the engine's deadline lines, on request
    versions = papers.versions(timeline)
    # The draft is shown while it is newer than the assessment last recorded (or none is).
    drafted = max((e.seq for e in timeline if e.type == "AssessmentDraftSaved"), default=0)
    recorded = versions["assessment"][-1].seq if versions["assessment"] else 0
    return await render(
        request,
        "case.html",
        {
            "snap": snap,
            "details": details,
            "papers": versions,
            "supervisions": [e for e in timeline if e.type == "SupervisionRecorded"],
            "paper_body": papers.body,
            "draft": details.assessment_draft if drafted > recorded else None,
            "timeline": list(reversed(chronology.chronology(timeline, significant, bookkeeping))),
            "bookkeeping": bookkeeping,
            "significant": significant,
            "commands": commands,
            "open_form": open_form,
            "errors": errors or {},
            "values": values if values is not None else initial_values(snap, details),
            "messages": messages,
            "documents": documents,
            "files": files,
            "file_kinds": FILE_KINDS,
            "viewed": viewed,
            "document_title": letters.title,
            "for_the_family": FOR_THE_FAMILY,
            "genogram": genogram.draw(details.members, details.relationships, datetime.now(LONDON).date()),
            "now": datetime.now(UTC),
            "soon": datetime.now(UTC) + timedelta(days=7),
        },
        status=status,
    )


async def command(request: web.Request) -> web.Response:
    """Send one command; on a refusal show the case again, the message beside its field, nothing changed."""
    case_id, name = request.match_info["case_id"], request.match_info["name"]
    if name not in BY_NAME:
        raise Problem(404, f"There is no command {name!r}.")
    snap = await visible_case(request, case_id)
    form = await request.post()
    widgets = command_widgets(name, snap, request.app[ROLES_KEY])
    data = forms.payload(widgets, form, current_user(request).id)
    model: type[BaseModel] = BY_NAME[name][0]
    try:
        cmd = model.model_validate(data)
    except ValidationError as e:
        return await case_page(request, forms.validation_errors(e, widgets, data), name, submitted(form), 422)
    acting_for.set(current_user(request).id)  # the command token is signed for the signed-in person
    try:
        await engine(send_command(request.app[CLIENT_KEY], case_id, name, cmd, form_update_id(form, name)))
    except Problem as p:
        if p.status != 404:
            raise
        # The case was open when the page was shown; it has ended since (its run is complete).
        ended = await visible_case(request, case_id)
        message = f"This case is now {ended.stage.replace('_', ' ')} and takes no more commands: nothing was recorded."
        return await case_page(request, {forms.FORM_ERROR: message}, name, submitted(form), 409)
    except WorkflowUpdateFailedError as e:
        cause: Any = e.cause
        details = getattr(cause, "details", None) or ()
        rule = str(details[0]) if details else getattr(cause, "type", "") or ""
        message = getattr(cause, "message", str(cause))
        return await case_page(request, forms.rule_error(rule, message, widgets), name, submitted(form), 422)
    await settled(request, case_id)
    await flash(request, f"Recorded: {forms.label(name)}.")
    raise web.HTTPSeeOther(safe_next(str(form.get("next", ""))) if form.get("next") else f"/cases/{case_id}")


async def safeguarding(request: web.Request) -> web.Response:
    """A safeguarding concern: a signal, never refused [DOMAIN 8]."""
    case_id = request.match_info["case_id"]
    await visible_case(request, case_id)
    form = await request.post()
    details = str(form.get("details", "")).strip()
    if not details:
        return await case_page(request, {"details": "Say what was seen or said."}, "safeguarding", submitted(form), 422)
    # Never refused for what it holds: control characters shown as �, a long concern sent in parts.
    parts = concern_parts(details)
    for part in parts:
        concern = SafeguardingConcern(by=current_user(request).id, details=part)
        await engine(handle(request, case_id).signal(EarlyHelpCase.safeguarding_concern, concern))
    await settled(request, case_id)
    said = "Safeguarding concern raised: the case goes to MASH without delay."
    if len(parts) > 1:
        said += f" It was long, so it was recorded in {len(parts)} parts."
    if SHOWN_FOR_CONTROL in "".join(parts) and SHOWN_FOR_CONTROL not in details:
        said += f" Characters that cannot be shown were recorded as {SHOWN_FOR_CONTROL}."
    await flash(request, said)
    raise web.HTTPSeeOther(f"/cases/{case_id}")


# --- letters, the MASH queue and what was sent ------------------------------------------


async def case_document(request: web.Request) -> web.Response:
    """A letter or form of the case: a print view, or with `.pdf` a PDF (made from the sealed text, never kept)."""
    case_id, name = request.match_info["case_id"], request.match_info["document"]
    as_pdf = name.endswith(".pdf")
    if not (number := name.removesuffix(".pdf")).isdigit() or len(number) > 18:
        raise Problem(404, "There is no such letter.")
    await visible_case(request, case_id)
    async with request.app[POOL_KEY].acquire() as conn:
        doc = await read_model.document(conn, case_id, int(number), sealer_of(request))
    if doc is None:
        raise Problem(404, "There is no such letter on this case.")
    if as_pdf:
        body = await asyncio.to_thread(letters.pdf, case_id, doc["kind"], doc["text"], doc["created_at"])
        return web.Response(
            body=body,
            content_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{case_id}-{doc["kind"]}-{doc["id"]}.pdf"'},
        )
    return await render(request, "letter.html", {"case_id": case_id, "doc": doc, "title": letters.title(doc["kind"])})


async def post_document(request: web.Request) -> web.Response:
    """Send one of the case's letters by post (web/cases.py post_letter): said in a flash on the case page."""
    case_id = request.match_info["case_id"]
    try:
        posted = await post_letter(request, case_id, request.match_info["document"])
    except Problem as p:
        if p.status != 409:
            raise
        await flash(request, f"Not sent: {p}")
        raise web.HTTPSeeOther(f"/cases/{case_id}#letters") from None
    await flash(request, "The letter is being posted." if posted else "This letter was posted before.")
    raise web.HTTPSeeOther(f"/cases/{case_id}#letters")


async def keep_file(request: web.Request) -> web.Response:
    """A document kept on the case (web/cases.py keep_document): refused, the page says why beside the file, and
    nothing is left behind. Sent twice (the same form), kept once."""
    case_id = request.match_info["case_id"]
    form = await request.post()
    upload, kind = form.get("file"), str(form.get("kind", ""))
    if not isinstance(upload, web.FileField) or not upload.filename:
        return await case_page(request, {"file": "Choose a file to keep."}, "keep_file", submitted(form), 422)
    content = upload.file.read(case_files.MAX_BYTES + 1)
    try:
        await keep_document(request, case_id, content, upload.filename, kind, form_update_id(form, "record_document"))
    except Problem as p:
        if p.status != 422:
            raise
        field = "kind" if str(p).startswith("kind:") else "file"
        message = "Choose what the document is." if field == "kind" else forms.plain(str(p))
        return await case_page(request, {field: message}, "keep_file", submitted(form), 422)
    await flash(request, f"Document kept: {case_files.safe_name(upload.filename)}.")
    raise web.HTTPSeeOther(f"/cases/{case_id}#documents")


async def remove_file(request: web.Request) -> web.Response:
    """Remove a kept document: `remove_document` records who and why, then its sealed file is destroyed."""
    case_id, user = request.match_info["case_id"], current_user(request)
    document_id = request.match_info["document_id"]
    await visible_case(request, case_id)
    form = await request.post()
    reason = str(form.get("reason", "")).strip()
    if not reason:
        return await case_page(request, {"remove_reason": "Say why the document is removed."}, "remove_file", None, 422)
    try:
        command = RemoveDocument(by=user.id, document_id=document_id, reason=reason)
    except ValidationError as e:
        return await case_page(request, {"remove_reason": forms.plain(refusal(e))}, "remove_file", None, 422)
    acting_for.set(user.id)
    try:
        update_id = form_update_id(form, "remove_document")
        await engine(send_command(request.app[CLIENT_KEY], case_id, "remove_document", command, update_id))
    except WorkflowUpdateFailedError as e:
        message = forms.plain(getattr(e.cause, "message", str(e)))
        return await case_page(request, {"remove_reason": f"Not removed: {message}"}, "remove_file", None, 422)
    # (its file is destroyed as the removal is saved: activities/projections.py)
    await flash(request, "Document removed: its file is destroyed; the chronology keeps that it was kept.")
    raise web.HTTPSeeOther(f"/cases/{case_id}#documents")


async def kept_file(request: web.Request) -> web.Response:
    """A document kept on the case, downloaded (each download is a view of the case: audited)."""
    case_id, document_id = request.match_info["case_id"], request.match_info["document_id"]
    if not re.fullmatch(r"[A-Za-z0-9_.:@/-]{1,64}", document_id):
        raise Problem(404, "There is no such document.")
    await visible_case(request, case_id)
    async with request.app[POOL_KEY].acquire() as conn:
        found = await case_files.opened(conn, case_id, document_id, sealer_of(request))
    details = await engine(handle(request, case_id).query(EarlyHelpCase.details))
    recorded = next((d for d in details.documents if d.document_id == document_id and not d.removed), None)
    if found is None or recorded is None:
        raise Problem(404, "There is no such document on this case.")
    content, content_type = found
    name = case_files.safe_name(recorded.filename)
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return web.Response(
        body=content,
        content_type=content_type,
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}",
        },
    )


async def case_chronology(request: web.Request) -> web.Response:
    """The whole chronology for a court or a subject access request: a print view, or `.csv` or `.pdf`
    (`?significant=1`: significant events only). Made from the case's events on request, never kept."""
    case_id, form = request.match_info["case_id"], request.match_info.get("format", "")
    snap = await visible_case(request, case_id)
    significant = request.query.get("significant") == "1"
    async with request.app[POOL_KEY].acquire() as conn:
        await read_model.saved_up_to(conn, case_id, snap.events, within=1.0)
        entries = chronology.chronology(await read_model.timeline(conn, case_id, sealer_of(request)), significant)
    name = f"{case_id}-chronology{'-significant' if significant else ''}"
    if form == ".csv":
        return web.Response(
            text=chronology.as_csv(case_id, entries),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if form == ".pdf":
        text = "\n".join(f"{e.when}{'  [significant]' if e.significant else ''}\n{e.what}\n" for e in entries)
        body = await asyncio.to_thread(
            letters.document_pdf,
            "Chronology" + (" (significant events)" if significant else ""),
            case_id,
            text,
            datetime.now(UTC),
        )
        return web.Response(
            body=body,
            content_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    details = await engine(handle(request, case_id).query(EarlyHelpCase.details))
    family = genogram.draw(details.members, details.relationships, datetime.now(LONDON).date())
    return await render(
        request,
        "chronology.html",
        {
            "snap": snap,
            "entries": entries,
            "significant": significant,
            "genogram": family,
            "printed_at": datetime.now(UTC),
        },
    )


async def case_paper(request: web.Request) -> web.Response:
    """The assessment or the family plan as a document: the latest version, or `?version=` the event that made
    an earlier one; a print view, or with `.pdf` a PDF. Made from the case's events on request, never kept."""
    case_id, kind = request.match_info["case_id"], request.match_info["paper"]
    snap = await visible_case(request, case_id)
    async with request.app[POOL_KEY].acquire() as conn:
        await read_model.saved_up_to(conn, case_id, snap.events, within=1.0)
        found = papers.versions(await read_model.timeline(conn, case_id, sealer_of(request)))[kind]
    wanted = request.query.get("version", "")
    version = next((v for v in found if str(v.seq) == wanted), None) if wanted else (found[-1] if found else None)
    if version is None:
        what = "version of the " if wanted else ""
        raise Problem(404, f"There is no such {what}{papers.PAPERS[kind].lower()} on this case.")
    text = papers.text(case_id, version, Letterhead(staff=request.app[ROLES_KEY].staff))
    if request.match_info.get("format") == ".pdf":
        body = await asyncio.to_thread(letters.document_pdf, version.title, case_id, text, version.at)
        name = f"{case_id}-{kind}-{version.seq}.pdf"
        return web.Response(
            body=body, content_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
        )
    doc = {"text": text, "created_at": version.at, "pdf": f"/cases/{case_id}/{kind}.pdf?version={version.seq}"}
    return await render(request, "letter.html", {"case_id": case_id, "doc": doc, "title": version.title})


def mash_viewer(request: web.Request) -> User:
    user = current_user(request)
    if not (user.in_mash or user.is_manager):
        raise Problem(403, "The MASH queue is for the MASH team and team managers.")
    return user


async def mash_queue(request: web.Request) -> web.Response:
    user = mash_viewer(request)
    async with request.app[POOL_KEY].acquire() as conn:  # the MASH team sees every locality; a manager, theirs
        queue = await read_model.mash_queue(
            conn, sealer_of(request), locality=None if user.in_mash else user.localities
        )
    return await render(
        request, "mash.html", {"queue": queue, "now": datetime.now(UTC), "due_within": ACKNOWLEDGE_WITHIN}
    )


async def mash_acknowledge(request: web.Request) -> web.Response:
    """The MASH team has the referral: sent to its watch as the `acknowledge` update, signed for the person."""
    user = current_user(request)
    if not user.in_mash:
        raise Problem(403, "Referrals are acknowledged by the MASH team.")
    case_id, seq = request.match_info["case_id"], request.match_info["seq"]
    if not seq.isdigit() or len(seq) > 9:
        raise Problem(404, "There is no such referral.")
    form = await request.post()
    acting_for.set(user.id)
    watch = request.app[CLIENT_KEY].get_workflow_handle(watch_id(case_id, int(seq)))
    try:
        ack = await engine(
            watch.execute_update(
                "acknowledge",
                MashAcknowledgement(by=user.id),
                id=form_update_id(form, f"ack-{case_id}-{seq}"),
                result_type=MashAcknowledgement,
            )
        )
    except WorkflowUpdateFailedError as e:
        await flash(request, f"Not acknowledged: {getattr(e.cause, 'message', e.cause)}")
    else:
        await flash(request, f"Acknowledged: the referral of case {case_id} at {when(ack.at)}.")
    raise web.HTTPSeeOther("/mash")


async def sent_page(request: web.Request) -> web.Response:
    """What the engine sent for the teams' cases and how its delivery went; where `earlyhelp up` runs the local
    Notify stand-in, what the stand-in received too."""
    user = current_user(request)
    if not user.is_manager:
        raise Problem(403, "Sent messages are for team managers.")
    async with request.app[POOL_KEY].acquire() as conn:
        outbox = await read_model.outbox(conn, locality=user.localities)
        erased = {r["case_id"] for r in await conn.fetch("SELECT case_id FROM erased_cases")}
    # What the stand-in received, of these messages only: another team's, or an erased case's, is not shown.
    shown = {reference(m["id"]) for m in outbox if m["case_id"] not in erased}
    received = [
        item
        for item in await asyncio.to_thread(standin_received, request.app[SENT_FILE_KEY])
        if item.get("reference") in shown
    ]
    return await render(
        request,
        "sent.html",
        {"outbox": outbox, "received": received, "standin": request.app[SENT_FILE_KEY] is not None},
    )


def standin_received(path: Path | None) -> list[dict[str, Any]]:
    if path is None or not path.exists():
        return []
    lines = path.read_text().splitlines()[-SENT_SHOWN:]
    items = []
    for line in reversed(lines):
        try:
            item = json.loads(line)
        except ValueError:
            continue
        items.append(item | {"at": datetime.fromtimestamp(item.get("created_at", 0), UTC)})
    return items


# --- referrals --------------------------------------------------------------------------


def referral_widgets(user: User) -> list[forms.Widget]:
    widgets = forms.fields_of(Referral, [], omit=REFERRAL_OMITS, rows=MEMBER_ROWS)
    if not user.refers:  # a social worker's step-down: the route is a step-down and the social worker is them
        widgets = [w for w in widgets if w.name != "route"]
        for w in widgets:
            w.children = [c for c in w.children if c.name != "step_down.social_worker"]
    for w in widgets:
        if w.name == "locality":
            localities = Policy().localities
            w.kind, w.choices = "select", [x for x in localities if user.localities is None or x in user.localities]
        if w.name == "received_at":
            w.required, w.hint = False, "when the referral reached the service, UK time; leave blank for now"
        if w.name == "step_down":
            w.label, w.hint = "Step-down from children's social care", "only for a step-down referral"
            w.required = not user.refers
    return widgets


def recommendation(form: Any, widgets: list[forms.Widget], by: str) -> str:
    """The threshold recommendation for what the form says so far [000][002]."""
    data = forms.payload(widgets, form, by, signed_in=())
    needs = [Need.model_validate(n) for n in data.get("needs", []) if n.get("code") in NeedCode.__members__]
    return threshold_recommendation(needs, bool(data.get("immediate_safeguarding")), Policy())


async def refer(request: web.Request) -> web.Response:
    user = current_user(request)
    referral_by(user, {})  # (who may refer at all)
    widgets = referral_widgets(user)
    if request.method == "GET":
        return await render(
            request,
            "refer.html",
            {"widgets": widgets, "values": {}, "errors": {}, "recommendation": None, "step_down_only": not user.refers},
        )
    form = await request.post()
    values, rec = submitted(form), recommendation(form, widgets, user.id)
    errors: dict[str, str] = {}
    if form.get("action") != "preview":
        data = referral_by(user, forms.payload(widgets, form, user.id, signed_in=())) | {"keyed_by": user.id}
        data.setdefault("received_at", datetime.now(UTC).isoformat())
        if data.get("route") != "step_down":
            data.pop("step_down", None)  # the step-down fields are for that route only
        try:
            referral = Referral.model_validate(data)
        except ValidationError as e:
            errors = forms.validation_errors(e, widgets, data)
        else:
            if not user.sees(referral.locality, None):
                errors = {"locality": "not one of your teams' localities"}
            else:
                try:
                    await engine(start_case(request.app[CLIENT_KEY], referral, request.app[TASK_QUEUE_KEY]))
                except WorkflowAlreadyStartedError:
                    errors = {"case_id": "this case id is taken (a case id is never reused): nothing was recorded"}
                except RuleBroken as e:
                    errors = forms.rule_error(e.rule, str(e), widgets)
                else:
                    await settled(request, referral.case_id)
                    await flash(request, f"Referral {referral.case_id} received: recommendation {rec}.")
                    raise web.HTTPSeeOther(f"/cases/{referral.case_id}")
    return await render(
        request,
        "refer.html",
        {
            "widgets": widgets,
            "values": values,
            "errors": errors,
            "recommendation": rec,
            "step_down_only": not user.refers,
        },
        status=422 if errors else 200,
    )


async def threshold(request: web.Request) -> web.Response:
    """The recommendation as the form is filled in (progressive enhancement of the preview button)."""
    user = current_user(request)
    return web.json_response({"recommendation": recommendation(await request.post(), referral_widgets(user), user.id)})


# --- the performance report ----------------------------------------------------------


async def report_page(request: web.Request) -> web.Response:
    user = current_user(request)
    if not user.is_manager:
        raise Problem(403, "The performance report is for team managers.")
    today = date.today()
    try:
        start = date.fromisoformat(request.query.get("from") or str(today - timedelta(days=365)))
        end = date.fromisoformat(request.query.get("to") or str(today))
    except ValueError:
        raise Problem(400, "Dates are YYYY-MM-DD.") from None
    # Figures are counts with no family data: any manager may compare localities.
    localities = Policy().localities
    locality = request.query.get("locality") or None
    if locality is not None and locality not in localities:
        raise Problem(404, f"There is no locality {locality!r}.")
    result = await report.performance(request.app[POOL_KEY], start, end, locality)  # its queries at once
    return await render(
        request,
        "report.html",
        {"body": report_body(result), "start": start, "end": end, "locality": locality, "localities": localities},
    )


PERSON_FIELDS = (
    ("family_name", "Family name", ""),
    ("given_name", "Given name", ""),
    ("date_of_birth", "Date of birth", "for example 2015-03-27"),
    ("postcode", "Postcode", ""),
    ("nhs_number", "NHS number", "10 digits"),
    ("upn", "Unique Pupil Number (UPN)", ""),
)


async def people_page(request: web.Request) -> web.Response:
    """Is this family known? People of the teams' open and closed cases, by their details' blind indexes."""
    user = current_user(request)
    if not user.refers:
        raise Problem(403, "Finding a person is for EH Duty and Advice (screeners) and managers.")
    query = {name: request.query.get(name, "").strip() for name, _, _ in PERSON_FIELDS}
    found, error = [], ""
    searched = any(query.values())
    if searched:
        try:
            search = people_index.PersonSearch.model_validate({k: v for k, v in query.items() if v})
        except ValidationError as e:
            error, searched = f"Check the search: {refusal(e)}", False
        else:
            async with request.app[POOL_KEY].acquire() as conn:
                found = await people_index.find_people(
                    conn, search, scope=user.localities, lead_or_scope=user.id, sealer=sealer_of(request)
                )
                await people_index.audit_found(conn, found, user.id, "web app")
    context = {"fields": PERSON_FIELDS, "query": query, "found": found, "searched": searched, "error": error}
    return await render(request, "people.html", context)


async def person_record_page(request: web.Request) -> web.Response:
    """One person's record across the cases the viewer may see (activities/subject_access.py); for managers, the
    subject access export as a PDF or JSON. Each case shown is audited."""
    user, form = current_user(request), request.match_info.get("format", "")
    ref = request.query.get("ref", "")
    try:
        person_ref = TypeAdapter(Id).validate_python(ref)
    except ValidationError as e:
        raise Problem(400, f"Check the person's reference: {refusal(e)}") from None
    if form and not user.is_manager:
        raise Problem(403, "A subject access export is made by a team manager.")
    now = datetime.now(UTC)
    async with request.app[POOL_KEY].acquire() as conn:
        record = await subject_access.person_record(conn, person_ref, sealer_of(request), user.sees, now)
        await subject_access.audited(conn, record, user.id, "subject access export" if form else "viewed")
    name = f"subject-access-{person_ref}"
    if form == ".json":
        return web.Response(
            text=record.model_dump_json(indent=2),
            content_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
        )
    if form == ".pdf":
        cases = ", ".join(c.case_id for c in record.cases) or "none"
        heading = f"Everything held about {person_ref}"
        body = await asyncio.to_thread(letters.document_pdf, heading, cases, subject_access.as_text(record), now)
        return web.Response(
            body=body,
            content_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    entries = {c.case_id: chronology.chronology(c.events) for c in record.cases}
    return await render(request, "person.html", {"record": record, "entries": entries, "ref": person_ref})


async def cli_token_page(request: web.Request) -> web.Response:
    """A login token for the command line, for people who sign in with their council account (no password to
    give `earlyhelp login`): made on request (a POST, so a link cannot make one), shown once, never kept."""
    if api.SIGNER_KEY not in request.app:
        raise Problem(404, "This web app signs nobody in to the command line (it has no signing key).")
    token = None
    if request.method == "POST":
        token = request.app[api.SIGNER_KEY].login_token(current_user(request).id, datetime.now(UTC))
    return await render(request, "cli_token.html", {"token": token})


async def retention_page(request: web.Request) -> web.Response:
    """Closed cases of the manager's teams due for a retention review, each with the decision: keep it until a
    later review, or erase it (activities/retention.py). Nothing is erased without that decision."""
    user = current_user(request)
    if not user.is_manager:
        raise Problem(403, "Retention reviews are for team managers.")
    today = datetime.now(LONDON).date()
    errors: dict[str, str] = {}
    form: Any = {}
    if request.method == "POST":
        form = await request.post()
        case_id = str(form.get("case_id", ""))
        try:
            wanted = retention.RetentionDecision.model_validate(
                {
                    "decision": form.get("decision"),
                    "reason": form.get("reason", ""),
                    "review_again_on": form.get("review_again_on") or None,
                }
            )
            async with request.app[POOL_KEY].acquire() as conn:
                await managed_case(conn, request, user, case_id)
                outcome = await retention.decide(conn, case_id, user.id, wanted, today)
        except ValidationError as e:
            errors = {str(err["loc"][0]): forms.plain(err["msg"]) for err in e.errors()}
        except retention.NotDecidable as e:
            field, _, message = str(e).partition(": ")
            errors = {field if message else "decision": message or str(e)}
        else:
            await flash(
                request,
                f"Case {case_id}: {'kept until ' + when_day(wanted.review_again_on) if outcome == 'kept' else 'erased'}.",
            )
            raise web.HTTPSeeOther("/retention")
    async with request.app[POOL_KEY].acquire() as conn:
        due = await retention.due_for_review(conn, today, request.app[RETENTION_KEY], user.localities)
    context = {"due": due, "errors": errors, "form": form, "basis": retention.BASIS_WORDS, "today": today}
    return await render(request, "retention.html", context, status=422 if errors else 200)


def when_day(day: Any) -> str:
    return f"{day:%-d %B %Y}"


async def contacts_page(request: web.Request) -> web.Response:
    """The advice point's contact log: a contact counted for the report, never a case [002]."""
    user = current_user(request)
    localities = [x for x in Policy().localities if user.localities is None or x in user.localities]  # theirs
    values = {"channel": get_args(report.Channel), "outcome": get_args(report.ContactOutcome)}
    context: dict[str, Any] = {"localities": localities, "choices": values, "errors": {}}
    if request.method == "POST":
        form = await request.post()
        try:
            entry = report.AdviceContact.model_validate(
                {
                    "by": user.id,
                    "locality": form.get("locality"),
                    "channel": form.get("channel"),
                    "outcome": form.get("outcome"),
                    "at": datetime.now(UTC),
                }
            )
        except ValidationError as e:
            context["errors"] = {str(err["loc"][0]): err["msg"] for err in e.errors()}
            return await render(request, "contacts.html", context, status=400)
        if entry.locality not in localities:
            context["errors"] = {"locality": "Choose one of your teams' localities"}
            return await render(request, "contacts.html", context, status=400)
        async with request.app[POOL_KEY].acquire() as conn:
            await report.record_contact(conn, entry.locality, entry.channel, entry.outcome, entry.by, entry.at)
        await flash(request, f"Contact logged for {entry.locality}.")
        raise web.HTTPSeeOther("/contacts")
    return await render(request, "contacts.html", context)


# --- the application -------------------------------------------------------------------


@web.middleware
async def pages_for_problems(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith(api.PREFIX):  # the APIs answer their own errors, in JSON
        return await handler(request)
    try:
        response = await handler(request)
    except Problem as p:
        response = await render(request, "problem.html", {"message": str(p)}, status=p.status)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as e:  # the service's own page, not the server's
        message = "There is no such page." if e.status == 404 else "That page cannot be used that way."
        response = await render(request, "problem.html", {"message": message}, status=e.status)
    except web.HTTPException as e:
        response = e
    if isinstance(response, web.HTTPException):
        raise response
    return response


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, error pages and the server's own 500 included."""
    response.headers.update(SECURITY_HEADERS)


def create_app(
    client: Client,
    pool: asyncpg.Pool,
    roles: Roles,
    task_queue: str,
    secure_cookies: bool = False,
    signer: Signer | None = None,
    idle_seconds: int = IDLE_SECONDS,
    provider: oidc.Provider | None = None,
    sent_file: Path | None = None,
    retention: RetentionRule | None = None,
) -> web.Application:
    # Sessions that sign-out really ends, sealed under a secret of the web app's own: from its signing key (so
    # every web process shares it), or, in a demo without one, a secret of this process (sessions end with it).
    secret = signer.derived_secret("web sessions") if signer else secrets.token_bytes(32)
    storage = PostgresStorage(pool, secret, idle_seconds, secure_cookies)
    app = web.Application(
        middlewares=[aiohttp_session.session_middleware(storage), pages_for_problems, require_sign_in, check_csrf],
        client_max_size=staff_api.BODY_LIMIT,  # a long safeguarding concern is never refused for its size
    )
    app[CLIENT_KEY], app[POOL_KEY], app[ROLES_KEY], app[TASK_QUEUE_KEY] = client, pool, roles, task_queue
    app[THROTTLE_KEY], app[OIDC_KEY], app[SENT_FILE_KEY] = Throttle(), provider, sent_file
    app[RETENTION_KEY] = retention or RetentionRule()  # (the council's rule: worker/config.py)
    app.on_response_prepare.append(security_headers)
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(HERE / "templates"),
                jinja2.PrefixLoader({"govuk_frontend_jinja": jinja2.PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=True,
    )
    # A navigation item for GOV.UK's service navigation: (href, text) and whether it is the current page.
    environment.filters["stage"] = stage_name
    environment.filters["gap"] = spoken_gap  # how long ago, in words ("3 days, 2 hours")
    environment.filters["plain"] = without_sources
    environment.filters["sentence"] = lambda text: text[:1].upper() + text[1:]  # (capitalize lowers the rest)
    environment.filters["zip_nav"] = lambda item, path: {"href": item[0], "text": item[1], "current": item[0] == path}
    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/", home),
            web.route("*", "/sign-in", sign_in_page),
            web.get("/sign-in/oidc", oidc_sign_in),
            web.get(oidc.CALLBACK, oidc_callback),
            web.post("/sign-out", sign_out),
            web.get("/inbox", inbox),
            web.get("/cases", cases),
            web.get("/cases/{case_id}", case_page),
            web.post("/cases/{case_id}/commands/{name}", command),
            web.post("/cases/{case_id}/safeguarding", safeguarding),
            web.get("/cases/{case_id}/documents/{document}", case_document),
            web.post("/cases/{case_id}/documents/{document}/post", post_document),
            web.post("/cases/{case_id}/files", keep_file),
            web.get("/cases/{case_id}/files/{document_id}", kept_file),
            web.post("/cases/{case_id}/files/{document_id}/remove", remove_file),
            web.get(r"/cases/{case_id}/chronology{format:(\.csv|\.pdf)?}", case_chronology),
            web.get(r"/cases/{case_id}/{paper:(assessment|plan)}{format:(\.pdf)?}", case_paper),
            web.get("/mash", mash_queue),
            web.post("/mash/{case_id}/{seq}/acknowledge", mash_acknowledge),
            web.get("/sent", sent_page),
            web.route("*", "/refer", refer),
            web.post("/refer/threshold", threshold),
            web.get("/report", report_page),
            web.route("*", "/contacts", contacts_page),
            web.route("*", "/retention", retention_page),
            web.get("/people", people_page),
            web.get(r"/people/record{format:(\.json|\.pdf)?}", person_record_page),
            web.route("*", "/account/command-line", cli_token_page),
            web.static("/static", HERE / "static"),
        ]
    )
    api.add_routes(app, signer)
    staff_api.add_routes(app)
    return app
