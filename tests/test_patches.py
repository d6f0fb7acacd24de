"""The patch registry (workflows/patches.py): every id the workflows ask is registered, and deleting a patch's
old branch makes its golden history fail to replay or end otherwise than recorded (tests/histories/ends.py), so no old branch can be deleted while a golden needs it."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from starter.ops.histories import old_branch_deleted
from tests.histories.ends import ends_differing, golden_histories, replay
from workflows.case import EarlyHelpCase
from workflows.patches import DEPRECATED, PATCHES

WORKFLOWS = Path(__file__).parent.parent / "workflows"


def asked_ids() -> set[str]:
    """The ids passed by name to workflow.patched or workflow.deprecate_patch anywhere in workflows/ (or to a
    workflow's own `_patched`, which asks workflow.patched)."""
    found = set()
    for path in WORKFLOWS.glob("*.py"):
        module = importlib.import_module(f"workflows.{path.stem}")
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("patched", "deprecate_patch", "_patched")
                and node.args
                and isinstance(node.args[0], ast.Name)
                and hasattr(module, node.args[0].id)  # (not `_patched`'s own parameter)
            ):
                found.add(getattr(module, node.args[0].id))
    return found


def test_every_patch_the_workflows_ask_is_registered_with_its_golden_or_why_none():
    registered = {p.id for p in PATCHES}
    assert asked_ids() == (registered | set(DEPRECATED)) - {p.id for p in PATCHES if "bank holidays" in p.change}
    assert not registered & set(DEPRECATED)
    assert all(p.old_branch_golden or p.no_golden_because for p in PATCHES)


@pytest.mark.parametrize("patch", [p for p in PATCHES if p.old_branch_golden], ids=lambda p: p.id)
async def test_deleting_the_old_branch_fails_its_golden(patch):
    """What retiring the patch too early would do: `patched` becomes `deprecate_patch`, the new branch always."""
    with old_branch_deleted(patch.id):
        results, ends = await replay(EarlyHelpCase, golden_histories())
    failed = {name for name, failure in results.items() if failure} | set(ends_differing(ends))
    assert f"{patch.old_branch_golden}.run1" in failed


def test_earlyhelp_patches_counts_the_histories_that_need_each_old_branch():
    """`earlyhelp patches --dir` on the goldens: each old-branch golden is counted against its patch."""
    import json

    from typer.testing import CliRunner

    from starter.cli import app

    result = CliRunner().invoke(app, ["patches", "--dir", str(Path(__file__).parent / "histories"), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    counts = {row["patch"]: row["runs_needing_old_branch"] for row in answer["patches"]}
    assert answer["histories_read"] == len(golden_histories())
    assert set(counts) == {p.id for p in PATCHES if p.workflow == "EarlyHelpCase"}
    assert all(counts[p.id] >= 1 for p in PATCHES if p.old_branch_golden)


async def test_deleting_refuse_plaintext_starts_old_branch_fails_a_case_started_in_plaintext_before_it(env, pool):
    """refuse-plaintext-start's old branch, recorded here rather than kept as a file (it needs a worker with
    keys): a case started unencrypted on a keyed worker before the patch ran as a case. Its history replays
    with the old branch, and fails with the old branch deleted."""
    import os
    import uuid

    from temporalio.client import Client

    from activities.store import CaseActivities
    from starter.local.samples import sample_referral
    from starter.ops.histories import replay as ops_replay
    from tests.histories.record import answered_no
    from tests.support import Case, end
    from worker.codec import CaseKeys, EncryptionCodec, encrypted_converter
    from worker.keys import MasterKeys
    from worker.main import new_worker
    from workflows.case import REFUSE_PLAINTEXT_START

    master = MasterKeys("k1", {"k1": os.urandom(32)})
    converter = encrypted_converter(EncryptionCodec(master, CaseKeys(pool, master)))
    keyed = Client(env.client.service_client, namespace=env.client.namespace, data_converter=converter)
    queue = f"plaintext-{uuid.uuid4().hex[:8]}"
    with answered_no(REFUSE_PLAINTEXT_START):
        async with new_worker(keyed, CaseActivities(pool), queue):
            # Started by a client without the codec: the keyed worker sees a plaintext referral.
            referral = sample_referral(f"PT{uuid.uuid4().hex[:6]}", await env.get_current_time())
            await env.client.start_workflow(
                EarlyHelpCase.run, referral, id=f"case-{referral.case_id}", task_queue=queue
            )
            case = Case(
                env, keyed.get_workflow_handle_for(EarlyHelpCase.run, f"case-{referral.case_id}"), referral.case_id
            )
            await case.opened()
            assert (await case.snapshot()).stage == "screening"  # the old branch: it ran as a case
            history = await case.handle.fetch_history()
            await end(case.handle)

    async def one():
        yield history

    kept = await ops_replay(one(), converter)
    with old_branch_deleted(REFUSE_PLAINTEXT_START):
        deleted = await ops_replay(one(), converter)
    assert kept[0].failure is None and deleted[0].failure is not None
