"""`earlyhelp demo`: a realistic caseload across the localities and all routes.

Families are generated from a seeded generator (clearly fictional names, dates of birth and addresses in a
made-up town, no real data) and walked along the pathway to every stage a manager would see.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import asyncpg
from fpdf import FPDF
from rich.progress import Progress
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities import case_files
from starter.local import scripts
from starter.local.samples import sample_referral
from worker.identity import acting_for
from worker.sealing import Sealer
from worker.temporal import start_case
from workflows.case import EarlyHelpCase
from workflows.models import (
    DecideClosure,
    Family,
    IdentifyLeadPractitioner,
    Need,
    NeedCode,
    RecordContactAttempt,
    RecordDocument,
    RecordScreening,
    RecordUnannouncedVisit,
    RecordWarmHandover,
    Referral,
    ReferToMasp,
    Snapshot,
    StepDown,
)
from workflows.person import Address, PersonDetails, Relationship
from workflows.policy import DEFAULT_LOCALITIES, Policy

LEADS = ["lp-jones", "lp-khan", "lp-smith", "lp-nowak", "lp-osei", "lp-evans"]
Scenario = Callable[[scripts.Send, scripts.Now, str], Awaitable[object]]


async def _screening(send: scripts.Send, now: scripts.Now, lead: str) -> None:
    """Just referred: waiting for the screening decision."""


async def _signposted(send: scripts.Send, now: scripts.Now, lead: str) -> None:
    await send(
        EarlyHelpCase.record_screening,
        RecordScreening(by=scripts.SCREENER, decision="signpost", services=["Family Support", "Health Visiting"]),
    )


async def _awaiting_allocation(send: scripts.Send, now: scripts.Now, lead: str) -> None:
    await send(EarlyHelpCase.record_screening, RecordScreening(by=scripts.SCREENER, decision="accept"))


async def _initial_contact(send: scripts.Send, now: scripts.Now, lead: str) -> None:
    await scripts.allocated(send, lead)
    await send(EarlyHelpCase.record_contact_attempt, RecordContactAttempt(by=lead, method="phone", outcome="no_answer"))


async def _engagement_decision(send: scripts.Send, now: scripts.Now, lead: str) -> None:
    await scripts.allocated(send, lead)
    await send(EarlyHelpCase.record_contact_attempt, RecordContactAttempt(by=lead, method="phone", outcome="declined"))


async def _failed_contact(send: scripts.Send, lead: str) -> None:
    """Three phone calls nobody answered (the demo's cases take times of day as they come: their policy)."""
    await scripts.allocated(send, lead)
    for _ in range(3):
        await send(
            EarlyHelpCase.record_contact_attempt, RecordContactAttempt(by=lead, method="phone", outcome="no_answer")
        )


async def _warm_handover(send: scripts.Send, now: scripts.Now, lead: str) -> None:
    await _failed_contact(send, lead)


async def _unannounced_visits(send: scripts.Send, now: scripts.Now, lead: str) -> None:
    """Nobody in at the first unannounced visit: the letter left (on the case page, to print or post)."""
    await _failed_contact(send, lead)
    await send(EarlyHelpCase.record_warm_handover, RecordWarmHandover(by=lead, outcome="failed"))
    await send(
        EarlyHelpCase.record_unannounced_visit, RecordUnannouncedVisit(by=lead, outcome="no_answer", letter_left=True)
    )


async def _taf_pending(send: scripts.Send, now: scripts.Now, lead: str) -> None:
    await scripts.assessed(send, lead)


async def _plan_active(send: scripts.Send, now: scripts.Now, lead: str) -> None:
    await scripts.in_plan(send, now, lead)


async def _closure_pending(send: scripts.Send, now: scripts.Now, lead: str) -> None:
    await scripts.closure_requested(send, await scripts.in_plan(send, now, lead), lead=lead)


async def _closed(send: scripts.Send, now: scripts.Now, lead: str) -> None:
    await _closure_pending(send, now, lead)
    # Approved by the manager of the lead's team (people act only on their teams' cases).
    await send(EarlyHelpCase.decide_closure, DecideClosure(by=manager_of(lead), approve=True, reason="needs met"))


async def _masp(send: scripts.Send, now: scripts.Now, lead: str) -> None:
    await scripts.in_plan(send, now, lead)
    await send(EarlyHelpCase.refer_to_masp, ReferToMasp(by=lead, criteria=["no_improvement", "escalation"]))


async def _step_down_identified(send: scripts.Send, now: scripts.Now, lead: str) -> None:
    await send(
        EarlyHelpCase.identify_lead_practitioner,
        IdentifyLeadPractitioner(by="sw-ahmed", practitioner=lead, chosen_by_family=True),
    )


# Contact attempts seeded in one sitting come at one time of day: these cases ask for one time of day only.
CONTACT_AS_IT_COMES = Policy(distinct_times_of_day_required=1)

# (scenario, route details): every stage a manager would see, both routes, safeguarding.
SCENARIOS: list[tuple[Scenario, dict[str, object]]] = [
    (_screening, {}),
    (_signposted, {"needs": 2}),
    (_awaiting_allocation, {}),
    (_initial_contact, {}),
    (_engagement_decision, {}),
    (_warm_handover, {"policy": CONTACT_AS_IT_COMES}),
    (_unannounced_visits, {"policy": CONTACT_AS_IT_COMES}),
    (_taf_pending, {}),
    (_plan_active, {}),
    (_closure_pending, {}),
    (_closed, {}),
    (_masp, {"previous_referrals": 2}),
    (_screening, {"immediate_safeguarding": True}),
    (_step_down_identified, {"step_down": True, "cin": True}),
    (_step_down_identified, {"step_down": True}),
    (_screening, {"step_down": True}),
]


# Clearly fictional people and places: made-up family names and streets in a made-up town, and postcodes of an
# area (YY) that does not exist.
FAMILY_NAMES = ("Ashdown", "Brightwater", "Coldharbour", "Dunmore", "Elderfield", "Fernsby", "Greyling", "Hollin")
PARENTS = ("Aoife", "Bethan", "Chidi", "Dariusz", "Elif", "Farah", "Gwen", "Hamza", "Siobhán", "Zoë")
CHILDREN = ("Amelia", "Bilal", "Cerys", "Dylan", "Eryk", "Freya", "Gabriel", "Hana", "Niamh", "Tomasz")
STREETS = ("Mill Lane", "Canal Row", "Orchard Close", "Quarry Hill", "Weavers Court", "Beacon Road")


def fictional_family(referral: Referral, rnd: random.Random) -> Family:
    """The referral's parent and child with names, dates of birth, an address, and how they are related."""
    surname = rnd.choice(FAMILY_NAMES)
    address = Address(
        lines=[f"{rnd.randint(1, 120)} {rnd.choice(STREETS)}", "Calderbrook"],
        postcode=f"YY{rnd.randint(1, 9)} {rnd.randint(1, 9)}{rnd.choice('ABDEFGHJLN')}{rnd.choice('PQRSTUWXYZ')}",
    )
    parent, child = referral.family.members[:2]
    born = {parent.person_ref: date(1988, rnd.randint(1, 12), rnd.randint(1, 28)),
            child.person_ref: date(2015, rnd.randint(1, 12), rnd.randint(1, 28))}  # fmt: skip
    given = {parent.person_ref: rnd.choice(PARENTS), child.person_ref: rnd.choice(CHILDREN)}
    members = [
        m.model_copy(
            update={
                "details": PersonDetails(
                    given_name=given[m.person_ref],
                    family_name=surname,
                    date_of_birth=born[m.person_ref],
                    address=address,
                    language="English",
                )
            }
        )
        for m in (parent, child)
    ]
    parent_of = Relationship(from_ref=parent.person_ref, to_ref=child.person_ref, kind="parent")
    return referral.family.model_copy(update={"members": members, "relationships": [parent_of]})


def family(n: int, rnd: random.Random, options: dict[str, object], today: datetime) -> Referral:
    codes = rnd.sample(list(NeedCode), int(options.get("needs", rnd.choice([3, 3, 4, 5]))))  # type: ignore[call-overload]
    step_down = None
    if options.get("step_down"):
        step_down = StepDown(social_worker="sw-ahmed", cin_meeting_agreed_plan=bool(options.get("cin")))
    # Received over the last six months: deadlines of the families still waiting are overdue (the inbox's
    # escalations), and the report's months have shape. What happened next is recorded today.
    received = today - timedelta(days=rnd.uniform(1, 182))
    referral = sample_referral(
        f"DEMO-{n:03d}",
        received,
        locality=DEFAULT_LOCALITIES[n % len(DEFAULT_LOCALITIES)],
        needs=[Need(code=c, complex=True, description=f"{c.replace('_', ' ')} need") for c in codes],
        immediate_safeguarding=bool(options.get("immediate_safeguarding")),
        previous_referrals=int(options.get("previous_referrals", 0)),  # type: ignore[call-overload]
        step_down=step_down,
        **({"policy": options["policy"]} if "policy" in options else {}),
    )
    return referral.model_copy(update={"family": fictional_family(referral, rnd)})


def consent_form(referral: Referral) -> bytes:
    """The family's signed 'Early Help Information Sharing Consent Form', as a scanned form would be kept: a PDF
    naming the (fictional) parent who signed it and when."""
    parent = referral.family.members[0].details
    signed = " ".join(n for n in (parent.given_name, parent.family_name) if n) if parent else "the parent"
    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.multi_cell(0, 8, "Early Help Information Sharing Consent Form", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", size=11)
    text = (
        f"Our reference: {referral.case_id}\n\nI agree to the Early Help team sharing information about my family "
        "with the services that can help us, as explained to me.\n\n"
        f"Signed: {signed}\nDate: {referral.received_at:%d %B %Y}\n\n(A fictional form of the demo: no real family.)"
    )
    pdf.multi_cell(0, 6, text.encode("latin-1", "replace").decode("latin-1"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


async def keep_consent_form(pool: asyncpg.Pool, client: Client, referral: Referral, send: scripts.Send) -> None:
    """Keep the family's consent form on its case as the case page's form would: sealed, then recorded."""
    checked = case_files.check(consent_form(referral), "consent-form.pdf")
    document_id = f"DOC-{referral.case_id}"
    async with pool.acquire() as conn:
        await case_files.keep(conn, referral.case_id, document_id, checked, Sealer(client.data_converter.payload_codec))
    kept = RecordDocument(by=scripts.SCREENER, document_id=document_id, kind="consent_form", sha256=checked.sha256,
                          filename=checked.filename)  # fmt: skip
    await send(EarlyHelpCase.record_document, kept)


async def _wall_clock() -> datetime:
    return datetime.now(UTC)


async def seed_caseload(
    client: Client,
    count: int,
    seed: int,
    task_queue: str,
    pool: asyncpg.Pool | None = None,
    now: scripts.Now = _wall_clock,
) -> int:
    """Start and drive the demo's families; one already there is left as it is, so seeding resumes. With the
    database (`pool`), each family's signed consent form is kept on its case. `now`: the server's time (the
    wall clock's, but for a test server moved to another day)."""
    rnd = random.Random(seed)
    seeded = 0
    with Progress() as progress:
        task = progress.add_task("Seeding the demo caseload", total=count)
        for n in range(1, count + 1):
            scenario, options = SCENARIOS[(n - 1) % len(SCENARIOS)]
            referral = family(n, rnd, options, await now())
            try:
                await start_case(client, referral, task_queue)
            except WorkflowAlreadyStartedError:  # seeded before: leave that family as it is
                progress.advance(task)
                continue
            seeded += 1
            handle = client.get_workflow_handle(f"case-{referral.case_id}")

            async def send(update: object, command: object, handle=handle) -> Snapshot:  # noqa: B023
                acting_for.set(getattr(command, "by", None))  # signed for the demo person (local stack only)
                return await handle.execute_update(update, command, result_type=Snapshot)  # type: ignore[arg-type]

            if pool is not None:
                await keep_consent_form(pool, client, referral, send)
            await scenario(send, now, LEADS[n % len(LEADS)])
            progress.advance(task)
    return seeded


# Two managers' teams of three localities each; LEADS[i] works in DEFAULT_LOCALITIES[i].
MANAGERS = {"tm-patel": DEFAULT_LOCALITIES[:3], "tm-obi": DEFAULT_LOCALITIES[3:]}


def manager_of(lead: str) -> str:
    locality = DEFAULT_LOCALITIES[LEADS.index(lead)]
    return next(m for m, localities in MANAGERS.items() if locality in localities)


def demo_roles(password_hash: str) -> str:
    """The demo's people as a roles file: two managers' teams of three localities each, one practitioner
    a locality (the one whose cases the demo gives them), EH Duty and Advice, a social worker."""
    localities = DEFAULT_LOCALITIES
    managers = MANAGERS
    team = {
        loc: [m for m, locs in managers.items() if loc in locs] + [LEADS[i], "sw-ahmed"]
        for i, loc in enumerate(localities)
    }
    people = [*managers, scripts.SCREENER, *LEADS, "sw-ahmed", MASH_OFFICER]
    lines = [
        f"managers = {json.dumps(list(managers))}",
        f"screeners = {json.dumps([scripts.SCREENER])}",
        f"practitioners = {json.dumps(LEADS)}",
        'social_workers = ["sw-ahmed"]',
        f"mash = {json.dumps([MASH_OFFICER])}",
        "",
        "[teams]",
    ]
    lines += [f"{json.dumps(loc)} = {json.dumps(members)}" for loc, members in team.items()]
    lines += ["", "[passwords]"] + [f'{json.dumps(p)} = "{password_hash}"' for p in people]
    # Where deliveries go (to the local Notify stand-in): each person, each locality's managers, MASH.
    mailboxes = {p: f"{p}@{DEMO_MAIL}" for p in people}
    mailboxes |= {f"manager:{loc}": f"managers-{loc.lower().replace(' ', '-')}@{DEMO_MAIL}" for loc in localities}
    mailboxes["mash"] = f"mash@{DEMO_MAIL}"
    mailboxes["duty_manager"] = f"duty-manager@{DEMO_MAIL}"
    lines += ["", "[emails]"] + [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in mailboxes.items()]
    # How letters to families name each practitioner (clearly fictional; 01632 960xxx is Ofcom's drama range).
    lines += ["", "[staff]"] + [
        f"{json.dumps(lead)} = {{ name = {json.dumps(DEMO_STAFF_NAMES[i % len(DEMO_STAFF_NAMES)])},"
        f' team = {json.dumps(localities[i] + " Early Help team")}, phone = "01632 960{100 + i}" }}'
        for i, lead in enumerate(LEADS)
    ]
    return "\n".join(lines) + "\n"


DEMO_STAFF_NAMES = ("Jo Jones", "Priya Shah", "Gareth Evans", "Niamh Byrne", "Tomasz Nowak", "Amara Okafor")
DEMO_COUNCIL = {  # who the demo's letters are from (a fictional council)
    "EARLYHELP_COUNCIL_NAME": "Calderbrook Council (demo)",
    "EARLYHELP_COUNCIL_ADDRESS": "Town Hall; Market Street; Calderbrook CB1 1AA",
    "EARLYHELP_COUNCIL_PHONE": "01632 960000",
}


MASH_OFFICER = "mash-obi"  # the MASH team, who acknowledge referrals on the MASH queue
DEMO_MAIL = "demo.earlyhelp.invalid"  # a reserved domain: nothing can ever be delivered there
