"""Retention (activities/retention.py): when a closed family's record is due for review, and a manager's decision."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

import pytest

from activities import retention
from activities.retention import NotDecidable, RetentionDecision, RetentionRule, due_for_review
from activities.store import CaseActivities
from starter.local.samples import sample_referral
from worker.codec import CaseKeys, EncryptionCodec
from worker.keys import MasterKeys
from worker.sealing import Sealer
from workflows import pathway
from workflows.models import Event, Family, Member
from workflows.person import PersonDetails

RULE = RetentionRule()  # review at 25, or 6 years after closure with no date of birth
TODAY = date(2026, 12, 3)


async def closed_case(store: CaseActivities, case_id: str, locality: str, born: date | None, closed: datetime) -> None:
    referral = sample_referral(case_id, datetime(2026, 2, 2, 10, tzinfo=UTC), locality=locality)
    child = Member(
        person_ref=f"P-{case_id}-2", role="child", details=PersonDetails(date_of_birth=born) if born else None
    )
    family = Family(family_ref=f"FAM-{case_id}", members=[child, *referral.family.members[:1]])
    _, events = pathway.open_case(referral.model_copy(update={"family": family}))
    events.append(
        Event(seq=len(events) + 1, type="CaseEnded", at=closed, by="tm", data={"final_stage": "closed", "reason": "x"})
    )
    await store.append_events(case_id, events)


async def test_a_closed_case_is_reviewed_when_its_youngest_member_reaches_the_age_or_years_after_closure(fresh_pool):
    store = CaseActivities(fresh_pool)
    await closed_case(store, "RET01", "North", date(2015, 3, 27), datetime(2026, 3, 1, tzinfo=UTC))
    await closed_case(store, "RET02", "North", None, datetime(2026, 3, 1, 12, tzinfo=UTC))
    await closed_case(store, "RET03", "South", None, datetime(2026, 3, 1, 12, tzinfo=UTC))
    await store.append_events(  # a baby joins RET01's household later: the youngest is now born in 2027
        "RET01",
        [
            Event(seq=50, type="FamilyMemberAdded", at=datetime(2026, 4, 1, tzinfo=UTC), by="lp", data={
                "member": {"person_ref": "P-RET01-9", "role": "baby", "details": {"expected_date": "2027-01-20"}}}),
        ],
    )  # fmt: skip
    open_referral = sample_referral("RET04", datetime(2026, 2, 2, 10, tzinfo=UTC), locality="North")
    await store.append_events("RET04", pathway.open_case(open_referral)[1])  # open: never reviewed

    async def due(on: date, localities: list[str] | None = None) -> list[tuple[str, date, str]]:
        async with fresh_pool.acquire() as conn:
            return [
                (r["case_id"], r["review_on"], r["basis"]) for r in await due_for_review(conn, on, RULE, localities)
            ]

    assert await due(date(2032, 2, 29)) == []
    six_years = [("RET02", date(2032, 3, 1), "years_after_closure"), ("RET03", date(2032, 3, 1), "years_after_closure")]
    assert await due(date(2032, 3, 1)) == six_years
    assert await due(date(2052, 12, 31), ["North"]) == six_years[:1]  # a manager's teams only
    assert ("RET01", date(2053, 1, 1), "youngest_member_age") in await due(date(2053, 1, 1))
    assert await due(date(2053, 1, 1), ["North"]) == [
        *six_years[:1],
        ("RET01", date(2053, 1, 1), "youngest_member_age"),
    ]
    older_rule = RetentionRule(review_age=30)
    async with fresh_pool.acquire() as conn:
        assert "RET01" not in {r["case_id"] for r in await due_for_review(conn, date(2053, 1, 1), older_rule)}


async def test_a_manager_keeps_a_case_until_a_later_review_or_erases_it_and_the_reason_is_audited(fresh_pool):
    master = MasterKeys("k1", {"k1": os.urandom(32)})
    store = CaseActivities(fresh_pool, Sealer(EncryptionCodec(master, CaseKeys(fresh_pool, master))))
    await closed_case(store, "KEEP01", "North", None, datetime(2020, 1, 1, 12, tzinfo=UTC))
    await closed_case(store, "GONE01", "North", None, datetime(2020, 1, 1, 12, tzinfo=UTC))
    open_referral = sample_referral("OPEN01", datetime(2026, 2, 2, 10, tzinfo=UTC), locality="North")
    await store.append_events("OPEN01", pathway.open_case(open_referral)[1])

    async with fresh_pool.acquire() as conn:

        async def due(on: date = TODAY) -> dict[str, str]:
            return {r["case_id"]: r["basis"] for r in await due_for_review(conn, on, RULE)}

        assert await due() == {"KEEP01": "years_after_closure", "GONE01": "years_after_closure"}
        with pytest.raises(NotDecidable, match="review_again_on"):
            await retention.decide(conn, "KEEP01", "tm", RetentionDecision(decision="keep", reason="open CIN"), TODAY)
        keep = RetentionDecision(decision="keep", reason="a sibling's case is open", review_again_on=date(2028, 12, 1))
        assert await retention.decide(conn, "KEEP01", "tm-patel", keep, TODAY) == "kept"
        assert await due() == {"GONE01": "years_after_closure"}
        assert await due(date(2028, 12, 1)) == {"GONE01": "years_after_closure", "KEEP01": "kept"}
        with pytest.raises(NotDecidable, match="not a closed case"):
            await retention.decide(conn, "OPEN01", "tm", keep, TODAY)
        erase = RetentionDecision(decision="erase", reason="past the review age, nothing open")
        assert await retention.decide(conn, "GONE01", "tm-patel", erase, TODAY) == "erased"
        assert await due(date(2100, 1, 1)) == {"KEEP01": "kept"}  # an erased case is never listed again
        audit = [tuple(r) for r in await conn.fetch("SELECT actor, action, case_id, reason FROM audit_log ORDER BY id")]
        assert audit == [
            ("tm-patel", "retention: kept", "KEEP01", "review again on 1 December 2028: a sibling's case is open"),
            ("tm-patel", "erase", "GONE01", "retention review: past the review age, nothing open"),
        ]
        with pytest.raises(NotDecidable):  # erased: nothing left to decide on
            await retention.decide(conn, "GONE01", "tm-patel", keep, TODAY)


def test_a_decision_is_refused_by_field():
    for bad, field in [
        ({"decision": "shred", "reason": "x"}, "decision"),
        ({"decision": "keep", "reason": ""}, "reason"),
        ({"decision": "erase", "reason": "x\x00y"}, "reason"),
        ({"decision": "erase", "reason": "x" * 3_000_000}, "reason"),
        ({"decision": "keep", "reason": "x", "review_again_on": "9999-01-01"}, "review_again_on"),
        ({"decision": 5, "reason": "x"}, "decision"),
        ({"decision": "keep", "reason": "x", "review_again_on": "someday"}, "review_again_on"),
        ({"decision": "keep", "reason": "x", "extra": 1}, "extra"),
    ]:
        with pytest.raises(ValueError, match=field):
            RetentionDecision.model_validate(bad)
