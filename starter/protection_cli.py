"""Data-protection commands of `earlyhelp`: erase, audit, codec-server, keys."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from temporalio.exceptions import ApplicationError

from activities.erasure import NotErasable, audit_trail, erase_case
from starter.cli import BY_HELP, app, fail, out
from starter.manager_cli import CsvFlag, JsonFlag, chosen, emit, with_db
from worker.authz import Roles, hash_password
from worker.codec import CaseKeys, EncryptionCodec
from worker.config import Config, ConfigError
from worker.keys import MasterKeys, new_key_file
from worker.temporal import open_database

keys_app = typer.Typer(help="Master keys for payload encryption.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command()
def erase(case: str,
          by: Annotated[str | None, typer.Option(help=BY_HELP, envvar="EARLYHELP_USER")] = None,
          reason: Annotated[str | None, typer.Option(help="the lawful reason for erasure")] = None) -> None:
    """Erase a closed case: destroy its data key and its personal data; keep its statistics."""
    if not by or not reason:
        fail("--by and --reason are both required: every erasure is audited", 2)
    config = Config.from_env()
    if config.roles_file:
        try:
            Roles.load(config.roles_file).check("erase", by)
        except ApplicationError as e:
            fail(e.message, 1)
    try:
        with_db(lambda conn: erase_case(conn, case, by, reason))
    except NotErasable as e:
        fail(str(e), 1)
    out.print(f"Case {case} erased: its history can no longer be decoded; its statistics remain.")


@app.command()
def audit(case: Annotated[str | None, typer.Option(help="one case")] = None,
          by: Annotated[str | None, typer.Option(help="one person")] = None,
          as_json: JsonFlag = False, as_csv: CsvFlag = False) -> None:
    """Who did what to which case, and when (commands and erasures)."""
    emit(with_db(lambda conn: audit_trail(conn, case, by)), chosen(as_json, as_csv), "Audit trail")


@app.command("codec-server")
def codec_server(host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1") -> None:
    """Serve /decode and /encode for the Web UI and the Temporal CLI (bearer token, CORS for the UI only)."""
    from aiohttp import web

    from starter.codec_server import build_app

    try:
        config = Config.from_env()
        master = MasterKeys.from_config(config)
        if master is None:
            raise ConfigError("EARLYHELP_KEYS_FILE", "the codec server needs the master keys")
        if not config.codec_token:
            raise ConfigError("EARLYHELP_CODEC_TOKEN", "set a bearer token for the codec server")
        pool = asyncio.run(open_database(config))
    except ConfigError as e:
        fail(str(e), 2)
    codec = EncryptionCodec(master, CaseKeys(pool, master, cache=False))
    out.print(f"Codec server on http://{host}:{config.codec_port} for {config.codec_origin}")
    web.run_app(build_app(codec, config.codec_token, config.codec_origin), host=host, port=config.codec_port,
                print=None)


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
    new_key_file(file, active, keys)
    out.print(f"{file}: new active key {active}; {len(keys)} earlier key(s) kept. Restart the workers.")


@app.command("hash-password")
def hash_password_command(
    person: Annotated[str, typer.Argument(help="the staff id, as in the roles file")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="asked for when not given")],
) -> None:
    """Print a roles-file line with a password's scrypt hash, for web sign-in ([passwords] table)."""
    if len(password) < 12:
        fail("use at least 12 characters", 2)
    print(f'{json.dumps(person)} = "{hash_password(password)}"')
