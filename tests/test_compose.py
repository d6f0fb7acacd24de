"""docker-compose.yml (no Docker engine here): it parses, pins its images (Temporal's at the dev server's
version), sets Temporal up as its own samples-server compose does, keeps Temporal's frontend off the host
behind mTLS with certificates `earlyhelp certs new` makes, puts the Web UI behind OIDC, and sets only the
variables the code reads, with values the code accepts."""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
import sys
from pathlib import Path

import yaml

from starter.ops.certs import new_certificates
from worker.config import ENV, Config

ROOT = Path(__file__).resolve().parents[1]
SECRETS = "/run/secrets/"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


# What an operator sets for ${VAR:?...} (compose refuses to start without them).
REQUIRED = {"EARLYHELP_OIDC_ISSUER": "https://login.council.example", "POSTGRES_PASSWORD": "a-password"}


def expand(value: str) -> str:
    """Compose's ${VAR:-default} with the default taken, and ${VAR:?error} as an operator would set it."""
    value = re.sub(r"\$\{([A-Z_]+):\?[^}]*\}", lambda m: REQUIRED.get(m[1], "set-by-the-operator"), value)
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


# Mounted secrets (files that are not here) and the web app's alone.
FILES = {
    "EARLYHELP_KEYS_FILE",
    "EARLYHELP_ROLES_FILE",
    "EARLYHELP_VERIFY_KEY",
    "TEMPORAL_TLS_CERT",
    "TEMPORAL_TLS_KEY",
    "TEMPORAL_TLS_CA",
}
SIGNING = "EARLYHELP_SIGNING_KEY"
EARLYHELP_SERVICES = ("worker", "codec-server", "web")


def service_env(name: str) -> dict[str, str]:
    return {k: expand(str(v)) for k, v in compose()["services"][name]["environment"].items()}


def dev_server_versions() -> dict[str, str]:
    """`temporal --version`: e.g. 'temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)'."""
    text = subprocess.run(
        [str(Path(sys.executable).parent / "temporal"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    return dict(re.findall(r"(Server|UI) ([\d.]+)", text))


def test_compose_parses_and_pins_every_image():
    services = compose()["services"]
    assert {"postgresql", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui", "worker"} <= set(services)
    for name, service in services.items():
        image = service.get("image", "")
        assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", image), f"{name}: image {image!r} is not pinned to a version"


def test_temporal_runs_the_server_image_at_the_dev_servers_version_never_auto_setup():
    services, versions = compose()["services"], dev_server_versions()
    assert services["temporal"]["image"] == f"temporalio/server:{versions['Server']}"
    for tool in ("temporal-schema", "temporal-namespace"):
        assert services[tool]["image"] == f"temporalio/admin-tools:{versions['Server']}"
    assert services["temporal-ui"]["image"] == f"temporalio/ui:{versions['UI']}"
    assert not any("auto-setup" in s.get("image", "") for s in services.values())


def test_temporals_schemas_are_set_up_and_upgraded_before_it_starts_and_the_namespace_registered():
    services = compose()["services"]
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    script = (ROOT / "deploy/temporal/setup-schema.sh").read_text()
    assert services["temporal-schema"]["command"] == ["/scripts/setup-schema.sh"]
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert step in script, step
    assert "temporal temporal_visibility" in script and "postgresql/v12/$schema/versioned" in script
    namespace = (ROOT / "deploy/temporal/create-namespace.sh").read_text()
    assert "temporal operator namespace create" in namespace and "--tls-cert-path" in namespace
    assert services["temporal-namespace"]["environment"]["NAMESPACE"] == Config().namespace
    for name in EARLYHELP_SERVICES[::2]:  # the worker and the web app wait for the namespace
        assert services[name]["depends_on"]["temporal-namespace"]["condition"] == "service_completed_successfully"
    for script_file in ROOT.glob("deploy/temporal/*.sh"):
        subprocess.run(["sh", "-n", str(script_file)], check=True)


def test_temporals_frontend_is_not_published_and_requires_client_certificates():
    temporal = compose()["services"]["temporal"]
    assert "ports" not in temporal and temporal["expose"] == ["7233"]
    env = service_env("temporal")
    assert env["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    for variable in ("SERVER_CERT", "SERVER_KEY", "SERVER_CA_CERT", "FRONTEND_CERT", "FRONTEND_KEY", "CLIENT1_CA_CERT"):
        assert env[f"TEMPORAL_TLS_{variable}"].startswith(SECRETS), variable
    assert env["TEMPORAL_TLS_FRONTEND_SERVER_NAME"] == "temporal"


def test_every_earlyhelp_service_uses_mtls_and_its_secrets_exist():
    services, secrets = compose()["services"], compose()["secrets"]
    for name in (*EARLYHELP_SERVICES, "temporal-ui"):
        env = service_env(name)
        mounted = set(services[name]["secrets"])
        for variable in ("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA"):
            if name == "codec-server":
                continue  # it never calls Temporal
            secret = env[variable].removeprefix(SECRETS)
            assert secret in mounted and secret in secrets, (name, variable)


def test_the_files_earlyhelp_certs_new_makes_are_the_ones_compose_mounts(tmp_path: Path):
    written = {p.name for p in new_certificates(tmp_path)}
    for secret in compose()["secrets"].values():
        if secret["file"].startswith("./secrets/tls/"):
            assert Path(secret["file"]).name in written, secret["file"]
    assert (tmp_path / "client-key.pem").stat().st_mode & 0o077 == 0  # private keys: owner only


def test_the_certificates_make_an_mtls_handshake_and_refuse_a_client_without_one(tmp_path: Path):
    """Temporal's frontend as compose configures it (server cert, client auth required, the deployment CA),
    dialled as the services dial it (`temporal` as the server name) over a real TLS connection."""
    new_certificates(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tmp_path / "ca.pem")
    server.load_cert_chain(tmp_path / "temporal.pem", tmp_path / "temporal-key.pem")
    server.verify_mode = ssl.CERT_REQUIRED

    def client(with_certificate: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=tmp_path / "ca.pem")
        if with_certificate:
            context.load_cert_chain(tmp_path / "client.pem", tmp_path / "client-key.pem")
        return context

    async def dial(context: ssl.SSLContext) -> bytes:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peercert")
            writer.write(dict(x[0] for x in peer["subject"])["commonName"].encode())
            await writer.drain()
            writer.close()

        listening = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server)
        port = listening.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="temporal")
            got = await reader.read(100)
            writer.close()
            return got
        finally:
            listening.close()

    assert asyncio.run(dial(client(True))) == b"earlyhelp services"
    try:
        refused = asyncio.run(dial(client(False)))
    except (ssl.SSLError, ConnectionResetError):
        refused = b""
    assert refused == b""


def test_the_web_ui_is_behind_oidc_and_decodes_through_the_codec_server():
    env = service_env("temporal-ui")
    assert env["TEMPORAL_AUTH_ENABLED"] == "true"
    for variable in ("PROVIDER_URL", "CLIENT_ID", "CLIENT_SECRET", "CALLBACK_URL"):
        assert env[f"TEMPORAL_AUTH_{variable}"], variable
    assert env["TEMPORAL_CODEC_ENDPOINT"].startswith("https://")
    assert env["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"  # it holds the services' certificate: read-only
    assert service_env("codec-server")["EARLYHELP_CODEC_ORIGIN"] == env["TEMPORAL_CORS_ORIGINS"]


def test_worker_environment_is_read_by_the_code_and_valid():
    for name in EARLYHELP_SERVICES:
        env = service_env(name)
        assert set(env) <= set(ENV.values()), (name, set(env) - set(ENV.values()))
        assert FILES <= set(env) and all(env[f].startswith(SECRETS) for f in FILES)
        assert (SIGNING in env) == (name == "web"), name
        assert env.get(SIGNING, SECRETS).startswith(SECRETS)
        Config.from_env({k: v for k, v in env.items() if k not in FILES | {SIGNING}})
    config = Config.from_env({k: v for k, v in service_env("worker").items() if k not in FILES})
    assert config.temporal_address == "temporal:7233" and config.task_queue == "early-help"
    assert config.database_url.endswith("@postgresql:5432/earlyhelp")


def test_web_service_serves_the_web_app_on_its_published_port_with_council_sign_in():
    web = compose()["services"]["web"]
    config = Config.from_env({k: v for k, v in service_env("web").items() if k not in FILES | {SIGNING}})
    assert web["command"] == ["earlyhelp", "web"] and config.web_host == "0.0.0.0"
    assert f"{config.web_port}:{config.web_port}" in web["ports"] and config.web_secure_cookies
    assert config.oidc_issuer and config.oidc_client_id


def test_worker_image_runs_the_worker_and_temporal_uses_postgresql():
    services = compose()["services"]
    assert services["worker"]["build"] == "."
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "worker"]' in dockerfile
    for folder in ("workflows", "activities", "worker", "starter", "web"):
        assert f"COPY {folder} {folder}" in dockerfile
    temporal = service_env("temporal")
    assert temporal["DB"].startswith("postgres") and temporal["POSTGRES_SEEDS"] == "postgresql"
    assert service_env("temporal-ui")["TEMPORAL_ADDRESS"] == "temporal:7233"
