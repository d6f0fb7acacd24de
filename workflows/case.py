"""The `EarlyHelpCase` workflow: one per family case, for months or years.

Pure orchestration. Commands arrive as updates whose validators run the
pathway on a copy of the state (so a rejected command writes nothing to
history); handlers run it for real. Every change is a domain event, saved to
PostgreSQL by one activity in the order it happened. The next reminder or
deadline is always one durable timer; the case continues-as-new at each
review boundary, or earlier if Temporal suggests it.
"""


import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.store import CaseActivities
    from workflows import pathway, search
    from workflows.models import (
        AddAgencyContribution,
        Allocate,
        CaseOutcome,
        Command,
        DecideClosure,
        Event,
        IdentifyLeadPractitioner,
        RecordAssessment,
        RecordConsent,
        RecordContactAttempt,
        RecordHomeVisit,
        RecordLeadDeclined,
        RecordMaspOutcome,
        RecordReview,
        RecordScreening,
        RecordSocialCareDecision,
        RecordTaf,
        RecordUnannouncedVisit,
        RecordWarmHandover,
        Referral,
        ReferToMasp,
        RequestAdditionalService,
        RequestClosure,
        SafeguardingConcern,
        Snapshot,
        WithdrawConsent,
    )
    from workflows.rules import RuleBroken
    from workflows.state import Carried

WORKFLOW_TYPE = "EarlyHelpCase"
# Patches (README "Versioning"): each guards a change to the command sequence.
# Search attributes first, so lists and the Web UI show a case's new stage
# even while PostgreSQL is slow or down; histories from before it save first.
PUBLISH_BEFORE_SAVE = "publish-search-attributes-before-save"
SAVE_TIMEOUT = timedelta(seconds=30)
# Keep retrying a save: the database coming back is the only way forward.
SAVE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn(name=WORKFLOW_TYPE)
class EarlyHelpCase:
    @workflow.init
    def __init__(self, start: Referral | Carried) -> None:
        # A new case starts from its Referral; a continued run from what the last run carried.
        # (One parameter: the SDK types arguments only when their count matches.)
        self._review_held = False
        self._published: search.Values | None = None
        if isinstance(start, Referral):
            self.state, events = pathway.open_case(start)
            self.events: list[Event] = []
            self.unsaved: list[Event] = []
            self._record(events)
        else:
            self.state, self.events, self.unsaved = start.state, start.timeline, start.unsaved

    @workflow.run
    async def run(self, start: Referral | Carried) -> CaseOutcome:
        while True:
            if workflow.patched(PUBLISH_BEFORE_SAVE):
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
                workflow.continue_as_new(Carried(state=self.state, timeline=self.events, unsaved=self.unsaved))
            await self._wait_for_change_or_deadline()
            self._record(pathway.tick(self.state, workflow.now()))
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._save()
        return self.state.outcome

    def _publish(self) -> None:
        """Keep the case's search attributes in step with its state."""
        s = self.state
        values = (s.stage.value, s.referral.locality, s.lead_practitioner, s.next_deadline())
        if values != self._published:
            workflow.upsert_search_attributes(search.updates(values))
            self._published = values

    def _time_to_continue_as_new(self) -> bool:
        info = workflow.info()
        long_run = info.get_current_history_length() >= self.state.policy.continue_as_new_after_events
        return info.is_continue_as_new_suggested() or (self._review_held and long_run)

    async def _wait_for_change_or_deadline(self) -> None:
        wake = self.state.next_wake()
        timeout = None if wake is None else wake - workflow.now()
        if timeout is not None and timeout <= timedelta(0):
            return
        try:
            await workflow.wait_condition(lambda: bool(self.unsaved), timeout=timeout)
        except asyncio.TimeoutError:
            pass

    async def _save(self) -> None:
        while self.unsaved:
            batch = list(self.unsaved)
            await workflow.execute_activity_method(
                CaseActivities.append_events,
                args=[self.state.referral.case_id, batch],
                start_to_close_timeout=SAVE_TIMEOUT,
                retry_policy=SAVE_RETRY,
            )
            del self.unsaved[: len(batch)]

    def _record(self, events: list[Event]) -> None:
        self.events.extend(events)
        self.unsaved.extend(events)
        self._review_held = self._review_held or any(e.type == "ReviewHeld" for e in events)

    # --- commands: validator on a copy, handler for real ---------------------

    def _check(self, command: Command) -> None:
        try:
            pathway.decide(self.state.model_copy(deep=True), command, workflow.now())
        except RuleBroken as e:
            raise ApplicationError(str(e), e.rule, type="RuleBroken", non_retryable=True) from None

    def _handle(self, command: Command) -> Snapshot:
        working = self.state.model_copy(deep=True)
        events = pathway.decide(working, command, workflow.now())
        self.state = working
        self._record(events)
        return self.state.snapshot()

    @workflow.update
    def record_screening(self, command: RecordScreening) -> Snapshot:
        return self._handle(command)

    @record_screening.validator
    def _v_record_screening(self, command: RecordScreening) -> None:
        self._check(command)

    @workflow.update
    def allocate(self, command: Allocate) -> Snapshot:
        return self._handle(command)

    @allocate.validator
    def _v_allocate(self, command: Allocate) -> None:
        self._check(command)

    @workflow.update
    def record_contact_attempt(self, command: RecordContactAttempt) -> Snapshot:
        return self._handle(command)

    @record_contact_attempt.validator
    def _v_record_contact_attempt(self, command: RecordContactAttempt) -> None:
        self._check(command)

    @workflow.update
    def record_warm_handover(self, command: RecordWarmHandover) -> Snapshot:
        return self._handle(command)

    @record_warm_handover.validator
    def _v_record_warm_handover(self, command: RecordWarmHandover) -> None:
        self._check(command)

    @workflow.update
    def record_unannounced_visit(self, command: RecordUnannouncedVisit) -> Snapshot:
        return self._handle(command)

    @record_unannounced_visit.validator
    def _v_record_unannounced_visit(self, command: RecordUnannouncedVisit) -> None:
        self._check(command)

    @workflow.update
    def record_home_visit(self, command: RecordHomeVisit) -> Snapshot:
        return self._handle(command)

    @record_home_visit.validator
    def _v_record_home_visit(self, command: RecordHomeVisit) -> None:
        self._check(command)

    @workflow.update
    def record_assessment(self, command: RecordAssessment) -> Snapshot:
        return self._handle(command)

    @record_assessment.validator
    def _v_record_assessment(self, command: RecordAssessment) -> None:
        self._check(command)

    @workflow.update
    def record_taf(self, command: RecordTaf) -> Snapshot:
        return self._handle(command)

    @record_taf.validator
    def _v_record_taf(self, command: RecordTaf) -> None:
        self._check(command)

    @workflow.update
    def record_review(self, command: RecordReview) -> Snapshot:
        return self._handle(command)

    @record_review.validator
    def _v_record_review(self, command: RecordReview) -> None:
        self._check(command)

    @workflow.update
    def request_closure(self, command: RequestClosure) -> Snapshot:
        return self._handle(command)

    @request_closure.validator
    def _v_request_closure(self, command: RequestClosure) -> None:
        self._check(command)

    @workflow.update
    def decide_closure(self, command: DecideClosure) -> Snapshot:
        return self._handle(command)

    @decide_closure.validator
    def _v_decide_closure(self, command: DecideClosure) -> None:
        self._check(command)

    @workflow.update
    def refer_to_masp(self, command: ReferToMasp) -> Snapshot:
        return self._handle(command)

    @refer_to_masp.validator
    def _v_refer_to_masp(self, command: ReferToMasp) -> None:
        self._check(command)

    @workflow.update
    def record_masp_outcome(self, command: RecordMaspOutcome) -> Snapshot:
        return self._handle(command)

    @record_masp_outcome.validator
    def _v_record_masp_outcome(self, command: RecordMaspOutcome) -> None:
        self._check(command)

    @workflow.update
    def record_social_care_decision(self, command: RecordSocialCareDecision) -> Snapshot:
        return self._handle(command)

    @record_social_care_decision.validator
    def _v_record_social_care_decision(self, command: RecordSocialCareDecision) -> None:
        self._check(command)

    @workflow.update
    def withdraw_consent(self, command: WithdrawConsent) -> Snapshot:
        return self._handle(command)

    @withdraw_consent.validator
    def _v_withdraw_consent(self, command: WithdrawConsent) -> None:
        self._check(command)

    @workflow.update
    def record_consent(self, command: RecordConsent) -> Snapshot:
        return self._handle(command)

    @record_consent.validator
    def _v_record_consent(self, command: RecordConsent) -> None:
        self._check(command)

    @workflow.update
    def identify_lead_practitioner(self, command: IdentifyLeadPractitioner) -> Snapshot:
        return self._handle(command)

    @identify_lead_practitioner.validator
    def _v_identify_lead_practitioner(self, command: IdentifyLeadPractitioner) -> None:
        self._check(command)

    @workflow.update
    def record_lead_declined(self, command: RecordLeadDeclined) -> Snapshot:
        return self._handle(command)

    @record_lead_declined.validator
    def _v_record_lead_declined(self, command: RecordLeadDeclined) -> None:
        self._check(command)

    @workflow.update
    def add_agency_contribution(self, command: AddAgencyContribution) -> Snapshot:
        return self._handle(command)

    @add_agency_contribution.validator
    def _v_add_agency_contribution(self, command: AddAgencyContribution) -> None:
        self._check(command)

    @workflow.update
    def request_additional_service(self, command: RequestAdditionalService) -> Snapshot:
        return self._handle(command)

    @request_additional_service.validator
    def _v_request_additional_service(self, command: RequestAdditionalService) -> None:
        self._check(command)

    # --- safeguarding: a signal, so nothing can refuse it ----------------------

    @workflow.signal
    def safeguarding_concern(self, concern: SafeguardingConcern) -> None:
        self._record(pathway.raise_safeguarding(self.state, concern, workflow.now()))

    # --- queries ----------------------------------------------------------------

    @workflow.query
    def snapshot(self) -> Snapshot:
        return self.state.snapshot()

    @workflow.query
    def timeline(self) -> list[Event]:
        return self.events
