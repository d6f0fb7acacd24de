"""The codec's cache of case keys stays bounded however many cases a worker touches (issue #17: worker
memory at 100,000 open cases), and a key pushed out of it is read again from PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
import uuid

from worker.codec import CaseKeys
from worker.keys import MasterKeys


async def test_the_key_cache_keeps_at_most_its_size_and_a_key_pushed_out_is_read_again(pool, database_url):
    master = MasterKeys("k1", {"k1": secrets.token_bytes(32)})
    keys = CaseKeys(pool, master, listen_url=database_url, cache_size=3)
    cases = [f"KEYS-{uuid.uuid4().hex[:8]}-{i}" for i in range(10)]
    made = {case: await keys.for_encrypt(case) for case in cases}
    assert len(keys._keys) == 3  # the cache holds 3 keys, not 10
    assert {case: await keys.for_decrypt(case) for case in cases} == made  # each read back from the table
    assert len(keys._keys) == 3
    await keys.close()


async def test_first_reads_at_once_make_one_listener_and_keep_every_key(pool, database_url, monkeypatch):
    """A worker just started takes a burst of new cases: their first key reads, all at once, open one listener
    between them and cache every key. (Each opened its own and cleared what the others had cached: the saves
    then read keys inside their transactions, each needing a second connection of the pool, until none was
    free: a burst of new cases deadlocked the worker.)"""
    import worker.codec

    master = MasterKeys("k1", {"k1": secrets.token_bytes(32)})
    keys = CaseKeys(pool, master, listen_url=database_url)
    connects = []
    real_connect = worker.codec.asyncpg.connect

    async def counted(*args, **kwargs):
        connects.append(args)
        return await real_connect(*args, **kwargs)

    monkeypatch.setattr(worker.codec.asyncpg, "connect", counted)
    cases = [f"BURST-{uuid.uuid4().hex[:8]}-{i}" for i in range(20)]
    try:
        await asyncio.gather(*(keys.for_encrypt(case) for case in cases))
        assert len(connects) == 1
        assert all(keys._cached(case) for case in cases)
    finally:
        await keys.close()


async def test_a_burst_of_escalations_after_a_restart_is_saved_on_a_small_pool(database_url):
    """Deadlines falling due together just after the worker restarted (no key cached): each escalation's save
    seals its message inside its transaction. The key is read before the transaction takes its connection, so
    saves on a pool smaller than the burst all finish (each used to hold a connection while waiting on another
    for its key: none ever came free)."""
    from datetime import UTC, datetime, timedelta

    from activities.db import connect
    from activities.store import CaseActivities
    from starter.local.samples import sample_referral
    from worker.codec import EncryptionCodec
    from worker.sealing import Sealer
    from workflows import pathway

    master = MasterKeys("k1", {"k1": secrets.token_bytes(32)})
    small = await connect(database_url, max_size=2)

    def restarted() -> tuple[CaseActivities, CaseKeys]:
        keys = CaseKeys(small, master, listen_url=database_url)
        return CaseActivities(small, Sealer(EncryptionCodec(master, keys))), keys

    received = datetime(2026, 3, 2, 9, tzinfo=UTC)
    store, keys = restarted()
    due = []
    for i in range(6):
        state, events = pathway.open_case(sample_referral(f"ESC-{uuid.uuid4().hex[:8]}-{i}", received))
        await store.append_events(state.referral.case_id, events)
        escalations = pathway.tick(state, received + timedelta(days=10))
        assert "DeadlineMissed" in {e.type for e in escalations}
        due.append((state.referral.case_id, escalations))
    await keys.close()
    store, keys = restarted()
    try:
        saved = await asyncio.wait_for(asyncio.gather(*(store.append_events(c, e) for c, e in due)), timeout=30)
        assert saved == [len(e) for _, e in due]
        messages = await small.fetchval(
            "SELECT count(*) FROM notifications WHERE case_id = any($1::text[])", [c for c, _ in due]
        )
        assert messages >= len(due)
    finally:
        await keys.close()
        await small.close()


async def test_each_cases_converter_is_kept_and_seals_under_that_cases_key(pool, database_url, monkeypatch):
    """The SDK asks the converter for a case's context at every command and activity: the answer is the case's own
    codec, built once and kept (the SDK's own answer built a new payload converter each time: issue #27)."""
    from temporalio.contrib.pydantic import PydanticPayloadConverter
    from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

    from worker.codec import KEY_ID, EncryptionCodec, encrypted_converter

    master = MasterKeys("k1", {"k1": secrets.token_bytes(32)})
    keys = CaseKeys(pool, master, listen_url=database_url)
    converter = encrypted_converter(EncryptionCodec(master, keys))
    built: list[object] = []
    monkeypatch.setattr(PydanticPayloadConverter, "__init__", lambda self, *a, **k: built.append(self))
    case = f"CONV-{uuid.uuid4().hex[:8]}"

    def activity(workflow_id: str) -> ActivitySerializationContext:
        return ActivitySerializationContext(
            namespace="default",
            activity_id="1",
            activity_type="append_events",
            activity_task_queue="q",
            workflow_id=workflow_id,
            workflow_type="EarlyHelpCase",
            is_local=False,
        )

    workflow = converter.with_context(WorkflowSerializationContext(namespace="default", workflow_id=f"case-{case}"))
    for _ in range(5):
        assert converter.with_context(activity(f"case-{case}")) is workflow
    assert workflow.with_context(activity("delivery-1")) is converter.with_context(activity("delivery-2"))
    assert not built  # no payload converter built for any of them
    [sealed] = await workflow.encode(["the family's details"])
    assert sealed.metadata[KEY_ID] == f"case:{case}".encode()
    assert await workflow.decode([sealed], [str]) == ["the family's details"]
    await keys.close()


def test_a_payload_converter_that_answers_per_context_gets_the_sdks_own_answer(monkeypatch):
    """Kept converters differ only in their codec: were the payload converter ever to answer per context (a newer
    SDK, another library), the SDK's own answer is used, with the payload converter's and the codec's."""
    from temporalio.converter import WorkflowSerializationContext

    from worker.codec import EncryptionCodec, encrypted_converter

    master = MasterKeys("k1", {"k1": secrets.token_bytes(32)})
    converter = encrypted_converter(EncryptionCodec(master, None))  # type: ignore[arg-type]
    per_context = object()
    monkeypatch.setattr(type(converter.payload_converter), "with_context", lambda self, context: per_context)
    answer = converter.with_context(WorkflowSerializationContext(namespace="default", workflow_id="case-C1"))
    assert answer.payload_converter is per_context and answer.payload_codec.case_id == "C1"
