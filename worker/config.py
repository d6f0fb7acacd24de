"""The worker's configuration, from the environment, with documented defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    temporal_address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "early-help"
    database_url: str = "postgresql://postgres@localhost:5432/earlyhelp"

    @classmethod
    def from_env(cls) -> Config:
        return cls(
            temporal_address=os.environ.get("TEMPORAL_ADDRESS", cls.temporal_address),
            namespace=os.environ.get("TEMPORAL_NAMESPACE", cls.namespace),
            task_queue=os.environ.get("EARLYHELP_TASK_QUEUE", cls.task_queue),
            database_url=os.environ.get("DATABASE_URL", cls.database_url),
        )
