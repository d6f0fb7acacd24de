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
    """Compose's ${VAR:-default} with the default taken."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_compose_parses_and_pins_every_image():
    services = compose()["services"]
    assert {"postgresql", "temporal", "temporal-ui", "worker"} <= set(services)
    for name, service in services.items():
        image = service.get("image", "")
        assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", image), f"{name}: image {image!r} is not pinned to a version"


def test_worker_environment_is_read_by_the_code_and_valid():
    worker = compose()["services"]["worker"]
    env = {k: expand(str(v)) for k, v in worker["environment"].items()}
    assert set(env) <= set(ENV.values()), set(env) - set(ENV.values())
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
