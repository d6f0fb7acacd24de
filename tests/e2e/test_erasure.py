"""Erasure that cannot be undone, tested through the shipped processes (README "Erasure: what stays where").

The worker, web app and codec server run as processes; `earlyhelp login`, `timeline`, `erase`, `rebuild` and
`audit` run as processes too. The erased case's strings are looked for in every PostgreSQL table file and,
after a checkpoint, in its WAL; and through every running process.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import asyncpg
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from tests.e2e.conftest import wait_until
from tests.e2e.test_cli_case import case_id, drive_to_closure_pending, refer, saved_events
from tests.e2e.test_identity import PASSWORD, Trusted, codec_server, login_token, post, trusted  # noqa: F401

EARLYHELP = str(Path(sys.executable).parent / "earlyhelp")


def shipped(t: Trusted, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """An `earlyhelp` command as its own process, with the person's session file."""
    result = subprocess.run(
        [EARLYHELP, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **t.stack.env, "EARLYHELP_PASSWORD": PASSWORD, "COLUMNS": "250"},
    )
    if ok:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def nhs_number_for(tag: str) -> str:
    """A valid NHS number (modulus 11 check digit) no other test uses."""
    n = int(hashlib.sha256(tag.encode()).hexdigest(), 16)
    while True:
        digits = f"{n % 10**9:09d}"
        check = 11 - sum(int(d) * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check != 10:
            return digits + str(0 if check == 11 else check)
        n //= 7


def closed_case_with(t: Trusted, secrets: dict[str, str], case: str = "") -> str:
    """A closed case holding `secrets`: the referrer's name and contact, the worries, and (given) a mother's
    names, address and NHS number in the family record."""
    case = case or case_id()
    saved = t.stack.extra
    t.stack.extra = {**saved, **t.signing}
    try:
        refer(t.stack, case, "--referrer-name", secrets["name"], "--referrer-contact", secrets["contact"])
        drive_to_closure_pending(t.stack, case, worries=secrets["worries"])
        if "family_name" in secrets:
            details = {
                "given_name": secrets["given_name"],
                "family_name": secrets["family_name"],
                "address": {"lines": [secrets["street"]], "postcode": "YY9 9ZZ"},
                "nhs_number": secrets["nhs_number"],
            }
            member = {"person_ref": f"P-{case}-M", "role": "mother", "details": details}
            t.stack.cli("add-family-member", case, "--by", "das-screener", "--member", json.dumps(member))
        if "document" in secrets:  # a signed consent form kept on the case: its bytes sealed like the rest
            keep_document(t, "tm-patel", case, b"%PDF-1.4\n% " + secrets["document"].encode() + b"\n%%EOF\n")
        t.stack.cli("approve", case, "--manager", "tm-patel", "--reason", "needs met")
    finally:
        t.stack.extra = saved
    events = t.stack.cli_json("status", case)["events"]
    wait_until(lambda: len(saved_events(t.stack.database_url, case)) == events, what="the case saved")
    return case


async def database_files(database_url: str) -> tuple[bytes, bytes, bytes]:
    """Every table file, the WAL after a checkpoint, and case_keys' own files."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CHECKPOINT")
        data = Path(await conn.fetchval("SELECT current_setting('data_directory')"))
        keys_file = data / await conn.fetchval("SELECT pg_relation_filepath('case_keys')")
    finally:
        await conn.close()
    read = lambda folder: b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())  # noqa: E731
    keys = b"".join(p.read_bytes() for p in keys_file.parent.glob(keys_file.name + "*"))
    return read(data / "base") + read(data / "global"), read(data / "pg_wal"), keys


def found(blob: bytes, secrets: dict[str, str]) -> list[str]:
    return [what for what, text in secrets.items() if text.encode() in blob]


def signed_in(t: Trusted, person: str) -> urllib.request.OpenerDirector:
    """A browser's session with the running web app, signed in as `person`."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(t.web_url + "/sign-in", timeout=10).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)[1]
    body = urllib.parse.urlencode({"csrf": csrf, "user": person, "password": PASSWORD}).encode()
    opener.open(t.web_url + "/sign-in", data=body, timeout=10).read()
    return opener


def case_page(t: Trusted, person: str, case: str) -> str:
    """The case page as the running web app shows it to a signed-in person."""
    try:
        return signed_in(t, person).open(f"{t.web_url}/cases/{case}", timeout=10).read().decode()
    except urllib.error.HTTPError as e:
        return e.read().decode()


def keep_document(t: Trusted, person: str, case: str, content: bytes) -> None:
    """A document kept on the case through the case page's form (multipart, as a browser sends it)."""
    opener = signed_in(t, person)
    page = opener.open(f"{t.web_url}/cases/{case}", timeout=10).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    boundary = "----earlyhelp-test-boundary"
    parts = [(b'name="csrf"', csrf.encode()), (b'name="kind"', b"consent_form"),
             (b'name="file"; filename="consent.pdf"\r\nContent-Type: application/pdf', content)]  # fmt: skip
    body = (
        b"".join(
            b"--" + boundary.encode() + b"\r\nContent-Disposition: form-data; " + head + b"\r\n\r\n" + value + b"\r\n"
            for head, value in parts
        )
        + b"--"
        + boundary.encode()
        + b"--\r\n"
    )
    request = urllib.request.Request(f"{t.web_url}/cases/{case}/files", data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    assert "Document kept" in opener.open(request, timeout=30).read().decode()


def test_erasure_leaves_nothing_readable_in_the_database_its_wal_or_any_running_process(
    trusted: Trusted,  # noqa: F811 (the fixtures, imported above)
    codec_server: str,  # noqa: F811
):
    tag = case_id()
    letters = "".join(chr(ord("a") + int(c, 16) % 26) for c in tag[1:])  # names are letters
    secrets = {
        "name": f"Ann Referrer {tag}",
        "contact": f"{tag.lower()}@nhs.example",
        "worries": f"worried about {tag} at night",
        "given_name": f"Oonagh{letters}",
        "family_name": f"Quillfeather{letters}",
        "street": f"17 Lark Rise {tag}",
        "nhs_number": nhs_number_for(tag),  # this test's own: others record theirs unsealed (PLAIN)
        "document": f"Consent form signed by Oonagh{letters} on behalf of {tag}",
    }
    erased, kept = (
        closed_case_with(trusted, secrets, tag),
        closed_case_with(trusted, {"name": "Kept Referrer", "contact": "kept@nhs.example", "worries": "kept worries"}),
    )

    # Before: the people who may see the case see it whole...
    shipped(trusted, "login", "--web", trusted.web_url, "--user", "tm-patel")
    assert secrets["name"] in shipped(trusted, "timeline", erased, "--json").stdout
    assert secrets["worries"] in case_page(trusted, "tm-patel", erased)  # (the web app caches its key now)

    async def referral_payload() -> str:
        raw = await Client.connect(trusted.stack.server.address)  # the payloads as Temporal stores them
        history = await raw.get_workflow_handle(f"case-{erased}").fetch_history()
        payloads = history.events[0].workflow_execution_started_event_attributes.input
        return json_format.MessageToJson(Payloads(payloads=list(payloads.payloads)))

    payload = asyncio.run(referral_payload())
    assert post(codec_server + "/decode", payload, login_token(trusted, "tm-patel"))[0] == 200
    # ...and PostgreSQL never held them in the clear: each is sealed under the case's key, and the family's
    # reference is kept as its blind index (so no ref is left in a table file, index, statistics or the WAL).
    secrets["family_ref"] = f"FAM-{erased}"

    async def analysed() -> None:  # statistics gathered, as autovacuum would: the refs are in none of them
        conn = await asyncpg.connect(trusted.stack.database_url)
        try:
            await conn.execute("ANALYZE cases, case_people, case_events")
        finally:
            await conn.close()

    asyncio.run(analysed())
    tables, wal, _ = asyncio.run(database_files(trusted.stack.database_url))
    assert found(tables, secrets) == [] and found(wal, secrets) == []

    async def wrapped_key() -> bytes:
        conn = await asyncpg.connect(trusted.stack.database_url)
        try:
            return await conn.fetchval("SELECT wrapped_key FROM case_keys WHERE case_id = $1", erased)
        finally:
            await conn.close()

    key = asyncio.run(wrapped_key())
    assert key and key in asyncio.run(database_files(trusted.stack.database_url))[2]

    assert "erased" in shipped(trusted, "erase", erased, "--reason", "erasure request").stdout

    # After: no copy of the wrapped key in case_keys' files; nothing of the case in any table or the WAL.
    tables, wal, keys = asyncio.run(database_files(trusted.stack.database_url))
    assert key not in keys
    assert found(tables, secrets) == [] and found(wal, secrets) == []
    # Every running process has forgotten the key at once: codec server 410, web app and worker refuse.
    assert post(codec_server + "/decode", payload, login_token(trusted, "tm-patel"))[0] == 410
    page = case_page(trusted, "tm-patel", erased)
    assert "erased" in page and found(page.encode(), secrets) == []
    gone = shipped(trusted, "timeline", erased, ok=False)
    assert gone.returncode == 1 and "erased" in gone.stdout + gone.stderr
    assert found((gone.stdout + gone.stderr).encode(), secrets) == []
    # The rest goes on: the other case still opens; rebuild completes past the erased case and keeps its facts.
    assert "Kept Referrer" in shipped(trusted, "timeline", kept, "--json").stdout
    rebuilt = shipped(trusted, "rebuild", "--query", f"TaskQueue = '{trusted.stack.task_queue}'")
    assert "1 erased" in rebuilt.stdout
    report = trusted.stack.cli_json("list", "--stage", "closed")
    assert {erased, kept} <= {row["case_id"] for row in report}
    audit = shipped(trusted, "audit", "--case", erased, "--json").stdout
    assert '"erase"' in audit and '"tm-patel"' in audit and found(audit.encode(), secrets) == []
    shipped(trusted, "logout")
