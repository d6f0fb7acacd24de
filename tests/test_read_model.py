"""The read model and the protocol's performance report [002], checked against a seeded caseload.

Cases are built with the pathway itself (pure, with chosen dates) and saved
through the store's activity; the right answers are computed here from the
seed's own description, independently of the SQL under test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from temporalio.testing import ActivityEnvironment

from activities import projections, read_model, report
from activities.digest import DigestActivities
from activities.store import CaseActivities
from starter.local.samples import sample_referral
from starter.staff.report_html import render
from worker.authz import Roles
from worker.sealing import PLAIN
from workflows import pathway
from workflows.calendar import LONDON
from workflows.models import (
    ActionUpdate,
    Allocate,
    DecideClosure,
    Event,
    IdentifyLeadPractitioner,
    NeedOutcome,
    NeedProgress,
    PlanAction,
    RecordAssessment,
    RecordContactAttempt,
    RecordHomeVisit,
    RecordReview,
    RecordScreening,
    RecordTaf,
    ReferToMasp,
    RequestClosure,
    StepDown,
    WithdrawConsent,
)
from workflows.state import CURRENT_PRACTICE, CaseState

KINDS = [
    "signpost",
    "step_up",
    "waiting",
    "taf_on_time",
    "taf_late",
    "closed_met",
    "closed_moved",
    "masp",
    "step_down",
    "reviewed",
]
LOCALITIES = ["North", "East"]
PERIOD = (date(2026, 1, 1), date(2026, 3, 31))
END_OF_WORLD = datetime(2026, 4, 30, 12, tzinfo=UTC)  # every case is ticked to here


@dataclass
class Spec:
    case_id: str
    kind: str
    locality: str
    received: datetime

    def day(self, n: float) -> datetime:
        return self.received + timedelta(days=n)

    @property
    def allocated(self) -> datetime | None:
        return (
            None if self.kind in ("signpost", "step_up", "waiting") else self.day(2 if self.kind == "step_down" else 1)
        )


def seed_specs(prefix: str) -> list[Spec]:
    specs, n = [], 0
    for month in (12, 1, 2, 3, 4):  # December and April fall outside the period
        year = 2025 if month == 12 else 2026
        for i, kind in enumerate(KINDS):
            n += 1
            received = datetime(year, month, 2 + i, 10, tzinfo=LONDON).astimezone(UTC)
            specs.append(Spec(f"{prefix}{n:03d}", kind, LOCALITIES[n % 2], received))
    return specs


def build(spec: Spec) -> list[Event]:
    """The case's events, made by the pathway at the spec's dates."""
    step_down = StepDown(social_worker="sw-1", cin_meeting_agreed_plan=True) if spec.kind == "step_down" else None
    referral = sample_referral(
        spec.case_id,
        spec.received,
        locality=spec.locality,
        step_down=step_down,
        immediate_safeguarding=spec.kind == "step_up",
        previous_referrals=1,
    )
    state, events = pathway.open_case(referral)

    def do(command, at: datetime) -> None:
        events.extend(pathway.tick(state, at))
        events.extend(pathway.decide(state, command, at))

    def taf(at: datetime, review_in: timedelta = timedelta(weeks=12)) -> None:
        do(
            RecordTaf(
                by="lp",
                held_at=at,
                attendees=["parent"],
                review_date=(at + review_in).astimezone(LONDON).date(),
                actions=[PlanAction(need_code=n.code, action="a", owner="o", due=at.date()) for n in state.needs],
            ),
            at,
        )

    if spec.kind == "step_down":
        do(IdentifyLeadPractitioner(by="sw-1", practitioner="lp", chosen_by_family=True), spec.allocated)
    elif spec.kind == "signpost":
        do(
            RecordScreening(by="das", decision="signpost", reason="two needs", services=["Family Support"]),
            spec.day(0.1),
        )
    elif spec.kind != "step_up":
        do(RecordScreening(by="das", decision="accept"), spec.day(0.1))
    if spec.allocated and spec.kind != "step_down":
        do(Allocate(by="das", lead_practitioner="lp"), spec.allocated)
        do(RecordContactAttempt(by="lp", method="phone", outcome="reached"), spec.day(1.5))
        do(RecordHomeVisit(by="lp", agreement_given=True, genogram_started=True, children_seen=True), spec.day(2))
        do(
            RecordAssessment(
                by="lp", worries=["w"], needs_to_happen=["n"], scaling=5, sources=["a", "b"], needs=state.needs
            ),
            spec.day(3),
        )
    if spec.kind in ("taf_on_time", "closed_met", "masp"):
        taf(spec.day(10))
    if spec.kind == "reviewed":
        taf(spec.day(10), timedelta(weeks=2))
        review_at = datetime.combine(spec.day(24).astimezone(LONDON).date(), datetime.min.time(), LONDON) + timedelta(
            hours=11
        )
        do(
            RecordReview(
                by="lp",
                held_at=review_at,
                progress=[NeedProgress(need_code=n.code, status="met") for n in state.needs],
                next_review_date=(review_at + timedelta(weeks=4)).date(),
            ),
            review_at,
        )
    if spec.kind == "taf_late":
        taf(spec.day(31))
    if spec.kind == "closed_met":
        do(
            RequestClosure(
                by="lp",
                reason="needs_met",
                need_outcomes=[NeedOutcome(need_code=n.code, summary="ok", status="met") for n in state.needs],
            ),
            spec.day(20),
        )
        do(DecideClosure(by="tm", approve=True, reason="met"), spec.day(21))
    if spec.kind == "closed_moved":
        do(RequestClosure(by="lp", reason="moved_away"), spec.day(5))
        do(DecideClosure(by="tm", approve=True, reason="moved"), spec.day(6))
    if spec.kind == "masp":
        do(ReferToMasp(by="lp", criteria=["no_improvement"]), spec.day(15))
    events.extend(pathway.tick(state, END_OF_WORLD))
    return events


def expected(specs: list[Spec], locality: str | None = None) -> dict:
    """The protocol's figures computed from the seed's description alone."""
    start = datetime.combine(PERIOD[0], datetime.min.time(), LONDON)
    end = datetime.combine(PERIOD[1] + timedelta(days=1), datetime.min.time(), LONDON)
    mine = [s for s in specs if locality in (None, s.locality)]

    def within(t: datetime | None) -> bool:
        return t is not None and start <= t < end

    accepted_at = {
        s.case_id: (s.received if s.kind == "step_down" else s.day(0.1))
        for s in mine
        if s.kind not in ("signpost", "step_up")
    }
    step_downs = {s.case_id for s in mine if s.kind == "step_down"}
    ended_at = {
        s.case_id: s.day(21 if s.kind == "closed_met" else 6) for s in mine if s.kind in ("closed_met", "closed_moved")
    } | {s.case_id: s.day(0.1) for s in mine if s.kind == "signpost"}

    def end_of(day: datetime) -> datetime:
        return datetime.combine(day.astimezone(LONDON).date(), datetime.max.time().replace(microsecond=0), LONDON)

    # (when, met) of every TAF and review deadline settled by the end of the seed: counted in the period it
    # was held in, or, if never held, the period it fell due in.
    taf = []
    for s in mine:
        if not s.allocated or s.kind in ("step_down", "closed_moved"):
            continue
        due = s.allocated + timedelta(days=28)
        if s.kind in ("taf_on_time", "closed_met", "masp", "reviewed"):
            taf.append((s.day(10), True))
        elif s.kind == "taf_late":
            taf.append((s.day(31), False))
        elif due <= END_OF_WORLD:
            taf.append((due, False))
    reviews = []
    for s in mine:
        if s.kind == "reviewed":
            first = end_of(s.day(10) + timedelta(weeks=2))
            held = datetime.combine(s.day(24).astimezone(LONDON).date(), datetime.min.time(), LONDON) + timedelta(
                hours=11
            )
            reviews += [(held, True), (end_of(first + timedelta(weeks=4)), False)]
        elif s.kind in ("taf_on_time", "masp", "taf_late", "step_down"):
            plan_from = {"taf_late": s.day(31), "step_down": s.allocated}.get(s.kind, s.day(10))
            reviews.append((end_of(plan_from + timedelta(weeks=12)), False))
    reviews = [(when, met) for when, met in reviews if met or when <= END_OF_WORLD]
    closures = [s for s in mine if s.kind in ("closed_met", "closed_moved") and within(ended_at[s.case_id])]
    return {
        "referrals": sum(within(s.received) for s in mine),
        "accepted": sum(within(t) for c, t in accepted_at.items() if c not in step_downs),
        "step_downs": sum(within(accepted_at[c]) for c in step_downs),
        "signposted": sum(within(s.day(0.1)) for s in mine if s.kind == "signpost"),
        "stepped_up": 0,  # (social care accepted none of the seed's step-ups)
        "mash_referrals": sum(within(s.received) for s in mine if s.kind == "step_up"),
        "children_referred": sum(within(s.received) for s in mine),  # one child in each sample family
        "re_referrals": 0,
        "advice_point_contacts": 0,
        "awaiting_allocation": sum(1 for s in mine if s.kind == "waiting" and accepted_at[s.case_id] < end),
        "open_cases": sum(
            1 for s in mine if s.received < end and not (s.case_id in ended_at and ended_at[s.case_id] < end)
        ),
        "taf_due": sum(within(when) for when, _ in taf),
        "taf_on_time": sum(within(when) and met for when, met in taf),
        "reviews_due": sum(within(when) for when, _ in reviews),
        "reviews_on_time": sum(within(when) and met for when, met in reviews),
        "closures": len(closures),
        "closures_needs_met": sum(s.kind == "closed_met" for s in closures),
        "masp_referrals": sum(within(s.day(15)) for s in mine if s.kind == "masp"),
    }


async def seeded(pool, prefix: str) -> list[Spec]:
    specs = seed_specs(prefix)
    store = CaseActivities(pool)
    for spec in specs:
        await store.append_events(spec.case_id, build(spec))
    return specs


async def only(pool, prefix: str, table: str) -> list[dict]:
    rows = await pool.fetch(f"SELECT * FROM {table} WHERE case_id LIKE $1 ORDER BY 1, 2", prefix + "%")
    return [dict(r) for r in rows]


async def test_report_figures_match_an_independently_computed_caseload(fresh_pool):
    """Every figure of "What is reported" [002] for a period, for all localities and for one."""
    specs = await seeded(fresh_pool, "RPT")
    async with fresh_pool.acquire() as conn:
        for locality in (None, "North"):
            got = (await report.performance(conn, *PERIOD, locality)).model_dump()
            for figure, value in expected(specs, locality).items():
                assert got[figure] == value, (locality, figure, got[figure], value)


async def test_projections_are_the_same_after_saving_the_same_events_twice_and_after_a_rebuild(fresh_pool):
    """Idempotent under retries; rebuilt from case_events, the read model is the same [DESIGN]."""
    pool = fresh_pool
    specs = await seeded(pool, "IDM")
    tables = ("cases", "deadlines", "approvals", "case_people")
    before = {t: await only(pool, "IDM", t) for t in tables}
    store = CaseActivities(pool)
    for spec in specs[:5]:
        assert await store.append_events(spec.case_id, build(spec)) == 0
    assert {t: await only(pool, "IDM", t) for t in tables} == before
    async with pool.acquire() as conn:
        await projections.rebuild(conn)
    assert {t: await only(pool, "IDM", t) for t in tables} == before


async def test_a_missed_deadline_shows_as_overdue_in_due_and_in_the_report(pool):
    """A TAF not held within four weeks [003] is overdue in `due` and counts against the report."""
    spec = Spec("OVD001", "waiting", "West", datetime(2026, 2, 2, 10, tzinfo=UTC))
    referral = sample_referral(spec.case_id, spec.received, locality="West")
    state, events = pathway.open_case(referral)
    events += pathway.decide(state, RecordScreening(by="das", decision="accept"), spec.day(0.1))
    events += pathway.decide(state, Allocate(by="das", lead_practitioner="lp-west"), spec.day(1))
    events += pathway.tick(state, spec.day(40))
    await CaseActivities(pool).append_events(spec.case_id, events)
    async with pool.acquire() as conn:
        overdue = await read_model.due(conn, spec.day(40), overdue=True, locality="West")
        figures = await report.performance(conn, date(2026, 3, 1), date(2026, 3, 31), "West")
        caseload = await read_model.caseload(conn, lead="lp-west")
    assert {(r["case_id"], r["kind"]) for r in overdue} >= {("OVD001", "taf"), ("OVD001", "first_contact_attempt")}
    assert (figures.taf_due, figures.taf_on_time, figures.taf_within_four_weeks_pct) == (1, 0, 0.0)
    assert caseload[0]["overdue"] == 2


async def test_each_case_carries_its_next_deadline_and_missed_count_and_an_ended_case_is_not_due(fresh_pool):
    """The columns the inbox and the case list read at a county's size (migration 0011) agree with the
    deadlines themselves, for every kind of case, saved and rebuilt; an ended case's missed deadlines are
    never in `due`, though they were missed [003]."""
    specs = await seeded(fresh_pool, "COL")
    check = """SELECT c.case_id, c.ended_at IS NOT NULL AS ended, c.next_deadline, c.overdue,
                      (SELECT min(due_at) FROM deadlines d WHERE d.case_id = c.case_id AND d.status = 'pending') AS nd,
                      (SELECT count(*) FROM deadlines d WHERE d.case_id = c.case_id AND d.status = 'missed'
                         AND d.completed_at IS NULL) AS od,
                      (SELECT coalesce(bool_and(d.case_ended = (c.ended_at IS NOT NULL)), true) FROM deadlines d
                         WHERE d.case_id = c.case_id) AS flagged
               FROM cases c WHERE c.case_id LIKE 'COL%'"""
    for rebuilt in (False, True):
        if rebuilt:
            async with fresh_pool.acquire() as conn:
                await projections.rebuild(conn)
        rows = await fresh_pool.fetch(check)
        assert len(rows) == len(specs)
        assert any(r["ended"] for r in rows) and not all(r["ended"] for r in rows)
        assert any(r["overdue"] for r in rows) and any(r["next_deadline"] for r in rows)
        for r in rows:
            assert (r["next_deadline"], r["overdue"], r["flagged"]) == (r["nd"], r["od"], True), dict(r)
    async with fresh_pool.acquire() as conn:
        due = await read_model.due(conn, END_OF_WORLD + timedelta(days=400), limit=1000)
    assert due and not {r["case_id"] for r in due} & {r["case_id"] for r in rows if r["ended"]}


async def test_the_html_report_renders_with_its_charts(fresh_pool):
    """The manager's HTML report: every figure, and SVG charts of referrals and deadlines."""
    await seeded(fresh_pool, "HTM")
    async with fresh_pool.acquire() as conn:
        page = render(await report.performance(conn, *PERIOD))

    class Parsed(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.text = [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, dict(attrs)))

        def handle_data(self, data):
            self.text.append(data)

    parsed = Parsed()
    parsed.feed(page)
    svgs = [a for t, a in parsed.tags if t == "svg"]
    assert [s["aria-label"] for s in svgs] == ["Referrals per month by outcome", "Deadline performance per month"]
    assert sum(1 for t, _ in parsed.tags if t == "rect") >= 3 * 4
    text = " ".join(parsed.text)
    for _, label in report.FIGURES:
        assert label in text
    assert "2026-01" in text and "2026-03" in text


async def test_closures_with_needs_met_are_counted_when_events_are_sealed(fresh_pool):
    """The report with the production sealer (every personal value sealed under its case's key): a needs-met
    closure counts as one, a moved-away closure does not, and a signposted case's reason (the screener's words)
    stays sealed. (With events stored in the clear, the figure was right and the sealed one said 0.)"""
    import os

    from worker.codec import CaseKeys, EncryptionCodec
    from worker.keys import MasterKeys
    from worker.sealing import Sealer

    master = MasterKeys("k1", {"k1": os.urandom(32)})
    store = CaseActivities(fresh_pool, Sealer(EncryptionCodec(master, CaseKeys(fresh_pool, master))))
    specs = [
        Spec("SEAL001", "closed_met", "North", datetime(2026, 2, 2, 10, tzinfo=UTC)),
        Spec("SEAL002", "closed_moved", "North", datetime(2026, 2, 3, 10, tzinfo=UTC)),
        Spec("SEAL003", "signpost", "North", datetime(2026, 2, 4, 10, tzinfo=UTC)),
    ]
    for spec in specs:
        await store.append_events(spec.case_id, build(spec))
    async with fresh_pool.acquire() as conn:
        figures = await report.performance(conn, *PERIOD, "North")
        signposted = await conn.fetchval(
            "SELECT data FROM case_events WHERE case_id = 'SEAL003' AND type = 'CaseEnded'"
        )
    assert (figures.closures, figures.closures_needs_met) == (2, 1)
    assert "Family Support" not in str(signposted)


async def test_sorted_by_deadline_a_case_with_a_missed_deadline_comes_first(fresh_pool):
    """A case whose deadline was missed and not done has no deadline still to come: sorted by next deadline it
    still comes first, before cases with deadlines ahead (it used to come last, on a later page)."""
    soon = Spec("URG001", "waiting", "West", datetime(2026, 2, 2, 10, tzinfo=UTC))
    referral = sample_referral("URG002", datetime(2026, 1, 5, 10, tzinfo=UTC), locality="West")
    state, missed = pathway.open_case(referral)
    missed += pathway.tick(state, datetime(2026, 2, 3, 10, tzinfo=UTC))  # its screening decision was missed
    store = CaseActivities(fresh_pool)
    await store.append_events(soon.case_id, build(soon)[:3])
    await store.append_events("URG002", missed)
    async with fresh_pool.acquire() as conn:
        rows, _ = await read_model.find_cases(conn, text="URG")
    assert [r["case_id"] for r in rows] == ["URG002", "URG001"]
    assert rows[0]["overdue"] >= 1


async def test_references_are_kept_only_as_blind_indexes_yet_find_the_family_and_its_earlier_cases(fresh_pool):
    """With keys, no family or person reference reaches PostgreSQL in the clear (events, cases, people), so
    erasure leaves none in a table file, index, statistics or the WAL. Each is found by its blind index: the
    case search, the known-family check of a new referral, and the SSD export (its children's references
    opened with the case's key)."""
    import os

    from worker.codec import CaseKeys, EncryptionCodec
    from worker.keys import MasterKeys
    from worker.sealing import PLAIN, Sealer

    master = MasterKeys("k1", {"k1": os.urandom(32)})
    sealer = Sealer(EncryptionCodec(master, CaseKeys(fresh_pool, master)))
    store = CaseActivities(fresh_pool, sealer)
    spec = Spec("BLIND01", "closed_met", "North", datetime(2026, 2, 2, 10, tzinfo=UTC))
    await store.append_events(spec.case_id, build(spec))
    refs = ["FAM-BLIND01", "P-BLIND01-1", "P-BLIND01-2"]
    async with fresh_pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT (SELECT string_agg(e::text, ' ') FROM case_events e) || (SELECT string_agg(c::text, ' ')"
            " FROM cases c) || (SELECT string_agg(p::text, ' ') FROM case_people p)"
        )
        assert [ref for ref in refs if ref in stored] == []
        for ref in refs:
            found, _ = await read_model.find_cases(conn, text=ref, closed=True, sealer=sealer)
            assert [r["case_id"] for r in found] == ["BLIND01"], ref
            assert (await read_model.find_cases(conn, text=ref, closed=True, sealer=PLAIN))[0] == []
        episodes = await read_model.ssd_early_help_episodes(conn, None, sealer)
    assert [e["earl_person_id"] for e in episodes] == ["P-BLIND01-2"]  # the child
    earlier = await store.previous_cases("BLIND02", "FAM-BLIND01", [], datetime(2026, 6, 1, tzinfo=UTC))
    assert [(p.case_id, p.matched_on) for p in earlier] == [("BLIND01", "family_ref")]
    by_person = await store.previous_cases("BLIND02", "FAM-OTHER", ["P-BLIND01-1"], datetime(2026, 6, 1, tzinfo=UTC))
    assert [(p.case_id, p.matched_on) for p in by_person] == [("BLIND01", "person_ref")]


async def test_a_person_is_found_by_name_date_of_birth_postcode_or_nhs_number_and_never_indexed_in_the_clear(
    fresh_pool,
):
    """Is this family known? A member's details are indexed only as blind indexes; a search by how the family
    name sounds and the date of birth (or postcode, or NHS number) finds them in a closed case too, within the
    searcher's localities; erasure removes the rows."""
    import os

    from activities.erasure import erase_case
    from activities.people_index import PersonSearch, find_people
    from worker.codec import CaseKeys, EncryptionCodec
    from worker.keys import MasterKeys
    from worker.sealing import Sealer
    from workflows.models import Family, Member
    from workflows.person import PersonDetails

    master = MasterKeys("k1", {"k1": os.urandom(32)})
    sealer = Sealer(EncryptionCodec(master, CaseKeys(fresh_pool, master)))
    store = CaseActivities(fresh_pool, sealer)
    details = PersonDetails(
        given_name="Siobhán",
        family_name="Smyth",
        date_of_birth=date(2015, 3, 27),
        address={"lines": ["2 Mill Lane"], "postcode": "M1 1AE"},
        nhs_number="9434765919",
    )
    referral = sample_referral("FIND01", datetime(2026, 2, 2, 10, tzinfo=UTC), locality="North")
    family = Family(
        family_ref="FAM-FIND01",
        members=[Member(person_ref="P-FIND01-2", role="child", details=details), *referral.family.members[:1]],
    )
    _, events = pathway.open_case(referral.model_copy(update={"family": family}))
    later = datetime(2026, 2, 3, 10, tzinfo=UTC)
    events += [  # the household as it changes: a member joins, a member's details are recorded
        Event(seq=len(events) + 1, type="FamilyMemberAdded", at=later, by="lp", data={"member": {
            "person_ref": "P-FIND01-3", "role": "child", "details": {"given_name": "Aoife", "family_name": "Smyth"}}}),
        Event(seq=len(events) + 2, type="PersonDetailsRecorded", at=later, by="lp", data={
            "person_ref": "P-FIND01-1", "details": {"family_name": "Smyth"}}),
    ]  # fmt: skip
    await store.append_events("FIND01", events)
    async with fresh_pool.acquire() as conn:
        await conn.execute("UPDATE cases SET ended_at = now() WHERE case_id = 'FIND01'")  # closed since

        async def found(scope=None, **search) -> list[tuple[str, str]]:
            rows = await find_people(conn, PersonSearch(**search), scope=scope, sealer=sealer)
            return [(r["case_id"], r["person_ref"]) for r in rows]

        child = [("FIND01", "P-FIND01-2")]
        assert await found(family_name="Smith", date_of_birth=date(2015, 3, 27)) == child  # sounds alike
        assert await found(family_name="SMYTH", given_name="siobhan") == child  # no accents, any case
        assert await found(postcode="m11ae") == child
        assert await found(nhs_number="943 476 5919") == child
        assert await found(family_name="Smith", date_of_birth=date(2015, 3, 28)) == []  # every part must match
        assert await found(scope=["East"], postcode="M1 1AE") == []  # another team's case
        stored = await conn.fetchval("SELECT string_agg(p::text, ' ') FROM person_index p")
        assert not [v for v in ("smyth", "Smyth", "siobh", "M11AE", "9434765919", "2015-03-27") if v in stored]
        assert ("FIND01", "P-FIND01-3") in await found(given_name="Aoife", family_name="Smith")  # who joined
        await erase_case(conn, "FIND01", "tm", "erasure request")
        assert await conn.fetchval("SELECT count(*) FROM person_index WHERE case_id = 'FIND01'") == 0
        await projections.rebuild(conn, sealer)  # its events open to their facts alone: nothing to index
        assert await conn.fetchval("SELECT count(*) FROM person_index WHERE case_id = 'FIND01'") == 0


def test_a_referred_person_is_the_same_person_by_nhs_number_upn_or_names_and_date_of_birth_together():
    """The engine's known-family check by details (activities/people_index.identities): each identity alone is
    enough; a family name and a date of birth without a given name, or a name's sound, is not one."""
    from activities.people_index import identities

    assert identities([{"nhs_number": "943 476 5919", "family_name": "Smyth"}]) == [[("nhs", "9434765919")]]
    named = identities([{"given_name": "Siobhán", "preferred_name": "Shiv", "family_name": "Ó Briain",
                         "date_of_birth": "2015-03-27"}])  # fmt: skip
    assert len(named) == 2 and all(len(parts) == 3 for parts in named)
    assert ("given", "shiv") in named[1] and ("born", "2015-03-27") in named[0]
    assert identities([{"family_name": "Smyth", "date_of_birth": "2015-03-27"}, {"given_name": "Ann"}]) == []


def walking(state: CaseState, events: list[Event]) -> Callable[[object, datetime], None]:
    """A command at a time of the test's choosing, the case's timers ticked to it first."""

    def do(command: object, at: datetime) -> None:
        events.extend(pathway.tick(state, at))
        events.extend(pathway.decide(state, command, at))  # type: ignore[arg-type]

    return do


def assessed(do: Callable[[object, datetime], None], state: CaseState, lead: str, start: datetime) -> None:
    """Screened at `start`, then allocated to `lead`, reached, visited and assessed a day apart."""
    do(RecordScreening(by="das", decision="accept"), start)
    do(Allocate(by="das", lead_practitioner=lead), start + timedelta(days=1))
    do(RecordContactAttempt(by=lead, method="phone", outcome="reached"), start + timedelta(days=2))
    do(RecordHomeVisit(by=lead, agreement_given=True, genogram_started=True, children_seen=True),
       start + timedelta(days=3))  # fmt: skip
    do(RecordAssessment(by=lead, worries=["w"], needs_to_happen=["n"], scaling=5, sources=["a", "b"],
                        needs=state.needs), start + timedelta(days=4))  # fmt: skip


async def test_open_plan_actions_are_the_leads_tasks_and_in_the_digest_until_a_review_closes_them(fresh_pool):
    """Each open action of a family's plan is its lead's task and, once due within the week or overdue, in the
    digest, by its need in words (issue #26); a review that closes an action takes it off both; a missed step
    not done stays among the lead's tasks (it used to leave them). Saved, then rebuilt: the same."""
    received = datetime(2026, 2, 2, 10, tzinfo=UTC)
    state, events = pathway.open_case(sample_referral("PLA001", received, locality="West"))
    needs = [n.code for n in state.needs]

    do = walking(state, events)
    assessed(do, state, "lp-plan", received + timedelta(hours=2))
    dues = [date(2026, 2, 20), date(2026, 3, 20), date(2026, 4, 20)]
    actions = [PlanAction(need_code=n, action="a", owner="o", due=d, action_id=f"A{i}")
               for i, (n, d) in enumerate(zip(needs, dues, strict=True))]  # fmt: skip
    taf_at = received + timedelta(days=10)
    do(RecordTaf(by="lp-plan", held_at=taf_at, attendees=["parent"], actions=actions, review_date=date(2026, 3, 5)),
       taf_at)  # fmt: skip
    store = CaseActivities(fresh_pool)
    await store.append_events("PLA001", events)
    now = datetime(2026, 3, 1, 9, tzinfo=UTC)
    async with fresh_pool.acquire() as conn:
        tasks = await read_model.tasks(conn, "lp-plan")
        due = await read_model.plan_actions_due(conn, now, within=timedelta(days=7), lead="lp-plan")
    plan_tasks = [(t["detail"], t["due_at"].astimezone(LONDON)) for t in tasks if t["task"] == "plan_action"]
    assert plan_tasks == [(n, datetime.combine(d + timedelta(days=1), datetime.min.time(), LONDON))
                          for n, d in zip(needs, dues, strict=True)]  # fmt: skip
    assert [(r["detail"], r["overdue"]) for r in due] == [(needs[0], True)]  # the later ones are not due this week
    # The day's digests as the activity writes them: the lead's and the West manager's list the overdue action.
    roles = Roles({"lp-plan": frozenset({"practitioners"}), "tm-west": frozenset({"managers"})},
                  {"lp-plan": frozenset({"West"}), "tm-west": frozenset({"West"})})  # fmt: skip
    digests = DigestActivities(fresh_pool, roles, deliver=False)
    await ActivityEnvironment().run(digests.write_digests, date(2026, 3, 1), now)
    written = await fresh_pool.fetch("SELECT recipient, subject, body FROM notifications WHERE kind = 'digest'")
    action = f"- Case PLA001 (West): family plan action ({needs[0].replace('_', ' ')}), due Sat 21 Feb 00:00"
    assert {r["recipient"] for r in written if action in r["body"]} == {"lp-plan", "tm-west"}
    review_at = datetime(2026, 3, 2, 11, tzinfo=UTC)
    progress = [NeedProgress(need_code=n, status="partly_met") for n in needs]
    before = len(events)
    do(RecordReview(by="lp-plan", held_at=review_at, progress=progress, next_review_date=date(2026, 5, 1),
                    action_updates=[ActionUpdate(action_id="A0", closed=True)]), review_at)  # fmt: skip
    await store.append_events("PLA001", events[before:])
    for rebuilt in (False, True):
        async with fresh_pool.acquire() as conn:
            if rebuilt:
                await projections.rebuild(conn)
            tasks = await read_model.tasks(conn, "lp-plan")
            due = await read_model.plan_actions_due(conn, now, within=timedelta(days=7), lead="lp-plan")
        assert [t["detail"] for t in tasks if t["task"] == "plan_action"] == needs[1:] and due == []
        assert {t["task"] for t in tasks} == {"plan_action", "review"}
    late, missed = pathway.open_case(sample_referral("PLA002", received, locality="West"))
    missed += pathway.decide(late, RecordScreening(by="das", decision="accept"), received + timedelta(hours=2))
    missed += pathway.decide(late, Allocate(by="das", lead_practitioner="lp-plan"), received + timedelta(days=1))
    missed += pathway.tick(late, received + timedelta(days=40))
    await store.append_events("PLA002", missed)
    async with fresh_pool.acquire() as conn:
        tasks = await read_model.tasks(conn, "lp-plan")
    assert ("PLA002", "taf", "missed") in {(t["case_id"], t["task"], t["status"]) for t in tasks}


@pytest.mark.parametrize("sealed", [False, True])
async def test_one_case_closed_for_each_reason_gives_the_reports_every_closure_figure(fresh_pool, sealed):
    """Issue #26 item 8: one case of each closure reason, each accepted, planned and closed by a manager in the
    period, saved in the clear and with the production sealer: five referrals, five accepted, five closures, one
    with needs met (20%), nothing open, signposted or stepped up."""
    import os

    from worker.codec import CaseKeys, EncryptionCodec
    from worker.keys import MasterKeys
    from worker.sealing import Sealer

    master = MasterKeys("k1", {"k1": os.urandom(32)})
    sealer = Sealer(EncryptionCodec(master, CaseKeys(fresh_pool, master))) if sealed else PLAIN
    store = CaseActivities(fresh_pool, sealer)
    reasons = ["needs_met", "needs_not_met", "unable_to_engage", "consent_withdrawn", "moved_away"]
    for n, reason in enumerate(reasons):
        received = datetime(2026, 2, 2 + n, 10, tzinfo=UTC)
        state, events = pathway.open_case(sample_referral(f"CLO00{n}", received, locality="East"), CURRENT_PRACTICE)

        do, at = walking(state, events), received + timedelta(hours=2)
        assessed(do, state, "lp", at)
        taf_at = at + timedelta(days=10)
        plan = [PlanAction(need_code=x.code, action="a", owner="o", due=taf_at.date()) for x in state.needs]
        do(RecordTaf(by="lp", held_at=taf_at, attendees=["parent"], actions=plan,
                     review_date=(taf_at + timedelta(weeks=4)).date()), taf_at)  # fmt: skip
        status = "met" if reason == "needs_met" else "not_met"
        outcomes = [NeedOutcome(need_code=x.code, summary="s", status=status) for x in state.needs]
        close_at = taf_at + timedelta(days=20)
        if reason == "consent_withdrawn":
            do(WithdrawConsent(by="lp", reason="the family asked"), close_at - timedelta(hours=1))
        needs_outcomes = reason in ("needs_met", "needs_not_met")
        do(RequestClosure(by="lp", reason=reason, need_outcomes=outcomes if needs_outcomes else []), close_at)
        do(DecideClosure(by="tm", approve=True, reason="agreed"), close_at + timedelta(hours=3))
        assert state.outcome is not None and state.outcome.reason == reason
        await store.append_events(state.referral.case_id, events)
    async with fresh_pool.acquire() as conn:
        figures = await report.performance(conn, *PERIOD, "East")
    assert (figures.referrals, figures.accepted, figures.closures) == (5, 5, 5)
    assert (figures.closures_needs_met, figures.closures_needs_met_pct) == (1, 20.0)
    assert (figures.open_cases, figures.signposted, figures.stepped_up, figures.mash_referrals) == (0, 0, 0, 0)
    assert (figures.taf_due, figures.taf_on_time, figures.taf_within_four_weeks_pct) == (5, 5, 100.0)
