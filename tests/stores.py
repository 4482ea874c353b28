"""A report store in a PostgreSQL schema of its own, for tests that run the CLI against it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from canary.config import Settings
from sinks import postgres
from tests.services import Services


@dataclass(frozen=True)
class PrivateStore:
    settings: Settings
    schema: str

    def env(self, topic: str) -> dict[str, str]:
        """The environment of a ``canary`` process that reads ``topic`` into this store."""
        return {
            **os.environ,
            "CANARY_KAFKA__COMPARE_TOPIC": topic,
            "CANARY_POSTGRES__REPORT_SCHEMA": self.schema,
        }


@contextmanager
def private_store(services: Services, prefix: str) -> Iterator[PrivateStore]:
    """A fresh report schema (and throwaway sink tables beside it), dropped afterwards."""
    suffix = uuid.uuid4().hex[:10]
    base = services.settings
    settings = base.model_copy(
        update={
            "postgres": base.postgres.model_copy(
                update={
                    "report_schema": f"{prefix}_{suffix}",
                    "table": f"orders_{suffix}",
                    "offsets_table": f"offsets_{suffix}",
                }
            )
        }
    )
    with postgres.connect(settings.postgres) as connection:
        postgres.init_schema(connection, settings.postgres)
    yield PrivateStore(settings, settings.postgres.report_schema)
    with postgres.connect(settings.postgres) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {settings.postgres.report_schema} CASCADE")  # type: ignore[arg-type]
        connection.execute(f"DROP TABLE IF EXISTS {settings.postgres.table}")  # type: ignore[arg-type]
        connection.execute(f"DROP TABLE IF EXISTS {settings.postgres.offsets_table}")  # type: ignore[arg-type]
        connection.commit()
