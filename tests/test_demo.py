"""`earlyhelp demo` (starter/local/demo.py): its families reach the stages the README's tour shows, each with a
clearly fictional family record (names, dates of birth, an address, how they are related) and its signed consent form."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from starter.local.demo import FAMILY_NAMES, SCENARIOS, seed_caseload
from tests.servers import case_worker, own_time_skipping_server
from tests.support import end, eventually
from workflows.case import EarlyHelpCase

# The demo records what happens next at today's time: a server of its own, not moved on by other tests.
env = own_time_skipping_server()


@pytest.fixture(scope="module")
async def task_queue(env: Any, pool: Any) -> AsyncIterator[str]:
    async with case_worker(env, pool, "demo") as queue:
        yield queue


async def test_the_demo_seeds_every_stage_with_fictional_families_and_a_visit_letter(env, task_queue, pool):
    count = len(SCENARIOS)
    now = env.get_current_time  # (the server's day, which `--day` moves)
    assert await seed_caseload(env.client, count, seed=7, task_queue=task_queue, pool=pool, now=now) == count
    handles = [env.client.get_workflow_handle_for(EarlyHelpCase.run, f"case-DEMO-{n:03d}") for n in range(1, count + 1)]
    try:
        stages = {(await h.query(EarlyHelpCase.snapshot)).stage for h in handles}
        wanted = {"screening", "signposted", "awaiting_allocation", "initial_contact", "warm_handover"}
        wanted |= {"unannounced_visits", "engagement_decision", "taf_pending", "plan_active", "closure_pending"}
        assert wanted | {"closed", "masp", "stepped_up"} <= stages, stages
        details = await handles[0].query(EarlyHelpCase.details)
        parent, child = details.members[:2]
        assert parent.details and parent.details.family_name in FAMILY_NAMES and parent.details.address
        assert parent.details.address.postcode.startswith("YY")  # an area that does not exist
        assert [(r.from_ref, r.kind, r.to_ref) for r in details.relationships] == [
            (parent.person_ref, "parent", child.person_ref)
        ]

        # Each family's signed consent form is kept on its case (sealed), whatever stage it reached since.
        for h in handles:
            [form] = (await h.query(EarlyHelpCase.details)).documents
            assert (form.kind, form.filename) == ("consent_form", "consent-form.pdf")
        kept = await pool.fetch("SELECT case_id, content_type FROM case_files WHERE case_id LIKE 'DEMO-%'")
        assert {(r["case_id"], r["content_type"]) for r in kept} == {
            (f"DEMO-{n:03d}", "application/pdf") for n in range(1, count + 1)
        }

        async def letters() -> int:
            return await pool.fetchval("SELECT count(*) FROM documents WHERE kind = 'visit_letter'")

        assert await eventually(letters)
        again = await seed_caseload(env.client, count, seed=7, task_queue=task_queue, now=now)
        assert again == 0  # seeding resumes: a family there already is left as it is
    finally:
        for h in handles:
            await end(h)
