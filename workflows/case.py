"""The `EarlyHelpCase` workflow: one per family case, for months or years.

Pure orchestration. Commands arrive as updates whose validators run the
pathway on a copy of the state (so a rejected command writes nothing to
history); handlers run it for real. Every change is a domain event, saved to
PostgreSQL in the order it happened: a command's by an activity, what no one
waits on (a deadline's) by a local activity in its workflow task. The next reminder or
deadline is always one durable timer; the case continues-as-new at each
review boundary, or earlier if Temporal suggests it.
"""

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

import workflows.editions as editions
import workflows.interfaces as activities
import workflows.pathway as pathway
import workflows.search as search
from workflows.bounds import decoded, refusal
from workflows.interfaces import CASE_ID_TAKEN, PLAINTEXT, SAVE_IMPOSSIBLE, UNDECODABLE
from workflows.models import CaseDetails, CaseOutcome, Command, Event, Referral, SafeguardingConcern, Snapshot
from workflows.policy import CONTINUE_AS_NEW_AFTER_BEFORE
from workflows.rules import RuleBroken
from workflows.state import CURRENT_PRACTICE, PRACTICE_V1, Carried, CaseState

M = TypeVar("M", bound=BaseModel)
WORKFLOW_TYPE = "EarlyHelpCase"
# Patches (README "Versioning"): each guards a change to the command sequence.
# Search attributes first, so lists and the Web UI show a case's new stage
# even while PostgreSQL is slow or down; histories from before it save first.
PUBLISH_BEFORE_SAVE = "publish-search-attributes-before-save"
# Continue-as-new carries the state and the unsaved events, not every event so far (the full timeline is
# in PostgreSQL), so what a run carries stays small however long the case runs.
CARRY_STATE_NOT_TIMELINE = "carry-state-not-timeline"
# Continue-as-new at the first review after 300 events, not 2000 (workflows/policy.py), unless the case's
# policy sets its own; history recorded before it (no marker) replays with 2000.
SHORTER_RUNS = "shorter-runs"
# Continue-as-new whatever the stage once a run's history passes this size (Temporal's limit is 50 MB).
HISTORY_BYTES_LIMIT = 8 * 1024 * 1024
# What the `timeline` query answers at most: the run's latest events within this size (a query's reply
# must stay under the server's message limit). The whole timeline is `case_events` in PostgreSQL.
TIMELINE_QUERY_BYTES = 1024 * 1024
# A case started with an unencrypted referral where keys are configured is refused (NotEncrypted).
REFUSE_PLAINTEXT_START = "refuse-plaintext-start"
# A malformed safeguarding concern is acted on (recorded, flagged, stepped up); before, it was dropped.
ACT_ON_MALFORMED_CONCERNS = "act-on-malformed-safeguarding-concerns"
# A referral whose case id is not the workflow's is refused at once; before, it ran under the wrong id.
CASE_IS_ITS_ID = "case-is-its-id"
# Practice version 2 (docs/domain.md section 9, workflows/state.py): a new case opens under it, and looks up the
# family's earlier cases; a case opened before takes it at its next run (continue-as-new).
PRACTICE_V2 = "practice-v2"
# Lean workflow tasks: what no one waits on (a deadline's reminder or escalation, the referral, a concern) is saved by a
# local activity inside the workflow task that made it, so a deadline costs the server one workflow task and no
# activity task; a command's events are still saved by an activity, so its reply never waits on PostgreSQL and
# commands sent meanwhile share the next save. The deadline's timer is kept while its due time holds (no cancel and
# restart per command). Runs begun before it save everything by activity and set a new timer at each wait.
LEAN_TASKS = "save-in-the-workflow-task"
# One marker a run: a run that has it takes every patch above without asking. Each patch a run asks costs a marker
# and the SDK's TemporalChangeVersion search-attribute write (a visibility write on the server): three a new case,
# one now. Runs without it (begun before it) ask each patch as they did. When no open run lacks it, every old
# branch above goes at once (docs/operations.md "Patches"). A patch written after it is asked by name as before,
# and so is case-is-its-id: asked only for a referral under another case's id, which a history replayed from a
# file (its workflow id the file's name) also seems to be.
EVERY_PATCH_TO_DEC_2026 = "every-patch-to-december-2026"
TAKEN_WITH_IT = frozenset(
    {
        PUBLISH_BEFORE_SAVE,
        CARRY_STATE_NOT_TIMELINE,
        SHORTER_RUNS,
        REFUSE_PLAINTEXT_START,
        ACT_ON_MALFORMED_CONCERNS,
        PRACTICE_V2,
        LEAN_TASKS,
    }
)
LOOKUP_TIMEOUT = timedelta(seconds=30)
# The look-up is a local activity, retried inside the workflow task: bounded by attempts, about an hour of them
# (1 s doubling to a minute apart), as a save is bounded by SAVE_GIVES_UP.
LOOKUP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), maximum_attempts=65
)
SAVE_TIMEOUT = timedelta(seconds=30)
# Keep retrying a save through outages: the database coming back is the only way forward.
# A save that can never succeed (activities/store.py: SaveImpossible) fails at once instead;
# the case is marked for ops and tries again each hour, losing nothing (a fix may be deployed).
SAVE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
RETRY_IMPOSSIBLE_SAVE = timedelta(hours=1)
# A save's retries end after an hour (the database down, say): then, as for an impossible save, the case is
# marked and tries again each hour. (No patch: a save scheduled before this bound never ends, so no recorded
# history takes the new path.)
SAVE_GIVES_UP = timedelta(hours=1)
# A save in the workflow task (LEAN_TASKS) retries inside the worker for its first few attempts, then by durable
# timers; it ends, like the lookup, after about an hour of attempts (1 s doubling to a minute apart).
SAVE_LOCALLY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), maximum_attempts=65
)
SAVE_RETRIES_IN_WORKER = timedelta(seconds=5)


def _invalid(kind: str, error: Exception) -> ApplicationError:
    detail = refusal(error) if isinstance(error, ValidationError) else str(error)
    return ApplicationError(detail, type=kind, non_retryable=True)


def _decode(raw: RawValue, model: type[M]) -> M:
    """A model from a payload the SDK did not decode, so a bad one is refused by name, never retried."""
    return decoded(model, raw.payload.data, raw.payload.metadata.get(UNDECODABLE))


class EarlyHelpCase:
    """Start input, commands and the signal are taken as raw payloads and decoded here, so nothing a
    client sends can fail a workflow task: a bad referral fails the workflow at once (InvalidReferral),
    a bad command is refused naming its field (InvalidCommand), a bad concern is still acted on."""

    @workflow.init
    def __init__(self, start: RawValue) -> None:
        # A new case starts from its Referral; a continued run from what the last run carried.
        self._review_held = False
        self._published: search.Values | None = None
        self._refused: ApplicationError | None = None
        self.needs_attention = False
        self._move_on = False
        self.events: list[Event] = []
        self.unsaved: list[Event] = []
        self._lean = False  # LEAN_TASKS, asked as the run begins
        self._awaited = False  # a command's events are unsaved: its save is an activity (LEAN_TASKS)
        self._timer: asyncio.Task[None] | None = None
        self._timer_due: datetime | None = None
        # Each change to the state goes through _record, which counts it; a validator's decision, kept by its update's
        # id with the count it was made at, is the handler's while the count holds (below, _check).
        self._changes = 0
        self._decided: dict[str, tuple[int, CaseState, list[Event]]] = {}
        # The first thing every run asks (so in the same place on replay): a history from before it has no marker.
        self._to_date = workflow.patched(EVERY_PATCH_TO_DEC_2026)
        # Only a run this case continued into carries state: a client's start is a Referral, whatever it holds.
        try:
            carried = (
                workflow.info().continued_run_id is not None
                and isinstance(first := json.loads(start.payload.data), dict)
                and "state" in first
            )
        except ValueError:
            carried = False
        self._look_up_family = False
        self.state: CaseState
        if carried:
            c = _decode(start, Carried)
            self.state, self.events, self.unsaved = c.state, c.timeline, c.unsaved
            self.state.bank_holidays = editions.bank_holiday_edition().number
            if not self.state.v2 and self._patched(PRACTICE_V2):
                self._record(pathway.set_practice(self.state, CURRENT_PRACTICE, workflow.now()))
            return
        if start.payload.metadata.get(PLAINTEXT) and self._patched(REFUSE_PLAINTEXT_START):
            self._refused = ApplicationError(
                "not_encrypted: this deployment takes only referrals encrypted by its codec",
                type="NotEncrypted",
                non_retryable=True,
            )
            return
        try:
            referral = _decode(start, Referral)
            pathway.check_referral(referral, workflow.now())
        except (ValidationError, RuleBroken) as e:
            self._refused = _invalid("InvalidReferral", e)
            return
        # A case is its id: a workflow named for one case but carrying another's referral would squat that id
        # (and seal its history under the wrong key). Asked only then, so other cases carry no marker.
        if workflow.info().workflow_id != f"case-{referral.case_id}" and self._patched(CASE_IS_ITS_ID):
            self._refused = ApplicationError(
                f"case_id: the workflow id must be case-{referral.case_id} for this referral",
                type="InvalidReferral",
                non_retryable=True,
            )
            return
        practice = CURRENT_PRACTICE if self._patched(PRACTICE_V2) else PRACTICE_V1
        self.state, events = pathway.open_case(referral, practice, editions.bank_holiday_edition())
        self._record(events)
        self._look_up_family = self.state.v2

    @workflow.run
    async def run(self, start: RawValue) -> CaseOutcome:
        if self._refused:
            raise self._refused
        # Asked before anything else this run does (and so in the same place on replay): a local activity below
        # must not come between the patch's evaluation and the history's marker.
        publish_first = self._patched(PUBLISH_BEFORE_SAVE)
        self._lean = self._patched(LEAN_TASKS)
        if self._look_up_family:
            # Once, before the first save, so that what it finds is saved with the referral.
            self._look_up_family = False
            await self._find_previous_cases()
        while True:
            if publish_first:
                self._publish()
                await self._save()
                self._publish()  # what changed while saving (a no-op if nothing did)
            else:
                await self._save()
                self._publish()
            if self.state.outcome is not None:
                break
            if self._time_to_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                timeline = [] if self._patched(CARRY_STATE_NOT_TIMELINE) else self.events
                workflow.continue_as_new(Carried(state=self.state, timeline=timeline, unsaved=self.unsaved))
            await self._wait_for_change_or_deadline()
            self._record(pathway.tick(self.state, workflow.now()))
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._save()
        return self.state.outcome

    async def _find_previous_cases(self) -> None:
        """Earlier cases of the family or its people, from the case store: a local activity (a short read, its
        answer recorded in history, no task for the server to dispatch)."""
        referral = self.state.referral
        while True:
            # Dated when asked: once a local activity has answered, the workflow's time is the worker's clock on the
            # first run but the task's on replay (a few ms apart: the saved event differed from a replayed
            # timeline). On replay the two are the same, so histories from before replay as they did: no patch.
            asked = workflow.now()
            try:
                found = await workflow.execute_local_activity(
                    activities.previous_cases,
                    args=[
                        referral.case_id,
                        referral.family.family_ref,
                        [m.person_ref for m in referral.family.members],
                        referral.received_at,
                        [m.details.given() for m in referral.family.members if m.details],
                    ],
                    start_to_close_timeout=LOOKUP_TIMEOUT,
                    retry_policy=LOOKUP_RETRY,
                )
                break
            except (ActivityError, ApplicationError, TemporalTimeoutError):
                # Its attempts ended (a local activity's failure comes as the activity's own error): the case store
                # has been down for about an hour. Ops hear of it, as for a save, and the case looks again later.
                self._needs_attention(True)
                await workflow.sleep(RETRY_IMPOSSIBLE_SAVE)
        self._record(pathway.previous_cases_found(self.state, found, asked))

    def _patched(self, patch: str) -> bool:
        """`workflow.patched`, but a patch the run's one marker takes is not asked (no marker of its own)."""
        return (self._to_date and patch in TAKEN_WITH_IT) or workflow.patched(patch)

    def _publish(self) -> None:
        """Keep the case's search attributes in step with its state."""
        s = self.state
        values = (s.stage.value, s.referral.locality, s.lead_practitioner, s.next_deadline())
        if values != self._published:
            workflow.upsert_search_attributes(search.updates(values))
            self._published = values

    def _time_to_continue_as_new(self) -> bool:
        info = workflow.info()
        policy = self.state.policy
        after = policy.continue_as_new_after_events
        if "continue_as_new_after_events" not in policy.model_fields_set and not self._patched(SHORTER_RUNS):
            after = CONTINUE_AS_NEW_AFTER_BEFORE
        long_run = info.get_current_history_length() >= after
        large = info.get_current_history_size() >= HISTORY_BYTES_LIMIT
        return info.is_continue_as_new_suggested() or large or (self._review_held and long_run) or self._move_on

    async def _wait_for_change_or_deadline(self) -> None:
        wake = self.state.next_wake()
        timeout = None if wake is None else wake - workflow.now()
        if timeout is not None and timeout <= timedelta(0):
            return
        if not self._lean:
            try:
                await workflow.wait_condition(lambda: bool(self.unsaved) or self._move_on, timeout=timeout)
            except asyncio.TimeoutError:
                pass
            return
        # One durable timer per due time: a command that leaves the next wake where it was keeps the timer.
        if wake != self._timer_due:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None if timeout is None else asyncio.ensure_future(workflow.sleep(timeout))
            self._timer_due = wake
        timer = self._timer
        await workflow.wait_condition(
            lambda: bool(self.unsaved) or self._move_on or (timer is not None and timer.done())
        )
        if timer is not None and timer.done():
            self._timer, self._timer_due = None, None

    async def _save(self) -> None:
        while self.unsaved:
            batch = list(self.unsaved)
            # (the first run's id, not this run's: a reset run keeps it and may save the case again)
            args = [self.state.referral.case_id, batch, workflow.info().first_execution_run_id]
            local = self._lean and not self._awaited
            try:
                if local:
                    await workflow.execute_local_activity(
                        activities.save_events.__name__,  # (by name: its answer is for the history, not decoded)
                        args=args,
                        result_type=RawValue,
                        start_to_close_timeout=SAVE_TIMEOUT,
                        schedule_to_close_timeout=SAVE_GIVES_UP,
                        retry_policy=SAVE_LOCALLY_RETRY,
                        local_retry_threshold=SAVE_RETRIES_IN_WORKER,
                    )
                else:
                    await workflow.execute_activity(
                        activities.append_events,
                        args=args,
                        start_to_close_timeout=SAVE_TIMEOUT,
                        schedule_to_close_timeout=SAVE_GIVES_UP,
                        retry_policy=SAVE_RETRY,
                    )
            except (ActivityError, ApplicationError, TemporalTimeoutError) as e:
                if not (local or isinstance(e, ActivityError)):
                    raise  # (an activity's failure is always an ActivityError)
                # A local activity fails only once its attempts have ended, sometimes as its own error.
                cause = e.cause if isinstance(e, ActivityError) else e
                if isinstance(cause, ApplicationError) and cause.type == CASE_ID_TAKEN:
                    raise ApplicationError(cause.message, type=CASE_ID_TAKEN, non_retryable=True) from None
                impossible = isinstance(cause, ApplicationError) and cause.type == SAVE_IMPOSSIBLE
                ended = (RetryState.TIMEOUT, RetryState.MAXIMUM_ATTEMPTS_REACHED)
                retries_ended = local or (isinstance(e, ActivityError) and e.retry_state in ended)
                if not (impossible or retries_ended):
                    raise
                self._needs_attention(True)
                await workflow.sleep(RETRY_IMPOSSIBLE_SAVE)
                continue
            del self.unsaved[: len(batch)]
        self._awaited = False
        if self.needs_attention:
            self._needs_attention(False)

    def _needs_attention(self, flag: bool) -> None:
        """Ops see the case in `earlyhelp doctor` (search attribute) and in the worker's metrics."""
        if flag and not self.needs_attention:
            workflow.metric_meter().create_counter("earlyhelp_save_impossible", "saves that cannot succeed").add(1)
        self.needs_attention = flag
        workflow.upsert_search_attributes([search.NEEDS_ATTENTION.value_set(flag)])

    def _record(self, events: list[Event]) -> None:
        self._changes += 1  # (even with no events: the pathway may have changed the state in place)
        self.events.extend(events)
        self.unsaved.extend(events)
        self._review_held = self._review_held or any(e.type == "ReviewHeld" for e in events)

    # --- commands: one update per pathway Step (below), validator on a copy, handler for real ----

    def _command(self, model: type[Command], raw: RawValue) -> Command:
        if self._refused:
            raise self._refused
        try:
            return _decode(raw, model)
        except ValidationError as e:
            raise _invalid("InvalidCommand", e) from None

    def _check(self, model: type[Command], raw: RawValue) -> None:
        command = self._command(model, raw)
        try:
            working, events = self._decide(command)
        except RuleBroken as e:
            raise ApplicationError(str(e), e.rule, type="RuleBroken", non_retryable=True) from None
        # The handler runs next, in the same activation (so at the same workflow time): it takes this decision
        # rather than deciding again, unless the state changed in between. Validators do not run on replay, where
        # the handler decides for itself: the same pure decision on the same state, command and time.
        if info := workflow.current_update_info():
            self._decided[info.id] = (self._changes, working, events)

    def _decide(self, command: Command) -> tuple[CaseState, list[Event]]:
        """The pathway's decision on a copy of the state: the copy as the command leaves it, and its events."""
        working = self.state.model_copy(deep=True)
        return working, pathway.decide(working, command, workflow.now())

    def _handle(self, model: type[Command], raw: RawValue) -> Snapshot:
        info = workflow.current_update_info()
        decided = self._decided.pop(info.id, None) if info else None
        if decided is not None and decided[0] == self._changes:
            _, working, events = decided
        else:
            working, events = self._decide(self._command(model, raw))
        self.state = working
        self._record(events)
        self._awaited = self._awaited or bool(events)
        return self.state.snapshot()

    # --- safeguarding: a signal, so nothing can refuse it ----------------------

    @workflow.signal
    def safeguarding_concern(self, concern: RawValue) -> None:
        if self._refused:
            return  # no case was opened: the referral was refused at start
        try:
            parsed, problem = _decode(concern, SafeguardingConcern), None
        except ValidationError as e:
            if not self._patched(ACT_ON_MALFORMED_CONCERNS):
                return  # what cases from before the patch did
            parsed, problem = None, refusal(e)
            if not workflow.unsafe.is_replaying():
                workflow.metric_meter().create_counter(
                    "earlyhelp_malformed_concerns", "safeguarding concerns acted on though malformed"
                ).add(1)
        self._record(pathway.raise_safeguarding(self.state, parsed, workflow.now(), problem, concern.payload.data))

    @workflow.signal
    def move_to_new_run(self) -> None:
        """Ops: continue as a new run at the next quiet point, so the case takes the newest code and data (a
        new edition of the bank holidays, a patch's new branch) without waiting for its next review."""
        self._move_on = True

    # --- queries ----------------------------------------------------------------

    @workflow.query
    def snapshot(self) -> Snapshot:
        if self._refused:
            raise self._refused
        return self.state.snapshot()

    @workflow.query
    def details(self) -> CaseDetails:
        """What the case page shows beside the snapshot: the family, the plan, the referral's source."""
        if self._refused:
            raise self._refused
        return self.state.details()

    @workflow.query
    def timeline(self) -> list[Event]:
        """This run's events, the latest first dropped last: at most TIMELINE_QUERY_BYTES of them."""
        size, kept = 0, 0
        for event in reversed(self.events):
            size += len(event.model_dump_json())
            if size > TIMELINE_QUERY_BYTES:
                break
            kept += 1
        return self.events[len(self.events) - kept :]


def _update(name: str, model: type[Command]) -> Any:
    """The update `name`: decode its command with `model`, validate on a copy, then handle it."""

    # (self unannotated: the SDK reads the command's type from the parameters after it)
    def handler(self, command: RawValue) -> Snapshot:  # type: ignore[no-untyped-def]
        snapshot: Snapshot = self._handle(model, command)
        return snapshot

    def validator(self, command: RawValue) -> None:  # type: ignore[no-untyped-def]
        self._check(model, command)

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = model.__doc__
    update = workflow.update(name=name)(handler)
    update.validator(validator)
    return update


for _model, _step in pathway.STEPS.items():
    setattr(EarlyHelpCase, _step.name, _update(_step.name, _model))
workflow.defn(name=WORKFLOW_TYPE)(EarlyHelpCase)  # (defined once every update is on the class)
