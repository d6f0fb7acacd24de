"""The staff API (`/api/v1/`): everything a practitioner or manager does, as JSON, for the `earlyhelp` CLI and
other clients. A staff machine needs only the web app's URL: no database URL, Temporal address or key.

Each call carries a login token (`POST /api/login`, or `earlyhelp login`) as a bearer and acts for that
person only. What they may see is decided as for the web app's pages: the same visibility of a case (and one
audit entry per view), the same localities on every list, and each command decided by the worker's role
check for the signed-in person, whatever `by` the body claims. The OpenAPI document is `/api/v1/openapi.json`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities import people_index, read_model, report, retention, subject_access
from activities.erasure import NotErasable, audit_trail, erase_case
from web.api import VERIFIER_KEY
from web.auth import ROLES_KEY, User, current_user, user_of
from web.cases import (
    CLIENT_KEY,
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
    visible_case,
)
from worker.identity import NotAuthenticated, acting_for
from worker.temporal import new_update_id, send_command, start_case
from workflows.bounds import Id, Reason, concern_parts, refusal
from workflows.calendar import LONDON
from workflows.case import EarlyHelpCase
from workflows.models import Event, Referral, SafeguardingConcern, Snapshot
from workflows.pathway import STEPS
from workflows.policy import Policy
from workflows.rules import RuleBroken

PREFIX = "/api/v1"
BY_NAME = {step.name: model for model, step in STEPS.items()}
LIMIT = 10_000  # rows of one list call
CONCERN_CHARACTERS = 3_000_000  # a concern pasted whole (a log, a transcript): sent in parts, never refused
BODY_LIMIT = 4 * CONCERN_CHARACTERS + 65_536  # the largest request body: such a concern as UTF-8, in JSON


class Concern(BaseModel):
    """A safeguarding concern through the API: its words, and (optionally) who the sender says they are."""

    model_config = ConfigDict(extra="forbid")
    details: str = Field(max_length=CONCERN_CHARACTERS)  # sent in parts of the signal's bound
    by: Id | None = None


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    locality: str = Field(max_length=64)
    channel: report.Channel
    outcome: report.ContactOutcome
    at: datetime | None = None


class Erasure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


def fail(status: int, message: str, **more: Any) -> web.HTTPException:
    kind = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound}
    kind |= {409: web.HTTPConflict, 410: web.HTTPGone, 422: web.HTTPUnprocessableEntity}
    return kind.get(status, web.HTTPServiceUnavailable)(
        text=web.json_response({"error": message, **more}).text, content_type="application/json"
    )


@web.middleware
async def signed_in(request: web.Request, handler: Any) -> web.StreamResponse:
    """The bearer's person, or 401; a problem of the shared case code as JSON, never an HTML page."""
    if request.path != PREFIX + "/openapi.json":
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if VERIFIER_KEY not in request.config_dict:
            raise fail(401, "this web app signs nobody in to its API (EARLYHELP_SIGNING_KEY is not set)")
        try:
            person = request.config_dict[VERIFIER_KEY].login(bearer, datetime.now(UTC))
        except NotAuthenticated as e:
            raise fail(401, f"{e.message}: sign in again (earlyhelp login)") from None
        roles = request.config_dict[ROLES_KEY]
        if not roles.people.get(person):
            raise fail(401, f"{person} no longer has a role in this service")
        request["user"] = user_of(roles, person)
    try:
        return await handler(request)
    except Problem as p:
        raise fail(p.status, str(p)) from None


async def body(request: web.Request, model: Any) -> Any:
    try:
        return TypeAdapter(model).validate_json(await request.read())
    except ValidationError as e:
        raise fail(422, f"invalid {getattr(model, '__name__', 'body')}: {refusal(e)}") from None


def scope(user: User, asked: str | None) -> str | frozenset[str] | None:
    """The localities a list covers: the one asked for if it is the person's, else all of theirs."""
    if asked is None:
        return user.localities
    if user.localities is not None and asked not in user.localities:
        raise fail(403, f"locality: {asked!r} is not one of your teams' localities")
    return asked


def managers_only(user: User, what: str) -> None:
    if not user.is_manager:
        raise fail(403, f"{what} is for team managers")


def rows(found: list[dict[str, Any]]) -> web.Response:
    return web.json_response(found, dumps=lambda v: TypeAdapter(Any).dump_json(v).decode())


# --- a case ---------------------------------------------------------------------------------


async def snapshot(request: web.Request) -> web.Response:
    snap = await visible_case(request, request.match_info["case_id"])
    return web.json_response(text=snap.model_dump_json())


async def timeline(request: web.Request) -> web.Response:
    case_id = request.match_info["case_id"]
    snap = await visible_case(request, case_id)
    async with request.config_dict[POOL_KEY].acquire() as conn:  # every run's events (README "Bounded history")
        complete = await read_model.saved_up_to(conn, case_id, snap.events, within=5.0)
        events = await read_model.timeline(conn, case_id, sealer_of(request))
    headers = {} if complete else {"Warning": '199 - "the latest events are not saved yet"'}
    return web.json_response(text=TypeAdapter(list[Event]).dump_json(events).decode(), headers=headers)


async def command(request: web.Request) -> web.Response:
    """One command for the signed-in person: `by` defaults to them, and a `by` naming anyone else is refused
    by the worker (not_authenticated). `Idempotency-Key`: send it again with the same key, recorded once."""
    case_id, name = request.match_info["case_id"], request.match_info["name"]
    if name not in BY_NAME:
        raise fail(404, f"there is no command {name!r}")
    await visible_case(request, case_id)
    user = current_user(request)
    raw = await body(request, dict[str, Any])
    try:
        cmd = BY_NAME[name].model_validate({"by": user.id} | raw)
    except ValidationError as e:
        raise fail(422, f"invalid {BY_NAME[name].__name__}: {refusal(e)}") from None
    key = request.headers.get("Idempotency-Key") or new_update_id()
    if len(key) > 200:
        raise fail(422, "Idempotency-Key: at most 200 characters")
    acting_for.set(user.id)
    try:
        snap: Snapshot = await engine(send_command(request.config_dict[CLIENT_KEY], case_id, name, cmd, key))
    except Problem as p:
        if p.status == 404:
            raise fail(409, "the case has ended and takes no more commands: nothing was recorded") from None
        raise
    except WorkflowUpdateFailedError as e:
        cause: Any = e.cause
        details = getattr(cause, "details", None) or ()
        raise fail(
            422,
            getattr(cause, "message", str(cause)),
            rule=str(details[0]) if details else getattr(cause, "type", None),
        ) from None
    return web.json_response(text=snap.model_dump_json())


async def safeguarding(request: web.Request) -> web.Response:
    """Never refused for what it says or who may see the case [DOMAIN 8]: the concern is signalled for the
    proven sender; a claimed `by` naming someone else is recorded in the words, never as the actor."""
    case_id, user = request.match_info["case_id"], current_user(request)
    concern = await body(request, Concern)
    await engine(handle(request, case_id).describe())  # a clear 'no such case' (another team's case too)
    details = concern.details
    if concern.by not in (None, user.id):
        details = f"(sent by {user.id}, who gave the name {concern.by}) {details}"
    parts = concern_parts(details)
    for part in parts:
        await engine(
            handle(request, case_id).signal(
                EarlyHelpCase.safeguarding_concern, SafeguardingConcern(by=user.id, details=part)
            )
        )
    return web.json_response({"case_id": case_id, "by": user.id, "parts": len(parts)}, status=202)


async def refer(request: web.Request) -> web.Response:
    user = current_user(request)
    referral_by(user, {})  # (who may refer at all)
    raw = referral_by(user, await body(request, dict[str, Any]))
    raw.setdefault("received_at", datetime.now(UTC).isoformat())
    try:
        referral = Referral.model_validate(raw | {"keyed_by": user.id})
    except ValidationError as e:
        raise fail(422, f"invalid Referral: {refusal(e)}") from None
    if not user.sees(referral.locality, None):
        raise fail(403, f"locality: {referral.locality!r} is not one of your teams' localities")
    try:
        case = await engine(start_case(request.config_dict[CLIENT_KEY], referral, request.config_dict[TASK_QUEUE_KEY]))
    except RuleBroken as e:
        raise fail(422, str(e), rule=e.rule) from None
    except WorkflowAlreadyStartedError:
        raise fail(
            409, f"case_id: a case {referral.case_id} exists already (never reused): nothing was recorded"
        ) from None
    snap: Snapshot = await engine(case.query(EarlyHelpCase.snapshot))
    return web.json_response(text=snap.model_dump_json(), status=201)


async def keep_file(request: web.Request) -> web.Response:
    """A document kept on the case (web/cases.py keep_document): its bytes as the body, `kind` and `filename` in
    the query; `Idempotency-Key` (optional) makes the same upload sent again kept once."""
    case_id, q = request.match_info["case_id"], request.query
    key = request.headers.get("Idempotency-Key", "")
    update_id = f"api-file-{key}" if re.fullmatch(r"[A-Za-z0-9_-]{16,64}", key) else new_update_id()
    content = await request.read()  # the whole body (a stream's read(n) gives what has arrived so far)
    document_id = await keep_document(request, case_id, content, q.get("filename", ""), q.get("kind", ""), update_id)
    return web.json_response({"case_id": case_id, "document_id": document_id}, status=201)


async def post_document(request: web.Request) -> web.Response:
    """A case's letter sent by post to the family (web/cases.py post_letter): 202 as it is posted, 200 if it was
    posted before, 409 without a parent's name and the family's address."""
    case_id, number = request.match_info["case_id"], request.match_info["document"]
    posted = await post_letter(request, case_id, number)
    return web.json_response(
        {"case_id": case_id, "document": int(number), "posted": posted}, status=202 if posted else 200
    )


async def erase(request: web.Request) -> web.Response:
    """Erase a closed case (a manager of the case's own team): its key destroyed, its statistics kept."""
    case_id, user = request.match_info["case_id"], current_user(request)
    wanted = await body(request, Erasure)
    async with request.config_dict[POOL_KEY].acquire() as conn:
        await managed_case(conn, request, user, case_id)
        try:
            await erase_case(conn, case_id, user.id, wanted.reason)
        except NotErasable as e:
            raise fail(409, str(e)) from None
    return web.json_response({"case_id": case_id, "erased_by": user.id})


async def retention_decision(request: web.Request) -> web.Response:
    """A retention review's decision on a closed case: keep it until a later review, or erase it."""
    case_id, user = request.match_info["case_id"], current_user(request)
    wanted = await body(request, retention.RetentionDecision)
    async with request.config_dict[POOL_KEY].acquire() as conn:
        await managed_case(conn, request, user, case_id)
        try:
            outcome = await retention.decide(conn, case_id, user.id, wanted, datetime.now(LONDON).date())
        except retention.NotDecidable as e:
            raise fail(409, str(e)) from None
    return web.json_response({"case_id": case_id, "decision": outcome, "by": user.id})


# --- lists, reports and exports: each within the person's localities ---------------------------


async def find(request: web.Request) -> web.Response:
    """Cases the person may see (their teams' and those they lead), as the web app's case list finds them."""
    user, q = current_user(request), request.query
    found = list_filters(q)
    if found["locality"]:
        scope(user, found["locality"])
    per_page = min(int(q["per_page"]), LIMIT) if q.get("per_page", "").isdigit() else read_model.PAGE_SIZE
    async with request.config_dict[POOL_KEY].acquire() as conn:
        listed, total = await read_model.find_cases(
            conn,
            scope=user.localities,
            lead_or_scope=user.id,
            per_page=max(per_page, 1),
            sealer=sealer_of(request),
            **found,
        )
    return web.json_response(
        {"total": total, "page": found["page"], "rows": listed},
        dumps=lambda v: TypeAdapter(Any).dump_json(v).decode(),
    )


async def people(request: web.Request) -> web.Response:
    """People of the teams' open and closed cases matching every part asked (screeners and managers)."""
    user = current_user(request)
    if not user.refers:
        raise fail(403, "finding a person is for screeners and managers")
    try:
        search = people_index.PersonSearch.model_validate(dict(request.query))
    except ValidationError as e:
        raise fail(400, f"invalid search: {refusal(e)}") from None
    async with request.config_dict[POOL_KEY].acquire() as conn:
        found = await people_index.find_people(
            conn, search, scope=user.localities, lead_or_scope=user.id, sealer=sealer_of(request)
        )
        await people_index.audit_found(conn, found, user.id, "staff API")
    return rows(found)


async def caseload(request: web.Request) -> web.Response:
    user, q = current_user(request), request.query
    async with request.config_dict[POOL_KEY].acquire() as conn:
        return rows(await read_model.caseload(conn, q.get("lead"), scope(user, q.get("locality")), LIMIT))


async def due(request: web.Request) -> web.Response:
    user, q = current_user(request), request.query
    hours = q.get("within_hours", "168")
    if not hours.isdigit() or int(hours) > 24 * 366:
        raise fail(400, "within_hours: a whole number of hours, at most a year")
    async with request.config_dict[POOL_KEY].acquire() as conn:
        found = await read_model.due(
            conn,
            datetime.now(UTC),
            overdue=q.get("overdue") == "1",
            within=timedelta(hours=int(hours)),
            lead=q.get("lead"),
            locality=scope(user, q.get("locality")),
            limit=LIMIT,
        )
    return rows(found)


async def approvals(request: web.Request) -> web.Response:
    user = current_user(request)
    managers_only(user, "deciding closures")
    async with request.config_dict[POOL_KEY].acquire() as conn:
        found = await read_model.approvals(
            conn, manager=user.id, locality=scope(user, request.query.get("locality")), limit=LIMIT
        )
    return rows(found)


async def performance(request: web.Request) -> web.Response:
    """Counts with no family data: any manager may compare localities (as on the report page)."""
    managers_only(current_user(request), "the performance report")
    try:
        start, end = date.fromisoformat(request.query["from"]), date.fromisoformat(request.query["to"])
    except (KeyError, ValueError):
        raise fail(400, "from, to: both dates, YYYY-MM-DD") from None
    locality = request.query.get("locality") or None
    if locality is not None and locality not in Policy().localities:
        raise fail(404, f"locality: there is no locality {locality!r}")
    result = await report.performance(request.config_dict[POOL_KEY], start, end, locality)
    return web.json_response(text=result.model_dump_json())


async def person_record(request: web.Request) -> web.Response:
    """A subject access export (managers): everything held about one person in their teams' cases, others
    redacted (activities/subject_access.py); each case in it is audited."""
    managers_only(user := current_user(request), "a subject access export")
    try:
        person_ref = TypeAdapter(Id).validate_python(request.match_info["person_ref"])
    except ValidationError as e:
        raise fail(400, f"person_ref: {refusal(e)}") from None
    async with request.config_dict[POOL_KEY].acquire() as conn:
        record = await subject_access.person_record(conn, person_ref, sealer_of(request), user.sees, datetime.now(UTC))
        await subject_access.audited(conn, record, user.id, "subject access export")
    return web.json_response(text=record.model_dump_json())


async def retention_due(request: web.Request) -> web.Response:
    """Closed cases of the manager's teams due for a retention review by `on` (default: today)."""
    managers_only(user := current_user(request), "retention reviews")
    try:
        on = date.fromisoformat(request.query["on"]) if "on" in request.query else datetime.now(LONDON).date()
    except ValueError:
        raise fail(400, "on: a date, YYYY-MM-DD") from None
    async with request.config_dict[POOL_KEY].acquire() as conn:
        found = await retention.due_for_review(
            conn, on, request.config_dict[RETENTION_KEY], scope(user, request.query.get("locality"))
        )
    return rows(found)


async def ssd_episodes(request: web.Request) -> web.Response:
    managers_only(user := current_user(request), "the SSD export")
    async with request.config_dict[POOL_KEY].acquire() as conn:
        return rows(await read_model.ssd_early_help_episodes(conn, user.localities, sealer_of(request)))


async def audit(request: web.Request) -> web.Response:
    """Who did what to which of the manager's teams' cases (and who viewed them), and when."""
    managers_only(user := current_user(request), "the audit trail")
    q = request.query
    async with request.config_dict[POOL_KEY].acquire() as conn:
        found = await audit_trail(conn, q.get("case"), q.get("by"), user.localities)
    if q.get("viewed") == "1":
        found = [r for r in found if r["what"] == "viewed"]
    return rows(found)


async def contact(request: web.Request) -> web.Response:
    """An advice point's contact, counted for the report (never a case) [002], by the signed-in person."""
    user = current_user(request)
    wanted = await body(request, Contact)
    scope(user, wanted.locality)
    try:
        entry = report.AdviceContact.model_validate(
            {**wanted.model_dump(), "by": user.id, "at": wanted.at or datetime.now(UTC)}
        )
    except ValidationError as e:
        raise fail(422, f"invalid contact: {refusal(e)}") from None
    async with request.config_dict[POOL_KEY].acquire() as conn:
        await report.record_contact(conn, entry.locality, entry.channel, entry.outcome, entry.by, entry.at)
    return web.json_response(entry.model_dump(mode="json"), status=201)


async def me(request: web.Request) -> web.Response:
    user = current_user(request)
    localities = sorted(user.localities) if user.localities is not None else None
    return web.json_response({"person": user.id, "roles": sorted(user.roles), "localities": localities})


# --- the OpenAPI document ----------------------------------------------------------------------


def _json(schema: Any) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def openapi() -> dict[str, Any]:
    """Made from the same models the handlers validate with, so it cannot drift from them."""
    schemas: dict[str, Any] = {}

    def ref(model: Any) -> dict[str, Any]:
        name = getattr(model, "__name__", None) or str(model)
        schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}

    snap = _json(ref(Snapshot))
    listed = _json({"type": "array", "items": {"type": "object"}})
    case_param = [{"name": "case_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    paths: dict[str, Any] = {
        "/me": {"get": {"summary": "who is signed in: roles and localities", "responses": {"200": {}}}},
        "/cases": {"get": {"summary": "cases the person may see (filters as the web app's case list)"}},
        "/referrals": {"post": {"summary": "start a case", "requestBody": _json(ref(Referral)), "responses": {}}},
        "/cases/{case_id}": {"get": {"summary": "the case's snapshot", "parameters": case_param, "responses": {}}},
        "/cases/{case_id}/timeline": {
            "get": {
                "summary": "the case's events",
                "parameters": case_param,
                "responses": {"200": _json(ref(list[Event]))},
            }
        },
        "/cases/{case_id}/safeguarding": {
            "post": {"summary": "a safeguarding concern (never refused)", "requestBody": _json(ref(Concern))}
        },
        "/cases/{case_id}/erasure": {"post": {"summary": "erase a closed case", "requestBody": _json(ref(Erasure))}},
        "/cases/{case_id}/files": {
            "post": {"summary": "keep a document on the case: its bytes as the body; ?kind=&filename="}
        },
        "/cases/{case_id}/documents/{document}/post": {
            "post": {"summary": "send one of the case's letters to the family by post (GOV.UK Notify), once"}
        },
        "/people": {"get": {"summary": "find a person by name, date of birth, postcode, NHS number or UPN"}},
        "/caseload": {"get": {"summary": "open cases", "responses": {"200": listed}}},
        "/due": {"get": {"summary": "deadlines overdue and coming up", "responses": {"200": listed}}},
        "/approvals": {"get": {"summary": "closures awaiting a decision (managers)", "responses": {"200": listed}}},
        "/report": {
            "get": {"summary": "performance figures (managers)", "responses": {"200": _json(ref(report.Report))}}
        },
        "/ssd-episodes": {"get": {"summary": "SSD early help episodes (managers)", "responses": {"200": listed}}},
        "/people/{person_ref}/record": {
            "get": {
                "summary": "a subject access export: one person's record, others redacted (managers)",
                "responses": {"200": _json(ref(subject_access.PersonRecord))},
            }
        },
        "/retention": {
            "get": {"summary": "closed cases due for a retention review (managers)", "responses": {"200": listed}}
        },
        "/cases/{case_id}/retention": {
            "post": {
                "summary": "a retention review's decision: keep until a later review, or erase",
                "requestBody": _json(ref(retention.RetentionDecision)),
            }
        },
        "/audit": {"get": {"summary": "who did or viewed what (managers)", "responses": {"200": listed}}},
        "/contacts": {"post": {"summary": "log an advice point contact", "requestBody": _json(ref(Contact))}},
    }
    paths["/referrals"]["post"]["responses"] = {"201": snap}
    paths["/cases/{case_id}"]["get"]["responses"] = {"200": snap}
    for name, model in BY_NAME.items():
        paths[f"/cases/{{case_id}}/commands/{name}"] = {
            "post": {
                "summary": (model.__doc__ or name).strip().splitlines()[0],
                "parameters": case_param,
                "requestBody": _json(ref(model)),
                "responses": {"200": snap},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "earlyhelp staff API", "version": "1"},
        "servers": [{"url": PREFIX}],
        "components": {"schemas": schemas, "securitySchemes": {"login": {"type": "http", "scheme": "bearer"}}},
        "security": [{"login": []}],
        "paths": paths,
    }


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(openapi())


def add_routes(app: web.Application) -> None:
    """A sub-application: its own middleware answers in JSON; the web app's keys are read through it."""
    api = web.Application(middlewares=[signed_in])  # (its body limit is the web app's: BODY_LIMIT)
    api.add_routes(
        [
            web.get("/openapi.json", openapi_document),
            web.get("/me", me),
            web.get("/cases", find),
            web.post("/referrals", refer),
            web.get("/cases/{case_id}", snapshot),
            web.get("/cases/{case_id}/timeline", timeline),
            web.post("/cases/{case_id}/commands/{name}", command),
            web.post("/cases/{case_id}/safeguarding", safeguarding),
            web.post("/cases/{case_id}/erasure", erase),
            web.post("/cases/{case_id}/retention", retention_decision),
            web.post("/cases/{case_id}/documents/{document}/post", post_document),
            web.post("/cases/{case_id}/files", keep_file),
            web.get("/retention", retention_due),
            web.get("/people", people),
            web.get("/people/{person_ref}/record", person_record),
            web.get("/caseload", caseload),
            web.get("/due", due),
            web.get("/approvals", approvals),
            web.get("/report", performance),
            web.get("/ssd-episodes", ssd_episodes),
            web.get("/audit", audit),
            web.post("/contacts", contact),
        ]
    )
    app.add_subapp(PREFIX, api)
