"""Sample referrals for the demo and the tests. References only: no real family data."""

from __future__ import annotations

from datetime import datetime

from workflows.models import Consent, Family, Member, Need, NeedCode, Referral, Referrer, StepDown
from workflows.policy import Policy

COMPLEX_NEEDS = [
    Need(code=NeedCode.education, description="school attendance below 80%", complex=True),
    Need(code=NeedCode.housing, description="rent arrears, notice served", complex=True),
    Need(code=NeedCode.family_relationships, description="parental conflict", complex=True),
]


def sample_referral(
    case_id: str,
    received_at: datetime,
    *,
    needs: list[Need] | None = None,
    consent: bool = True,
    immediate_safeguarding: bool = False,
    previous_referrals: int = 0,
    step_down: StepDown | None = None,
    policy: Policy | None = None,
    locality: str = "Central",
) -> Referral:
    return Referral(
        case_id=case_id,
        route="step_down" if step_down else "referral",
        received_at=received_at,
        locality=locality,
        family=Family(
            family_ref=f"FAM-{case_id}",
            members=[
                Member(person_ref=f"P-{case_id}-1", role="parent", year_of_birth=1988),
                Member(person_ref=f"P-{case_id}-2", role="child", year_of_birth=2015),
            ],
        ),
        referrer=Referrer(name="A. Teacher", agency="school", contact="referrer@school.example"),
        needs=COMPLEX_NEEDS if needs is None else needs,
        consent=Consent(
            given=consent, recorded_by="referrer" if consent else None, form_ref="CF-1" if consent else None
        ),
        immediate_safeguarding=immediate_safeguarding,
        previous_referrals=previous_referrals,
        step_down=step_down,
        policy=policy,
    )
