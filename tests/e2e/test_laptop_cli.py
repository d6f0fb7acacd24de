"""The staff machine (README "What each client holds"): `earlyhelp` with the web app's URL and nothing else (no
database URL, Temporal address or key) does a practitioner's and a manager's work through the staff API, and
sees exactly the cases the web app shows that person. Each surface of the API shows another team nothing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from starter.local.stack import laptop_environment
from tests.e2e.conftest import wait_until
from tests.e2e.test_cli_case import case_id
from tests.e2e.test_identity import PASSWORD, Trusted, closure_pending, login_token, trusted  # noqa: F401

EARLYHELP = str(Path(sys.executable).parent / "earlyhelp")


def staff_machine(t: Trusted, session: str = "session.json") -> dict[str, str]:
    """The whole environment of `earlyhelp` on a staff machine: what `earlyhelp up` prints, a HOME of its own."""
    folder = t.stack.folder / "laptop"
    folder.mkdir(exist_ok=True)
    return laptop_environment(t.web_url) | {
        "PATH": os.environ["PATH"],
        "HOME": str(folder),
        "EARLYHELP_SESSION_FILE": str(folder / session),
    }


def laptop(t: Trusted, *args: str) -> subprocess.CompletedProcess[str]:
    """`earlyhelp` as a process on a staff machine, its password at hand."""
    env = staff_machine(t) | {"EARLYHELP_PASSWORD": PASSWORD, "COLUMNS": "250"}
    return subprocess.run([EARLYHELP, *args], capture_output=True, text=True, timeout=120, env=env)


def laptop_json(t: Trusted, *args: str) -> Any:
    done = laptop(t, *args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_the_printed_staff_environment_holds_nothing_that_reaches_the_data():
    env = laptop_environment("http://127.0.0.1:8080")
    assert env == {"EARLYHELP_WEB_URL": "http://127.0.0.1:8080"}


def test_the_cli_with_only_the_web_apps_url_works_as_the_signed_in_person_and_sees_only_their_cases(
    trusted: Trusted,  # noqa: F811
):
    case = closure_pending(trusted)  # a North case, led by lp-jones
    unsigned = laptop(trusted, "status", case)
    assert unsigned.returncode == 2 and "sign in first" in unsigned.stderr + unsigned.stdout

    assert laptop(trusted, "login", "--user", "lp-jones").returncode == 0
    assert case in {r["case_id"] for r in laptop_json(trusted, "list")}
    assert laptop_json(trusted, "status", case)["stage"] == "closure_pending"
    assert "A. Nurse" in laptop(trusted, "timeline", case, "--json").stdout  # sealed values opened by the web app
    forged = laptop(trusted, "refuse", case, "--manager", "tm-patel", "--reason", "forged")
    assert forged.returncode == 1 and "not_authenticated" in forged.stderr + forged.stdout

    assert laptop(trusted, "login", "--user", "tm-patel").returncode == 0
    refused = laptop_json(trusted, "refuse", case, "--reason", "final TAF first")
    assert refused["stage"] != "closed"
    new = case_id()
    referred = laptop(
        trusted,
        "refer",
        "--case-id",
        new,
        "--locality",
        "North",
        "--family-ref",
        f"FAM-{new}",
        "--referrer-name",
        "A. Teacher",
        "--referrer-agency",
        "school",
        "--referrer-contact",
        "dsl@school.example",
        "--need",
        "education::attendance",
        "--json",
    )
    assert referred.returncode == 0, referred.stderr
    assert json.loads(referred.stdout)["stage"] == "screening"
    north = {r["case_id"] for r in laptop_json(trusted, "caseload")}
    assert {case, new} <= north

    # Another team's manager: none of it, by any command; a concern they raise is still acted on.
    assert laptop(trusted, "login", "--user", "tm-south").returncode == 0
    other = laptop(trusted, "status", case)
    assert other.returncode == 1 and "no such case in your teams' caseload" in other.stderr + other.stdout
    assert not {case, new} & {r["case_id"] for r in laptop_json(trusted, "list")}  # (each list: tests below)
    concern = laptop(trusted, "safeguarding", case, "--by", "tm-patel", "--details", "seen at the door")
    assert concern.returncode == 0, concern.stdout + concern.stderr
    assert trusted.stack.cli_json("status", case)["stage"] == "stepped_up"  # (ops: the stack's own CLI)
    raised = [e for e in trusted.stack.cli_json("timeline", case) if e["type"] == "SafeguardingConcernRaised"]
    assert raised[-1]["by"] == "tm-south"  # the proven sender; the name they gave is kept in the words only
    assert "tm-patel" in raised[-1]["data"]["details"]

    # lp-jones read it (status, timeline: a view each, audited once per view); tm-south saw nothing.
    viewed = trusted.stack.cli_json("audit", "--viewed", "--case", case)
    assert [row["who"] for row in viewed] == ["lp-jones", "lp-jones"]


def api(t: Trusted, person: str | None, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {login_token(t, person)}"} if person else {}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(t.web_url + "/api/v1" + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture(scope="module")
def north_case(trusted: Trusted) -> str:  # noqa: F811
    return closure_pending(trusted)


@pytest.mark.parametrize(
    "path",
    ["/caseload", "/due?within_hours=8000", "/approvals", "/audit?case={case}", "/ssd-episodes", "/cases?q={case}"],
)
def test_each_list_shows_a_case_to_its_team_and_never_to_another(trusted: Trusted, north_case: str, path: str):  # noqa: F811
    def listed(person: str) -> bool:
        status, answer = api(trusted, person, "GET", path.format(case=north_case))
        assert status == 200, answer
        rows = answer["rows"] if isinstance(answer, dict) else answer
        # (an SSD episode is named by its case and child: "<case>-<person>", or the case alone)
        ids = {r.get("case_id") or r["earl_episode_id"] for r in rows}
        return any(i == north_case or i.startswith(f"{north_case}-") for i in ids)

    # The lists read the read model, saved just after the command answered: the case shows there within moments.
    wait_until(lambda: listed("tm-patel"), within=30, what=f"{north_case} listed for its team at {path}")
    assert not listed("tm-south")


def test_a_case_its_commands_and_its_erasure_are_no_case_to_another_team(trusted: Trusted, north_case: str):  # noqa: F811
    case = f"/cases/{north_case}"
    assert api(trusted, "tm-patel", "GET", case)[0] == 200
    for method, path, body in [
        ("GET", case, None),
        ("GET", case + "/timeline", None),
        ("POST", case + "/commands/decide_closure", {"approve": True, "reason": "not my team"}),
        ("POST", case + "/erasure", {"reason": "erasure request"}),
    ]:
        status, answer = api(trusted, "tm-south", method, path, body)
        assert (status, answer["error"]) == (404, "There is no such case in your teams' caseload."), (path, answer)
    assert api(trusted, "tm-patel", "GET", case)[1]["stage"] == "closure_pending"


def test_roles_and_localities_are_decided_for_the_person_of_the_token(trusted: Trusted):  # noqa: F811
    manager_lists = ("/approvals", "/audit", "/ssd-episodes", "/report?from=2026-01-01&to=2026-12-31", "/retention")
    for path in (*manager_lists, "/people/P-1/record"):
        assert api(trusted, "lp-jones", "GET", path)[0] == 403, path
    assert api(trusted, "tm-patel", "GET", "/report?from=2026-01-01&to=2026-12-31")[0] == 200
    assert api(trusted, "tm-south", "GET", "/caseload?locality=North")[0] == 403
    contact = {"locality": "North", "channel": "phone", "outcome": "advice_given"}
    assert api(trusted, "tm-south", "POST", "/contacts", contact)[0] == 403
    status, logged = api(trusted, "tm-south", "POST", "/contacts", contact | {"locality": "South"})
    assert (status, logged["by"]) == (201, "tm-south")
    assert api(trusted, None, "GET", "/caseload")[0] == 401
    assert api(trusted, "tm-patel", "GET", "/me")[1] == {
        "person": "tm-patel",
        "roles": ["managers"],
        "localities": ["North"],
    }


def test_the_openapi_document_lists_every_command_of_the_contract(trusted: Trusted):  # noqa: F811
    from workflows.pathway import STEPS

    status, document = api(trusted, None, "GET", "/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    commands = {p.rsplit("/", 1)[1] for p in document["paths"] if "/commands/" in p}
    assert commands == {step.name for step in STEPS.values()}
    assert "Referral" in document["components"]["schemas"]


def test_a_concern_of_more_than_a_megabyte_is_taken_whole_in_numbered_parts(trusted: Trusted, north_case: str):  # noqa: F811
    """aiohttp refuses bodies over 1 MB by default (413): a pasted concern is never refused for its size."""
    from workflows.bounds import concern_parts

    details = "what the child said, word for word. " * 40_000  # 1,440,000 characters
    status, answer = api(trusted, "tm-patel", "POST", f"/cases/{north_case}/safeguarding", {"details": details})
    assert status == 202, answer
    assert answer["parts"] == len(concern_parts(details)) > 100
    last = f"(part {answer['parts']} of {answer['parts']})"

    def recorded() -> bool:
        timeline = trusted.stack.cli_json("timeline", north_case)
        return any(e["data"].get("details", "").startswith(last) for e in timeline)

    wait_until(recorded, what="every part recorded")


def test_a_council_account_signs_the_command_line_in_with_a_sign_in_made_in_the_web_app(
    trusted: Trusted,  # noqa: F811
    north_case: str,
):
    """People who sign in with their council account have no password for `earlyhelp login`: the web app makes
    them a command line sign-in (a POST with the session's CSRF token), and `login --token` takes it."""
    import html
    import http.cookiejar
    import re
    import urllib.parse

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(trusted.web_url + "/sign-in", timeout=10).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)[1]
    body = urllib.parse.urlencode({"csrf": csrf, "user": "lp-jones", "password": PASSWORD}).encode()
    opener.open(trusted.web_url + "/sign-in", data=body, timeout=10).read()
    page = opener.open(trusted.web_url + "/account/command-line", timeout=10).read().decode()
    assert "<textarea" not in page  # a GET makes nothing
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    made = opener.open(
        trusted.web_url + "/account/command-line", data=urllib.parse.urlencode({"csrf": csrf}).encode(), timeout=10
    )
    token = html.unescape(re.search(r"<textarea[^>]*>([^<]+)</textarea>", made.read().decode())[1]).strip()

    env = staff_machine(trusted, "token-session.json")
    wrong = subprocess.run(
        [EARLYHELP, "login", "--token"], env=env | {"EARLYHELP_LOGIN_TOKEN": "forged"}, capture_output=True, text=True
    )
    assert wrong.returncode == 1 and "not signed in" in wrong.stderr + wrong.stdout
    signed = subprocess.run(
        [EARLYHELP, "login", "--token"], env=env | {"EARLYHELP_LOGIN_TOKEN": token}, capture_output=True, text=True
    )
    assert signed.returncode == 0 and "Signed in as lp-jones" in signed.stdout, signed.stderr
    status = subprocess.run([EARLYHELP, "status", north_case, "--json"], env=env, capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["case_id"] == north_case


def test_a_retention_review_lists_a_closed_case_to_its_teams_manager_who_keeps_it_then_erases_it(trusted: Trusted):  # noqa: F811
    """Retention (activities/retention.py) through the one door: a closed case with no date of birth is due six
    years after closure; listed to its team's manager only; kept until a later review, then erased, each with a
    reason; the CLI on an ops machine lists the same."""
    case = closure_pending(trusted)
    closed = api(
        trusted, "tm-patel", "POST", f"/cases/{case}/commands/decide_closure", {"approve": True, "reason": "ok"}
    )
    assert closed[1]["stage"] == "closed", closed

    def due(person: str, on: str) -> dict[str, str]:
        status, rows = api(trusted, person, "GET", f"/retention?on={on}")
        assert status == 200, rows
        return {r["case_id"]: r["basis"] for r in rows}

    later = f"{datetime.now(UTC).year + 7}-01-01"
    assert wait_until(lambda: due("tm-patel", later).get(case)) == "years_after_closure"  # once its end is saved
    assert case not in due("tm-patel", f"{datetime.now(UTC).year + 5}-01-01")
    assert case not in due("tm-south", later)
    assert api(trusted, "lp-jones", "GET", "/retention")[0] == 403
    decision = f"/cases/{case}/retention"
    assert api(trusted, "tm-south", "POST", decision, {"decision": "erase", "reason": "x"})[0] == 404
    status, refused = api(trusted, "tm-patel", "POST", decision, {"decision": "keep", "reason": "sibling open"})
    assert (status, refused["error"].split(":")[0]) == (409, "review_again_on")
    keep = {"decision": "keep", "reason": "sibling open", "review_again_on": f"{datetime.now(UTC).year + 9}-06-01"}
    assert api(trusted, "tm-patel", "POST", decision, keep)[1]["decision"] == "kept"
    assert case not in due("tm-patel", later)
    listed = json.loads(trusted.stack.cli("retention", "--on", f"{datetime.now(UTC).year + 10}-01-01", "--json").stdout)
    assert {r["case_id"]: r["basis"] for r in listed}[case] == "kept"  # the ops machine's CLI reads the same
    erase = {"decision": "erase", "reason": "past its review, nothing open"}
    assert api(trusted, "tm-patel", "POST", decision, erase)[1]["decision"] == "erased"
    assert case not in due("tm-patel", "2200-01-01")


def test_a_manager_finds_a_person_by_name_as_it_sounds_and_date_of_birth_from_a_staff_machine(trusted: Trusted):  # noqa: F811
    """Issue #25's 'through the CLI': `earlyhelp find-person` asks the web app's Find a person (blind indexes,
    the person's teams only): 'Smyth' and a date of birth find the Smith of a North case; South's manager finds
    no one; with nothing asked it says what to give."""
    case, tag = closure_pending(trusted), case_id()
    member = {"person_ref": f"P-{case}-M", "role": "mother",
              "details": {"given_name": f"Rhiannon{tag[1:4]}", "family_name": "Smith", "date_of_birth": "1987-04-09"}}  # fmt: skip
    saved, trusted.stack.extra = trusted.stack.extra, {**trusted.stack.extra, **trusted.signing}
    try:
        trusted.stack.cli("add-family-member", case, "--by", "das-screener", "--member", json.dumps(member))
    finally:
        trusted.stack.extra = saved
    ask = (
        "find-person",
        "--family-name",
        "Smyth",
        "--given-name",
        f"Rhiannon{tag[1:4]}",
        "--date-of-birth",
        "1987-04-09",
    )

    def found_as(person: str) -> list[str]:
        assert laptop(trusted, "login", "--user", person).returncode == 0
        return [r["case_id"] for r in laptop_json(trusted, *ask)]

    assert wait_until(lambda: case in found_as("tm-patel"), what="the mother found once her details are saved")
    assert case not in found_as("tm-south")
    nothing = laptop(trusted, "find-person")
    assert nothing.returncode == 2 and "give at least one of" in nothing.stdout + nothing.stderr


def test_a_document_is_kept_from_a_staff_machine_once_and_a_file_that_is_not_one_is_refused(trusted: Trusted):  # noqa: F811
    """Issue #25's 'given a document ... through the CLI': `earlyhelp keep-document` sends the file to the web app,
    which keeps it as the case page does (judged by its content, sealed, recorded with its SHA-256); sent twice,
    kept once; a file named .pdf that is not one is refused by what it holds, and nothing is kept."""
    case = closure_pending(trusted)
    folder = trusted.stack.folder / "laptop"
    folder.mkdir(exist_ok=True)
    # a scanned form of 3 MB (many chunks on the wire: the body is read whole)
    (consent := folder / "consent.pdf").write_bytes(
        b"%PDF-1.4\n% signed consent form\n" + b"0" * 3_000_000 + b"\n%%EOF\n"
    )
    (fake := folder / "fake.pdf").write_bytes(b"MZ this is a program, not a PDF")
    assert laptop(trusted, "login", "--user", "lp-jones").returncode == 0
    first = laptop(trusted, "keep-document", case, str(consent), "--kind", "consent_form")
    again = laptop(trusted, "keep-document", case, str(consent), "--kind", "consent_form")
    assert first.returncode == again.returncode == 0, first.stdout + first.stderr
    kept = re.search(r"kept as (DOC-\w+)", first.stdout)
    assert kept and kept[1] in again.stdout
    refused = laptop(trusted, "keep-document", case, str(fake), "--kind", "consent_form")
    assert refused.returncode != 0 and "not one of" in refused.stdout + refused.stderr

    async def kept_files() -> list[tuple[str, int]]:
        conn = await asyncpg.connect(trusted.stack.database_url)
        try:
            rows = await conn.fetch("SELECT document_id, size FROM case_files WHERE case_id = $1", case)
            return [(r["document_id"], r["size"]) for r in rows]
        finally:
            await conn.close()

    assert asyncio.run(kept_files()) == [(kept[1], consent.stat().st_size)]  # the whole file, not its first chunk
    another_team = api(trusted, "tm-south", "POST", f"/cases/{case}/files?kind=consent_form&filename=x.pdf", "%PDF-")
    assert another_team[0] == 404 and len(asyncio.run(kept_files())) == 1  # no case to them, nothing kept
    timeline = laptop_json(trusted, "timeline", case)
    assert [e["data"]["filename"] for e in timeline if e["type"] == "DocumentRecorded"] == ["consent.pdf"]
