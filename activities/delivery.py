"""Delivering the outbox through GOV.UK Notify: at least once, recognised once.

Once the save that wrote a row of `notifications` has committed, the worker
sends it at once (`dispatch`: no workflow, no activity task) and follows its
status for the first half-minute, as most emails are final by then: in bulk,
one list call for all it sent (activities/statuses.py). Only what
that does not settle is handed to a `Delivery` workflow of its own
(workflows/delivery.py, id `delivery-<row id>`), which retries durably,
follows the status for up to three days and escalates: a send Notify did not
take in three tries (an outage, a rate limit), a status not yet final. The
outbox sweep hands over what a worker that died left behind. Notify's
`reference` carries the row's id, so a send retried after a crash (the email
went, the worker died before recording it) is found at Notify and recorded,
never sent twice. Errors that a retry cannot mend (no address, a refused
request) fail at once and are escalated. Logs carry ids and codes only: never
an address, a subject or a body.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.follow_ups import FollowUp, start_follow_ups
from activities.notify_calls import NotifyCalls
from activities.statuses import Statuses
from worker.sealing import Sealer
from workflows.interfaces import FAILED, FINAL, UNDELIVERABLE

# Every kind of message the engine writes (activities/effects.py), each with a Notify template of its own.
KINDS = (
    "referrer_feedback",
    "reminder",
    "escalation",
    "social_care_feedback",
    "mash_referral",
    "mash_unacknowledged",
    "delivery_failed",
    "digest",
    "taf_invitation",  # to a Team Around the Family meeting, by email to each invitee (their own address)
    "posted_letter",  # a letter to a family, sent by post through Notify's letter API (a letter template)
)
LETTERS = frozenset({"posted_letter"})  # their recipient is the address: name, lines and postcode, a line each
FIRST_LOOK_SECONDS, FOLLOW_SECONDS = 5.0, 35.0  # a send's status is read after 5, 15 and 35 s (then by timers)
# Sent at once by the worker: tries (a second apart, doubling) before a Delivery workflow takes over, and how many
# messages the worker sends at a time.
DISPATCH_TRIES, DISPATCH_AT_ONCE = 3, 20
# A row sent but not final, with no delivery following it (its worker died mid-follow), is handed over after this.
HAND_OVER_AFTER_SECONDS = 120.0
# A row not sent is handed over no sooner than this after it was written: longer than the worker's own tries can
# take (three sends, each call up to 20 s, and their waits), so that a Delivery workflow never sends beside a
# worker still trying (the workflow, and the worker's retries, check Notify for the reference first).
DISPATCH_SECONDS = 150.0
log = structlog.get_logger("earlyhelp.delivery")


def delivery(item_id: int) -> FollowUp:
    """The workflow that delivers an item (workflows/delivery.py): its id makes a second start a no-op."""
    return ("Delivery", item_id, f"delivery-{item_id}")


async def post_letter(
    conn: asyncpg.Connection, case_id: str, document_id: int, address: list[str], sealer: Sealer
) -> int | None:
    """Queue one of a case's letters for the post (Notify's letter API), sealed as every message is: its
    address (name, lines, postcode), title and text. A letter is posted once: None if it was already."""
    doc = await conn.fetchrow(
        "SELECT seq, kind, text FROM documents WHERE case_id = $1 AND id = $2", case_id, document_id
    )
    if doc is None:
        return None
    text = await sealer.open_text(case_id, doc["text"])
    title = doc["kind"].replace("_", " ").capitalize()
    item: int | None = await conn.fetchval(
        "INSERT INTO notifications (case_id, seq, kind, recipient, subject, body) VALUES ($1, $2, 'posted_letter',"
        " $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
        case_id,
        doc["seq"],
        *[await sealer.seal_text(case_id, value) for value in ("\n".join(address), title, text)],
    )
    return item


def reference(item_id: int) -> str:
    return f"earlyhelp-notification-{item_id}"


@dataclass(frozen=True)
class Directory:
    """Who gets what: staff ids and mailboxes (`manager:<locality>`, `mash`) to email addresses (the roles
    file's [emails] table), and each kind of message to its Notify template id."""

    emails: Mapping[str, str]
    templates: Mapping[str, str]

    def address(self, recipient: str) -> str | None:
        return recipient if "@" in recipient else self.emails.get(recipient)


class DeliveryActivities:
    def __init__(
        self,
        pool: asyncpg.Pool,
        sealer: Sealer,
        notify: Callable[[], NotificationsAPIClient] | None,
        directory: Directory,
        first_look: float = FIRST_LOOK_SECONDS,
    ) -> None:
        # notify None: no Notify API key is configured, so nothing is sent (the outbox keeps every item).
        self.pool, self.sealer, self.notify, self.directory = pool, sealer, notify, directory
        self.first_look = first_look
        self._at_once = asyncio.Semaphore(DISPATCH_AT_ONCE)
        self._calls = NotifyCalls(notify) if notify is not None else None
        # What the dispatcher sent, followed in bulk: a list call for all of them, not a read each.
        self.statuses = Statuses(pool, self._notify, first_look, FOLLOW_SECONDS, self._at_once)
        self._in_flight: set[asyncio.Task[None]] = set()  # kept referenced until done
        self.handed_over: deque[int] = deque(maxlen=1000)  # the latest sent to a Delivery workflow (for tests)

    def dispatch(self, item_ids: list[int]) -> None:
        """Send these rows now, in the background (the save's transaction has committed; the command's reply
        does not wait). A row this cannot settle goes to a Delivery workflow; if the worker dies first, the
        outbox sweep hands it over (`undelivered`). Called from an activity (the save), whose client and task
        queue start the workflows; the sends run outside its context (it ends before they do)."""
        to = (activity.client(), activity.info().task_queue)
        for item_id in item_ids:
            task = asyncio.get_running_loop().create_task(self._dispatch(item_id, to), context=contextvars.Context())
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _dispatch(self, item_id: int, to: tuple[Client, str]) -> None:
        status: str | None = None
        undeliverable = False  # (no address, refused: recorded as failed by `deliver`, escalated below)
        wait = 1.0
        for attempt in range(DISPATCH_TRIES):
            try:
                async with self._at_once:
                    # (the first try sends without asking Notify first: no one has sent this row before)
                    notify_id = await self.send_once(item_id, look_first=attempt > 0)
                status = await self.statuses.final(item_id, notify_id)
                break
            except ApplicationError as e:
                if e.type == UNDELIVERABLE:
                    undeliverable = True
                    break
                log.info("delivery retried", item=item_id, attempt=attempt + 1, error=e.type)
            except Exception as e:  # noqa: BLE001 (an outage: a Delivery workflow retries it durably)
                log.info("delivery retried", item=item_id, attempt=attempt + 1, error=type(e).__name__)
            if attempt + 1 < DISPATCH_TRIES:
                await asyncio.sleep(wait)
                wait *= 2
        client, queue = to
        if undeliverable or status in FAILED:
            try:
                if (escalation := await self._write_escalation(item_id)) is not None:
                    await start_follow_ups([delivery(escalation)], client=client, task_queue=queue)
                return
            except Exception as e:  # noqa: BLE001 (the Delivery workflow below escalates it durably)
                log.warning("escalation handed over", item=item_id, error_type=type(e).__name__)
        elif status in FINAL:
            return
        # Not sent in its tries, not yet final, or its escalation not written: a workflow takes it from here.
        self.handed_over.append(item_id)
        await start_follow_ups([delivery(item_id)], client=client, task_queue=queue)

    @property
    def sending(self) -> bool:
        return self.notify is not None

    def _notify(self) -> NotifyCalls:
        if self._calls is None:
            raise ApplicationError("no Notify API key is configured", type="NotifyUnavailable")
        return self._calls

    @activity.defn
    async def deliver(self, item_id: int) -> str:
        """Send the item (once: a retry finds it at Notify by its reference); returns Notify's id."""
        return await self.send_once(item_id, look_first=True)

    async def send_once(self, item_id: int, look_first: bool) -> str:
        """`deliver`'s send. Only the dispatcher's first try, right after the save that wrote the row (which a
        retried save never dispatches again), sends without asking Notify for the reference first: a Notify
        call fewer a message."""
        row = await self.pool.fetchrow(
            "SELECT case_id, kind, recipient, subject, body, notify_id FROM notifications WHERE id = $1", item_id
        )
        if row is None:
            raise ApplicationError(f"no notification {item_id}", type=UNDELIVERABLE, non_retryable=True)
        if row["notify_id"]:
            return row["notify_id"]
        case_id = row["case_id"]
        recipient = await self.sealer.open_text(case_id, row["recipient"])
        letter = row["kind"] in LETTERS
        lines = [line for line in recipient.splitlines() if line.strip()][:7] if letter else []
        address = ("post" if len(lines) >= 3 else None) if letter else self.directory.address(recipient)
        template = self.directory.templates.get(row["kind"])
        if address is None or template is None:
            why = "no-address" if address is None else "no-template"
            await self._failed(item_id, why)
            raise ApplicationError(
                f"{why}: notification {item_id} ({row['kind']})", type=UNDELIVERABLE, non_retryable=True
            )
        notify = self._notify()
        found = await notify.call("get_all_notifications", reference=reference(item_id)) if look_first else {}
        if found.get("notifications"):
            notify_id = found["notifications"][0]["id"]
            log.info("delivery recognised", item=item_id, notify_id=notify_id)
        else:
            personalisation = {
                "case_id": case_id or "",
                "subject": await self.sealer.open_text(case_id, row["subject"]),
                "body": await self.sealer.open_text(case_id, row["body"]),
            }
            try:
                if letter:
                    lines_of = {f"address_line_{n}": line for n, line in enumerate(lines, start=1)}
                    sent = await notify.call(
                        "send_letter_notification",
                        template_id=template,
                        personalisation=personalisation | lines_of,
                        reference=reference(item_id),
                    )
                else:
                    sent = await notify.call(
                        "send_email_notification",
                        email_address=address,
                        template_id=template,
                        personalisation=personalisation,
                        reference=reference(item_id),
                    )
            except HTTPError as e:
                if e.status_code in (400, 403):  # a request Notify will never take: retrying cannot mend it
                    await self._failed(item_id, f"refused-{e.status_code}")
                    raise ApplicationError(
                        f"refused: Notify answered {e.status_code} for notification {item_id}",
                        type=UNDELIVERABLE,
                        non_retryable=True,
                    ) from None
                raise ApplicationError(f"Notify answered {e.status_code}", type="NotifyUnavailable") from None
            notify_id = sent["id"]
            log.info("delivery sent", item=item_id, notify_id=notify_id)
        await self.pool.execute(
            "UPDATE notifications SET notify_id = $2, sent_at = coalesce(sent_at, now()),"
            " delivery_status = coalesce(delivery_status, 'sending') WHERE id = $1",
            item_id,
            notify_id,
        )
        return notify_id

    @activity.defn
    async def send(self, item_id: int) -> tuple[str, str]:
        """Send the item (once), then read its status for up to FOLLOW_SECONDS, the wait doubling from
        `first_look`: returns Notify's id and the last status read (final, or still `sending`)."""
        notify_id = await self.deliver(item_id)
        status, wait, waited = "sending", self.first_look, 0.0
        while waited + wait <= FOLLOW_SECONDS and status not in FINAL:
            await asyncio.sleep(wait)
            waited, wait = waited + wait, wait * 2
            activity.heartbeat()
            status = await self.delivery_status(item_id, notify_id)
        return notify_id, status

    @activity.defn
    async def delivery_status(self, item_id: int, notify_id: str) -> str:
        """Notify's status of the item, recorded; final ones with their time."""
        answer: dict[str, Any] = await self._notify().call("get_notification_by_id", notify_id)
        status = answer["status"]
        await self.pool.execute(
            "UPDATE notifications SET delivery_status = $2,"
            " final_at = CASE WHEN $3 THEN now() ELSE final_at END WHERE id = $1",
            item_id,
            status,
            status in FINAL,
        )
        return status

    @activity.defn
    async def escalate_failure(self, item_id: int) -> int | None:
        """A message that could not be delivered is escalated to the locality's manager (and shows on the case
        page), and its delivery started; returns the escalation's id, or None for an escalation that itself
        failed (never a loop)."""
        escalation = await self._write_escalation(item_id)
        if escalation is not None:
            await start_follow_ups([delivery(escalation)])
        return escalation

    async def _write_escalation(self, item_id: int) -> int | None:
        escalation: int | None = await self.pool.fetchval(
            "INSERT INTO notifications (case_id, seq, kind, part, recipient, subject, body)"
            " SELECT n.case_id, n.seq, 'delivery_failed', n.part, 'manager:' || c.locality,"
            "  'Case ' || n.case_id || ': a message could not be delivered',"
            "  'A ' || replace(n.kind, '_', ' ') || ' message for case ' || n.case_id || ' could not be delivered ('"
            "  || coalesce(n.failure, n.delivery_status, 'failed') || '). Check the recipient and tell them another way.'"
            " FROM notifications n JOIN cases c USING (case_id) WHERE n.id = $1 AND n.kind <> 'delivery_failed'"
            " ON CONFLICT (case_id, seq, kind, part) DO NOTHING RETURNING id",
            item_id,
        )
        return escalation

    @activity.defn
    async def undelivered(self, older_than_seconds: float) -> int:
        """Start a Delivery workflow for each item no worker is settling: not sent `older_than_seconds` (at least
        DISPATCH_SECONDS) after it was written, or sent more than HAND_OVER_AFTER_SECONDS ago and not yet final
        (its worker died); a start under a used id does nothing. Returns how many. None while no Notify API key
        is configured: they wait in the outbox."""
        if not self.sending:
            return 0
        rows = await self.pool.fetch(
            "SELECT id FROM notifications WHERE notify_id IS NULL AND failure IS NULL"
            " AND created_at < now() - make_interval(secs => $1) ORDER BY id LIMIT 500",
            max(older_than_seconds, DISPATCH_SECONDS),
        )
        # Sent at once by a worker that died before their status was final: a delivery follows them.
        unfollowed = await self.pool.fetch(
            "SELECT id FROM notifications WHERE notify_id IS NOT NULL AND final_at IS NULL AND failure IS NULL"
            " AND sent_at < now() - make_interval(secs => $1) AND sent_at > now() - interval '3 days'"
            " ORDER BY id LIMIT 500",
            HAND_OVER_AFTER_SECONDS,
        )
        await start_follow_ups([delivery(r["id"]) for r in [*rows, *unfollowed]])
        return len(rows) + len(unfollowed)

    async def _failed(self, item_id: int, why: str) -> None:
        log.warning("delivery failed", item=item_id, failure=why)
        await self.pool.execute(
            "UPDATE notifications SET failure = $2, delivery_status = $2, final_at = now() WHERE id = $1", item_id, why
        )
