"""A case as every door of the web app finds it for a person (pages and the staff API alike): the engine's
failures as problems a person can act on, and visibility decided, and each view audited, in one place."""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import asyncpg
from aiohttp import web
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities import case_files, delivery, read_model
from activities.effects import addressee
from activities.follow_ups import start_follow_ups
from activities.retention import RetentionRule
from web.auth import ROLES_KEY, current_user
from worker.authz import Scope
from worker.codec import CaseErased
from worker.identity import acting_for
from worker.sealing import Sealer
from worker.temporal import case_workflow_id, send_command
from workflows.case import EarlyHelpCase
from workflows.models import RecordDocument, Snapshot

CLIENT_KEY, POOL_KEY = web.AppKey("client", Client), web.AppKey("pool", asyncpg.Pool)
TASK_QUEUE_KEY = web.AppKey("task_queue", str)
RETENTION_KEY = web.AppKey("retention", RetentionRule)
FOR_THE_FAMILY = frozenset({"visit_letter"})  # the case's letters written to the family (the rest are the service's)
# Another team's case looks like no case, at every door.
NOT_VISIBLE = "There is no such case in your teams' caseload."


def sealer_of(request: web.Request) -> Sealer:
    """The read model's personal values open with the codec the client decodes histories with."""
    return Sealer(request.config_dict[CLIENT_KEY].data_converter.payload_codec)


class Problem(Exception):
    """A page that cannot be shown, with the status and what to tell the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def managed_case(conn: asyncpg.Connection, request: web.Request, user: Any, case_id: str) -> None:
    """The case is one of the person's teams' (else: no such case) and they may erase it, a manager of its team:
    the same decision at a retention review, to keep it or to erase it (every door asks here)."""
    row = await conn.fetchrow("SELECT locality, lead_practitioner FROM cases WHERE case_id = $1", case_id)
    if row is None or not user.sees(row["locality"], row["lead_practitioner"]):
        raise Problem(404, NOT_VISIBLE)
    try:
        request.config_dict[ROLES_KEY].check(
            "erase", user.id, Scope(case_id, row["locality"], row["lead_practitioner"])
        )
    except ApplicationError as e:
        raise Problem(403, e.message) from None


def referral_by(user: Any, referral: dict[str, Any]) -> dict[str, Any]:
    """What a person may refer, at every door: EH Duty and Advice and managers any family [000]; a social worker
    a step-down, as its social worker [004] (the route and the social worker default to that)."""
    if user.refers:
        return referral
    if not user.refers_a_step_down:
        raise Problem(
            403, "Referrals are taken by EH Duty and Advice (screeners), managers and, of a step-down, social workers."
        )
    step_down = referral.get("step_down") or {}
    if not isinstance(step_down, dict):
        return referral | {"route": "step_down"}  # (the model then says what is wrong with it)
    if referral.get("route", "step_down") != "step_down":
        raise Problem(403, "route: a social worker refers a step-down from children's social care only")
    if step_down.get("social_worker", user.id) != user.id:
        raise Problem(403, f"step_down.social_worker: a social worker refers their own step-down ({user.id})")
    return referral | {"route": "step_down", "step_down": step_down | {"social_worker": user.id}}


async def post_letter(request: web.Request, case_id: str, number: str) -> bool:
    """Send one of the case's letters by post (GOV.UK Notify's letter API), to a parent or carer at the family's
    address as the family record has them, once a letter (every door: the case page, the staff API, the CLI).
    True if it is being posted now, False if it was posted before. Nothing is sent without a full address (409)."""
    await visible_case(request, case_id)
    if not number.isdigit() or len(number) > 18:
        raise Problem(404, "There is no such letter.")
    async with request.config_dict[POOL_KEY].acquire() as conn:
        doc = await read_model.document(conn, case_id, int(number), sealer_of(request))
    if doc is None:
        raise Problem(404, "There is no such letter on this case.")
    if doc["kind"] not in FOR_THE_FAMILY:
        raise Problem(409, "only a letter to the family is sent to them by post (this one is for the service).")
    details = await engine(handle(request, case_id).query(EarlyHelpCase.details))
    name, lines = addressee({"people": [m.model_dump(mode="json") for m in details.members]})
    address = [line for line in (name, *lines) if line]
    if not name or len(address) < 3:
        raise Problem(409, "record a parent or carer's name and the family's address first.")
    async with request.config_dict[POOL_KEY].acquire() as conn:
        item = await delivery.post_letter(conn, case_id, int(number), address, sealer_of(request))
    if item is not None:
        client, queue = request.config_dict[CLIENT_KEY], request.config_dict[TASK_QUEUE_KEY]
        await start_follow_ups([delivery.delivery(item)], client=client, task_queue=queue)
    return item is not None


FILE_KINDS = ("consent_form", "school_report", "health_report", "cin_plan", "court_order", "other")


async def keep_document(
    request: web.Request, case_id: str, content: bytes, filename: str, kind: str, update_id: str
) -> str:
    """A document kept on the case, at every door (the case page's form, the staff API, the CLI): checked by its
    content, sealed under the case's key, then recorded by the `record_document` command; refused (422, in words),
    nothing is left behind. The same `update_id` sent again keeps it once. Returns its document id."""
    await visible_case(request, case_id)
    if kind not in FILE_KINDS:
        raise Problem(422, f"kind: choose what the document is, one of {', '.join(FILE_KINDS)}")
    try:
        checked = case_files.check(content, filename)
    except case_files.FileRefused as e:
        raise Problem(422, f"This file was not kept: {e}.") from None
    user = current_user(request)
    document_id = "DOC-" + hashlib.sha256(update_id.encode()).hexdigest()[:12]
    command = RecordDocument(
        by=user.id, document_id=document_id, kind=kind, sha256=checked.sha256, filename=checked.filename
    )
    async with request.config_dict[POOL_KEY].acquire() as conn:
        await case_files.keep(conn, case_id, document_id, checked, sealer_of(request))
    acting_for.set(user.id)
    try:
        await engine(send_command(request.config_dict[CLIENT_KEY], case_id, "record_document", command, update_id))
    except WorkflowUpdateFailedError as e:  # refused: nothing left behind
        async with request.config_dict[POOL_KEY].acquire() as conn:
            await case_files.forget(conn, case_id, document_id)
        raise Problem(422, f"This file was not kept: {getattr(e.cause, 'message', str(e))}") from None
    # (The engine not answering: the file stays for the same form sent again, which records it once.)
    return document_id


def handle(request: web.Request, case_id: str) -> Any:
    return request.config_dict[CLIENT_KEY].get_workflow_handle(case_workflow_id(case_id))


async def engine(call: Any) -> Any:
    """Await a call to Temporal, turning its failures into pages a person can act on."""
    try:
        return await call
    except CaseErased as e:
        raise Problem(410, str(e)) from None
    except WorkflowQueryFailedError as e:  # the worker could not encode its answer: the case's key is gone
        if CaseErased.said_in(e.message):
            raise Problem(410, "This case has been erased: its data can no longer be decoded.") from None
        raise Problem(503, "The case did not answer, so nothing is shown. Try again shortly.") from None
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Problem(404, "There is no such case.") from None
        raise Problem(503, "The case engine is not answering, so nothing was recorded. Try again shortly.") from None


def view_of(path: str) -> str:
    """What a page of a case showed, in words."""
    for ending, words in (
        ("/chronology.csv", "chronology downloaded (CSV)"),
        ("/chronology.pdf", "chronology downloaded (PDF)"),
        ("/chronology", "chronology printed"),
    ):
        if path.endswith(ending):
            return words
    if path.startswith("/api/"):
        return "chronology read" if path.endswith("/timeline") else "case read"
    return "letter opened" if "/documents/" in path else "case page"


async def viewers(conn: Any, case_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The latest views of a case, by whom and where (the audit log)."""
    rows = await conn.fetch(
        "SELECT at, actor, reason FROM audit_log WHERE case_id = $1 AND action = 'viewed' ORDER BY at DESC LIMIT $2",
        case_id,
        limit,
    )
    return [dict(r) for r in rows]


async def visible_case(request: web.Request, case_id: str) -> Snapshot:
    """The case's snapshot, if the signed-in person may see it (another team's case looks like no case).
    Decided by the case's own record (its referral's locality, later transfers, its lead), never by whatever
    run holds the id now: a run started again under an ended case's id cannot open that case's chronology.
    Only a case too new to be in the read model is judged by its snapshot."""
    snap: Snapshot = await engine(handle(request, case_id).query(EarlyHelpCase.snapshot))
    async with request.config_dict[POOL_KEY].acquire() as conn:
        record = await conn.fetchrow("SELECT locality, lead_practitioner FROM cases WHERE case_id = $1", case_id)
    locality, lead = (
        (record["locality"], record["lead_practitioner"]) if record else (snap.locality, snap.lead_practitioner)
    )
    user = current_user(request)
    if not user.sees(locality, lead):
        raise Problem(404, NOT_VISIBLE)
    if request.method == "GET":  # every view of a case, by any page, once: who viewed what, when
        async with request.config_dict[POOL_KEY].acquire() as conn:
            await conn.execute(
                "INSERT INTO audit_log (actor, action, case_id, reason) VALUES ($1, 'viewed', $2, $3)",
                user.id,
                case_id,
                f"{'staff API' if request.path.startswith('/api/') else 'web app'}: {view_of(request.path)}",
            )
    return snap


async def settled(request: web.Request, case_id: str, within: float = 2.0) -> None:
    """Wait (briefly) until the read model has the case's latest events, so the lists shown next include
    what the person just did. The engine saves events just after it accepts a command (milliseconds)."""
    events = (await engine(handle(request, case_id).query(EarlyHelpCase.snapshot))).events
    deadline = asyncio.get_running_loop().time() + within
    async with request.config_dict[POOL_KEY].acquire() as conn:
        while (await conn.fetchval("SELECT last_seq FROM cases WHERE case_id = $1", case_id) or 0) < events:
            if asyncio.get_running_loop().time() > deadline:
                return  # the lists catch up on their own; the case page is always current
            await asyncio.sleep(0.02)


# The case list's filters as the query string gives them: each bounded, anything else ignored.
_FILTER_TEXT = re.compile(r"^[A-Za-z0-9_.@:/-]{0,64}$")


def list_filters(query: Any) -> dict[str, Any]:
    def text(name: str) -> str:
        value = str(query.get(name, "")).strip()
        return value if _FILTER_TEXT.match(value) else ""

    page = text("page")
    return {
        "text": text("q"),
        "stage": text("stage"),
        "locality": text("locality"),
        "lead": text("lead"),
        "overdue": query.get("overdue") == "1",
        "awaiting": query.get("awaiting") == "1",
        "closed": query.get("status") == "closed",
        "sort": text("sort") if text("sort") in read_model.SORTS else "deadline",
        "descending": query.get("dir") == "desc",
        "page": min(int(page), 10_000) if page.isdigit() and page != "0" else 1,
    }
