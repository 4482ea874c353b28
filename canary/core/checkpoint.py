"""The records a checkpoint store takes and gives back (``sinks.checkpoints``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Claimed:
    """A partition just taken over: its new epoch and what was saved for it."""

    epoch: int
    position: int | None
    state: bytes | None


@dataclass(frozen=True, slots=True)
class Saved:
    """One partition's checkpoint, to be written under ``epoch``."""

    partition: int
    epoch: int
    position: int
    state: bytes
    summary: dict[str, Any]
