"""What workflow code knows of the layers above it, and nothing more: each activity's name, arguments and
result (stubs: the implementations in activities/ register under the same names, and a test holds them
to these signatures), the failure types they raise, Notify's statuses the delivery workflow acts on, and
the codec's mark on a payload that arrived unencrypted. No I/O, no asyncpg, no codec here."""

from __future__ import annotations

from datetime import date, datetime

from temporalio import activity

from workflows.models import Event, MashReferralRef, PreviousCase

# Failures of a save that a retry cannot mend, told apart from outages (activities/store.py).
SAVE_IMPOSSIBLE = "SaveImpossible"
CASE_ID_TAKEN = "CaseIdTaken"
# Notify's final statuses, those that are failures, and a send Notify will never take (activities/delivery.py).
# A letter's own: received by the printer, or refused for its address (Notify's letter statuses).
FINAL = ("delivered", "permanent-failure", "temporary-failure", "technical-failure", "received", "validation-failed")
FAILED = ("permanent-failure", "technical-failure", "no-address", "refused", "validation-failed")
UNDELIVERABLE = "Undeliverable"
# Set by the codec on a payload that arrived unencrypted (worker/codec.py), so the workflow can refuse it.
PLAINTEXT = "earlyhelp-plaintext"
# Set by the codec, with the reason, on a payload it can never decrypt (bad bytes, no such key, another case's
# key): the workflow treats it as malformed input instead of its decode failing a workflow task for ever.
UNDECODABLE = "earlyhelp-undecodable"


def _stub() -> NotImplementedError:
    return NotImplementedError("an activity interface: the worker runs the implementation in activities/")


# The case store (activities/store.py: CaseActivities).
@activity.defn(name="append_events")
async def append_events(case_id: str, events: list[Event], first_run: str = "") -> int:
    """`first_run`: the first run id of the case's chain of runs, which `temporal workflow reset` keeps."""
    raise _stub()


@activity.defn(name="save_events")
async def save_events(case_id: str, events: list[Event], first_run: str = "") -> list[Event]:
    """append_events run as a local activity, in the workflow task that made the events (patch
    save-in-the-workflow-task): it answers the events it saved, so that they are recorded in the history (in
    its marker; a local activity's input is not), which stays the log of record."""
    raise _stub()


@activity.defn(name="previous_cases")
async def previous_cases(
    case_id: str,
    family_ref: str,
    person_refs: list[str],
    received_at: datetime,
    people: list[dict[str, object]] | None = None,
) -> list[PreviousCase]:
    """`people`: the members' details, to find a person the index knows under another reference (a run that
    asked before this argument was added answers from its history: a local activity's input is not replayed)."""
    raise _stub()


# Delivery through GOV.UK Notify (activities/delivery.py: DeliveryActivities).
@activity.defn(name="deliver")
async def deliver(item_id: int) -> str:
    raise _stub()


@activity.defn(name="send")
async def send(item_id: int) -> tuple[str, str]:
    raise _stub()


@activity.defn(name="delivery_status")
async def delivery_status(item_id: int, notify_id: str) -> str:
    raise _stub()


@activity.defn(name="escalate_failure")
async def escalate_failure(item_id: int) -> int | None:
    raise _stub()


@activity.defn(name="undelivered")
async def undelivered(older_than_seconds: float) -> int:
    raise _stub()


# The MASH queue's watches (activities/mash.py: MashActivities).
@activity.defn(name="escalate_unacknowledged")
async def escalate_unacknowledged(referral: MashReferralRef) -> int | None:
    raise _stub()


@activity.defn(name="record_acknowledgement")
async def record_acknowledgement(case_id: str, seq: int, by: str, at: datetime) -> None:
    raise _stub()


@activity.defn(name="unwatched")
async def unwatched(older_than_seconds: float) -> int:
    raise _stub()


# The daily digests (activities/digest.py: DigestActivities).
@activity.defn(name="write_digests")
async def write_digests(day: date, at: datetime | None = None) -> list[int]:
    raise _stub()
