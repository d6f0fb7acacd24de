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


FILES = {"EARLYHELP_KEYS_FILE", "EARLYHELP_ROLES_FILE"}  # mounted secrets: not on this machine


def test_compose_parses_and_pins_every_image():
    services = compose()["services"]
    assert {"postgresql", "temporal", "temporal-ui", "worker"} <= set(services)
    for name, service in services.items():
        image = service.get("image", "")  # the codec server runs the worker's image
        assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", image), f"{name}: image {image!r} is not pinned to a version"


def test_worker_environment_is_read_by_the_code_and_valid():
    services = compose()["services"]
    for name in ("worker", "codec-server"):
        env = {k: expand(str(v)) for k, v in services[name]["environment"].items()}
        assert set(env) <= set(ENV.values()), (name, set(env) - set(ENV.values()))
        assert FILES <= set(env) and all(env[f].startswith("/run/secrets/") for f in FILES)
        Config.from_env({k: v for k, v in env.items() if k not in FILES})
    env = {k: expand(str(v)) for k, v in services["worker"]["environment"].items() if k not in FILES}
    config = Config.from_env(env)
    assert config.temporal_address == "temporal:7233" and config.task_queue == "early-help"
    assert config.database_url.endswith("@postgresql:5432/earlyhelp")


def test_worker_image_runs_the_worker_and_temporal_uses_postgresql():
    services = compose()["services"]
    assert services["worker"]["build"] == "."
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "worker"]' in dockerfile
    for folder in ("workflows", "activities", "worker", "starter"):
        assert f"COPY {folder} {folder}" in dockerfile
    temporal = services["temporal"]["environment"]
    assert temporal["DB"].startswith("postgres") and temporal["POSTGRES_SEEDS"] == "postgresql"
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
