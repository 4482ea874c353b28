"""A local snapshot of the ring path's position and counters, written atomically.

PostgreSQL's offsets table stays the source of truth; the checkpoint lets a restart say
where the previous run stood and how far it had got, even with the database down.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


@dataclass(slots=True)
class Checkpoint:
    group: str
    topic: str
    offsets: dict[int, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    written_at: float = 0.0


def write(path: Path, checkpoint: Checkpoint) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the old one:
    a crash leaves either the previous snapshot or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.written_at = time.time()
    body = orjson.dumps(
        {
            "group": checkpoint.group,
            "topic": checkpoint.topic,
            "offsets": {str(p): o for p, o in sorted(checkpoint.offsets.items())},
            "counters": checkpoint.counters,
            "written_at": checkpoint.written_at,
        }
    )
    handle, temporary = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(body)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def read(path: Path) -> Checkpoint | None:
    """The last snapshot, or None when there is none or it cannot be parsed."""
    try:
        data: Any = orjson.loads(path.read_bytes())
        return Checkpoint(
            group=str(data["group"]),
            topic=str(data["topic"]),
            offsets={int(p): int(o) for p, o in data["offsets"].items()},
            counters={str(k): int(v) for k, v in data["counters"].items()},
            written_at=float(data["written_at"]),
        )
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
