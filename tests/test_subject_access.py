"""One person's record (activities/subject_access.py): every case of theirs the viewer may see, others redacted."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

from activities import subject_access
from activities.store import CaseActivities
from starter.local.samples import sample_referral
from worker.codec import CaseKeys, EncryptionCodec
from worker.keys import MasterKeys
from worker.sealing import Sealer
from workflows import pathway
from workflows.models import Event, Family, Member
from workflows.person import PersonDetails

NOW = datetime(2026, 12, 3, 10, tzinfo=UTC)


async def a_case(store: CaseActivities, case_id: str, locality: str) -> None:
    referral = sample_referral(case_id, datetime(2026, 2, 2, 10, tzinfo=UTC), locality=locality)
    mum = Member(person_ref="P-MUM", role="mother", details=PersonDetails(given_name="Aoife", family_name="Byrne"))
    brother = Member(person_ref=f"P-{case_id}-BRO", role="child", details=PersonDetails(given_name="Cian"))
    family = Family(family_ref=f"FAM-{case_id}", members=[mum, brother])
    _, events = pathway.open_case(referral.model_copy(update={"family": family}))
    at = datetime(2026, 3, 1, tzinfo=UTC)
    events += [
        Event(seq=len(events) + 1, type="PersonDetailsRecorded", at=at, by="lp", data={
            "person_ref": f"P-{case_id}-BRO", "details": {"given_name": "Cian", "date_of_birth": "2016-01-02"}}),
        Event(seq=len(events) + 2, type="RelationshipRecorded", at=at, by="lp", data={
            "from_ref": "P-MUM", "to_ref": f"P-{case_id}-BRO", "kind": "parent"}),
    ]  # fmt: skip
    await store.append_events(case_id, events)


async def test_a_persons_record_holds_each_visible_case_with_other_people_left_out(fresh_pool):
    master = MasterKeys("k1", {"k1": os.urandom(32)})
    sealer = Sealer(EncryptionCodec(master, CaseKeys(fresh_pool, master)))
    store = CaseActivities(fresh_pool, sealer)
    for case_id, locality in (("SAR01", "North"), ("SAR02", "North"), ("SAR03", "South")):
        await a_case(store, case_id, locality)
    async with fresh_pool.acquire() as conn:
        record = await subject_access.person_record(
            conn, "P-MUM", sealer, lambda locality, _lead: locality == "North", NOW
        )
        assert sorted(c.case_id for c in record.cases) == ["SAR01", "SAR02"]  # the other team's case is not hers
        text = record.model_dump_json()
        for other in ("Cian", "2016-01-02", "P-SAR01-BRO", "P-SAR02-BRO"):  # the brother: none of him
            assert other not in text, other
        assert "Aoife" in text and subject_access.OTHER in text  # her own details, and that others were there
        referred = next(e for e in record.cases[0].events if e.type == "CaseReferred")
        assert referred.data["referrer"] == {"agency": "school"}  # a referrer by their agency alone
        assert not [e for c in record.cases for e in c.events if e.type.startswith("Deadline")]
        words = subject_access.as_text(record)
        assert words.startswith(subject_access.CHECK_BEFORE_RELEASE) and "Case SAR01 (North" in words
        await subject_access.audited(conn, record, "tm-patel", "subject access export")
        audit = await conn.fetch("SELECT actor, action, case_id, reason FROM audit_log ORDER BY case_id")
        assert [(r["case_id"], r["action"]) for r in audit] == [
            ("SAR01", "subject access export"),
            ("SAR02", "subject access export"),
        ]
        assert "P-MUM" not in str([tuple(r) for r in audit])  # the reference is sealed everywhere
        nobody = await subject_access.person_record(conn, "P-NOBODY", sealer, lambda _l, _p: True, NOW)
        assert nobody.cases == [] and "No case you may see" in subject_access.as_text(nobody)


def test_redaction_leaves_out_another_members_reference_and_details_wherever_they_are():
    others = {"P-2"}
    value = {
        "members": [{"person_ref": "P-1", "role": "mother"}, {"person_ref": "P-2", "role": "child", "details": {}}],
        "relationships": [{"from_ref": "P-1", "to_ref": "P-2", "kind": "parent"}],
        "person_refs": ["P-2"],
        "referrer": {"name": "R. Hughes", "agency": "school", "contact": "dsl@school.example"},
    }
    assert subject_access.redacted(value, others) == {
        "members": [{"person_ref": "P-1", "role": "mother"}, {"person_ref": "[another person]", "role": "child"}],
        "relationships": [{"from_ref": "P-1", "to_ref": "[another person]", "kind": "parent"}],
        "person_refs": ["[another person]"],
        "referrer": {"agency": "school"},
    }
    assert date(2026, 1, 1) == subject_access.redacted(date(2026, 1, 1), others)
