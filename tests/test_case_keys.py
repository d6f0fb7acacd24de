"""The codec's cache of case keys stays bounded however many cases a worker touches (issue #17: worker
memory at 100,000 open cases), and a key pushed out of it is read again from PostgreSQL."""

from __future__ import annotations

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
