"""The web app's process: `earlyhelp web` or `python -m web`, configured from the environment."""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web

from activities.retention import RetentionRule
from web.app import create_app
from web.oidc import Provider
from worker import logs
from worker.authz import Roles
from worker.config import Config, ConfigError
from worker.identity import Signer
from worker.process import run, stop_on_signals
from worker.temporal import connect, open_database, patiently, signing_interceptors


def roles_with_passwords(config: Config) -> Roles:
    if config.roles_file is None:
        raise ConfigError("EARLYHELP_ROLES_FILE", "the web app signs people in from the roles file: set it")
    roles = Roles.load(config.roles_file)
    if not roles.passwords and not config.oidc_issuer:
        raise ConfigError(
            "EARLYHELP_ROLES_FILE",
            "no [passwords] table and no EARLYHELP_OIDC_ISSUER: nobody could "
            "sign in (`earlyhelp hash-password` prints a line for it)",
        )
    return roles


async def serve(config: Config, stop: asyncio.Event | None = None) -> None:
    logs.configure(config.log_level)
    log = structlog.get_logger("earlyhelp.web")
    roles = roles_with_passwords(config)
    stop = stop_on_signals(stop)
    pool = await patiently(lambda: open_database(config), config.startup_seconds)
    try:
        client = await patiently(
            lambda: connect(config, pool=pool, interceptors=signing_interceptors(config)), config.startup_seconds
        )
        signer = Signer.from_file(config.signing_key, config.token_issuer) if config.signing_key else None
        app = create_app(
            client,
            pool,
            roles,
            config.task_queue,
            config.web_secure_cookies,
            signer,
            provider=Provider.from_config(config),
            sent_file=config.notify_sent_file,
            retention=RetentionRule.configured(config),
        )
        runner = web.AppRunner(app, access_log=None)  # paths hold case ids only, but keep logs to events
        await runner.setup()
        try:
            await web.TCPSite(runner, config.web_host, config.web_port).start()
        except OSError as e:
            raise ConfigError(
                "EARLYHELP_WEB_PORT",
                f"cannot listen on {config.web_host}:{config.web_port} ({e.strerror}): is it in use? Set another port",
            ) from None
        log.info("web started", address=f"http://{config.web_host}:{config.web_port}", people=len(roles.people))
        await stop.wait()
        await runner.cleanup()
    finally:
        await pool.close()
    log.info("web stopped")


def main() -> None:
    run(serve, "web")
