"""Data-protection commands of `earlyhelp`: erase, audit, codec-server, keys."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from temporalio.exceptions import ApplicationError

from activities.erasure import NotErasable, audit_trail, erase_case
from starter.cli import BY_HELP, app, fail, out, staff
from starter.staff import remote
from starter.staff.manager_cli import CsvFlag, JsonFlag, chosen, emit, with_db
from starter.staff.session import NotProven, proven_person
from worker.authz import Roles, Scope, hash_password
from worker.codec import CaseKeys, EncryptionCodec
from worker.config import Config, ConfigError
from worker.identity import Verifier
from worker.keys import MasterKeys, new_key_file
from worker.temporal import open_database

keys_app = typer.Typer(help="Master keys for payload encryption.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
certs_app = typer.Typer(help="Certificates for mTLS with Temporal (docker-compose.yml).", no_args_is_help=True)
app.add_typer(certs_app, name="certs")


@app.command()
def erase(
    case: str,
    by: Annotated[str | None, typer.Option(help=BY_HELP, envvar="EARLYHELP_USER")] = None,
    reason: Annotated[str | None, typer.Option(help="the lawful reason for erasure")] = None,
) -> None:
    """Erase a closed case: destroy its data key and its personal data; keep its statistics."""
    if (signed_in := remote.signed_in()) is not None:  # a manager of the case's own team, decided by the web app
        if not reason:
            fail("--reason is required: every erasure is audited", 2)
        if by not in (None, signed_in.person):
            fail(f"not_authenticated: --by {by!r} but signed in as {signed_in.person!r}", 1)
        staff("POST", f"/cases/{case}/erasure", {"reason": reason})
        out.print(f"Case {case} erased: its history can no longer be decoded; its statistics remain.")
        return
    config = Config.from_env()
    try:
        by = proven_person(by, "erasure")
    except NotProven as e:
        fail(str(e), 1)
    if not by or not reason:
        fail("--by and --reason are both required: every erasure is audited", 2)
    if not config.roles_file and not config.open_demo:
        fail("erasure is for a manager of the case's team, which the roles file says: set EARLYHELP_ROLES_FILE", 1)
    if config.roles_file:
        try:
            row = with_db(
                lambda conn: conn.fetchrow("SELECT locality, lead_practitioner FROM cases WHERE case_id = $1", case)
            )
            scope = Scope(case, row["locality"], row["lead_practitioner"]) if row else None
            Roles.load(config.roles_file).check("erase", by, scope)  # a manager of the case's own team
        except ApplicationError as e:
            fail(e.message, 1)
    try:
        with_db(lambda conn: erase_case(conn, case, by, reason))
    except NotErasable as e:
        fail(str(e), 1)
    out.print(f"Case {case} erased: its history can no longer be decoded; its statistics remain.")


@app.command()
def audit(
    case: Annotated[str | None, typer.Option(help="one case")] = None,
    by: Annotated[str | None, typer.Option(help="one person")] = None,
    viewed: Annotated[bool, typer.Option("--viewed", help="only who viewed (decoded) the case")] = False,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Who did what to which case, and when (commands, decodes through the codec server, erasures)."""
    if remote.signed_in():  # the manager's teams' cases only
        rows = remote.dated(staff("GET", "/audit", case=case, by=by, viewed=viewed))
    else:
        rows = with_db(lambda conn: audit_trail(conn, case, by))
    if viewed:
        rows = [r for r in rows if r["what"] == "viewed"]
    emit(rows, chosen(as_json, as_csv), "Who viewed the case" if viewed else "Audit trail")


LOOPBACK = ("127.0.0.1", "::1", "localhost")


@app.command("codec-server")
def codec_server(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    dev_ui: Annotated[
        bool,
        typer.Option(
            "--dev-ui",
            help="loopback only: decode for EARLYHELP_CODEC_DEV_PERSON a request without a token, "
            "for the Temporal Web UI of a local stack (it cannot send one)",
        ),
    ] = False,
) -> None:
    """Serve /decode and /encode for the Web UI and the Temporal CLI: a person's token, their cases only,
    every decode audited."""
    from aiohttp import web

    from starter.ops.codec_server import bearer_person, build_app, fixed_person

    try:
        config = Config.from_env()
        master = MasterKeys.from_config(config)
        if master is None:
            raise ConfigError("EARLYHELP_KEYS_FILE", "the codec server needs the master keys")
        if config.roles_file is None:
            raise ConfigError("EARLYHELP_ROLES_FILE", "the codec server decides who may see which case: set it")
        roles = Roles.load(config.roles_file)
        if dev_ui:
            if host not in LOOPBACK:
                raise ConfigError("--dev-ui", f"only on a loopback address, never on {host}")
            person = os.environ.get("EARLYHELP_CODEC_DEV_PERSON", "")
            if not roles.people.get(person):
                raise ConfigError("EARLYHELP_CODEC_DEV_PERSON", "name a person of the roles file to decode for")
            who = (
                bearer_person(Verifier.from_file(config.verify_key, config.token_issuer), without_token=person)
                if config.verify_key
                else fixed_person(person)
            )
        elif config.verify_key is None:
            raise ConfigError(
                "EARLYHELP_VERIFY_KEY",
                "the codec server admits a person's token: set the web app's public key (or --dev-ui on loopback)",
            )
        else:
            who = bearer_person(Verifier.from_file(config.verify_key, config.token_issuer))
    except ConfigError as e:
        fail(str(e), 2)

    async def make_app() -> web.Application:
        # The pool is made in the server's own event loop (one made in another loop fails every request).
        pool = await open_database(config)
        app = build_app(EncryptionCodec(master, CaseKeys(pool, master)), pool, roles, who, config.codec_origin)

        async def close(_: web.Application) -> None:
            await pool.close()

        app.on_cleanup.append(close)
        return app

    out.print(f"Codec server on http://{host}:{config.codec_port} for {config.codec_origin}")
    web.run_app(make_app(), host=host, port=config.codec_port, print=None)


@keys_app.command("new")
def keys_new(file: Annotated[Path, typer.Option(help="the key file to create")]) -> None:
    """Create a key file with one new AES-256 master key (keep it out of the repository)."""
    if file.exists():
        fail(f"{file} exists: use `earlyhelp keys rotate`", 2)
    new_key_file(file)
    out.print(f"Wrote {file}; set EARLYHELP_KEYS_FILE={file}")


@keys_app.command("rotate")
def keys_rotate(file: Annotated[Path, typer.Option(help="the key file to rotate")]) -> None:
    """Add a new active master key; old keys stay so that what they encrypted still decrypts."""
    try:
        doc = json.loads(file.read_text())
        keys = dict(doc["keys"])
    except (OSError, ValueError, KeyError) as e:
        fail(f"cannot read {file}: {e}", 2)
    active = f"k{len(keys) + 1}"
    new_key_file(file, active, keys, doc.get("index"))  # the index key is kept: blind indexes still match
    out.print(f"{file}: new active key {active}; {len(keys)} earlier key(s) kept. Restart the workers.")


@certs_app.command("new")
def certs_new(
    folder: Annotated[Path, typer.Option("--dir", help="where to write them")] = Path("secrets/tls"),
    days: Annotated[int, typer.Option(min=1, max=825, help="validity of the leaf certificates")] = 397,
) -> None:
    """A deployment CA, Temporal's server certificate (for the service `temporal`) and the services' client
    certificate, as docker-compose.yml mounts them."""
    from starter.ops.certs import new_certificates

    if (folder / "ca.pem").exists():
        fail(f"{folder} already has certificates: move them away first (rotation is a new set and a restart)", 2)
    for path in new_certificates(folder, days):
        out.print(f"  {path}")
    out.print(f"Wrote the certificates to {folder}; the CA's key is not kept.")


@app.command("hash-password")
def hash_password_command(
    person: Annotated[str, typer.Argument(help="the staff id, as in the roles file")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="asked for when not given")
    ],
) -> None:
    """Print a roles-file line with a password's scrypt hash, for web sign-in ([passwords] table)."""
    if len(password) < 12:
        fail("use at least 12 characters", 2)
    print(f'{json.dumps(person)} = "{hash_password(password)}"')
