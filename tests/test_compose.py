"""docker-compose.yml (no Docker engine here): it parses, pins its images, and
sets only the variables the code reads, with values the code accepts."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from worker.config import ENV, Config

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def expand(value: str) -> str:
    """Compose's ${VAR:-default} with the default taken (and ${VAR:?error} as a placeholder)."""
    return re.sub(r"\$\{[A-Z_]+:[-?]([^}]*)\}", r"\1", value)


FILES = {"EARLYHELP_KEYS_FILE", "EARLYHELP_ROLES_FILE", "EARLYHELP_VERIFY_KEY"}  # mounted secrets: not here
SIGNING = "EARLYHELP_SIGNING_KEY"  # the web app's alone


def service_env(name: str) -> dict[str, str]:
    env = {k: expand(str(v)) for k, v in compose()["services"][name]["environment"].items()}
    return env


def test_compose_parses_and_pins_every_image():
    services = compose()["services"]
    assert {"postgresql", "temporal", "temporal-ui", "worker"} <= set(services)
    for name, service in services.items():
        image = service.get("image", "")  # the codec server runs the worker's image
        assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", image), f"{name}: image {image!r} is not pinned to a version"


def test_worker_environment_is_read_by_the_code_and_valid():
    for name in ("worker", "codec-server", "web"):
        env = service_env(name)
        assert set(env) <= set(ENV.values()), (name, set(env) - set(ENV.values()))
        assert FILES <= set(env) and all(env[f].startswith("/run/secrets/") for f in FILES)
        assert (SIGNING in env) == (name == "web"), name
        assert env.get(SIGNING, "/run/secrets/").startswith("/run/secrets/")
        Config.from_env({k: v for k, v in env.items() if k not in FILES | {SIGNING}})
    config = Config.from_env({k: v for k, v in service_env("worker").items() if k not in FILES})
    assert config.temporal_address == "temporal:7233" and config.task_queue == "early-help"
    assert config.database_url.endswith("@postgresql:5432/earlyhelp")


def test_web_service_serves_the_web_app_on_its_published_port():
    web = compose()["services"]["web"]
    config = Config.from_env({k: v for k, v in service_env("web").items() if k not in FILES | {SIGNING}})
    assert web["command"] == ["earlyhelp", "web"] and config.web_host == "0.0.0.0"
    assert f"{config.web_port}:{config.web_port}" in web["ports"] and not config.web_secure_cookies


def test_worker_image_runs_the_worker_and_temporal_uses_postgresql():
    services = compose()["services"]
    assert services["worker"]["build"] == "."
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "worker"]' in dockerfile
    for folder in ("workflows", "activities", "worker", "starter", "web"):
        assert f"COPY {folder} {folder}" in dockerfile
    temporal = services["temporal"]["environment"]
    assert temporal["DB"].startswith("postgres") and temporal["POSTGRES_SEEDS"] == "postgresql"
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
