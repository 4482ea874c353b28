"""How a compare partition's join is saved: its whole state for the owner that resumes
it, and its summary (tally and pending records) for everyone who only reports."""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from canary.core.join import PartitionJoin, Snapshot
from canary.core.tally import Reservoir, Tally


def encode_state(join: PartitionJoin) -> bytes:
    return zlib.compress(orjson.dumps(join.as_state()), 1)


class UnreadableCheckpoint(Exception):
    """A saved state this version cannot read (another format, or damaged)."""


def decode_state(state: bytes, max_samples: int) -> PartitionJoin:
    try:
        return PartitionJoin.from_state(orjson.loads(zlib.decompress(state)), max_samples)
    except (ValueError, KeyError, TypeError, zlib.error) as exc:  # JSONDecodeError is a ValueError
        raise UnreadableCheckpoint(str(exc)) from exc


def summary_state(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "tally": snapshot.tally.as_state(),
        "pending": [reservoir.as_state() for reservoir in snapshot.pending],
    }


def summary_snapshot(state: dict[str, Any], max_samples: int) -> Snapshot:
    legacy, ring = (Reservoir.from_state(max_samples, s) for s in state["pending"])
    return Snapshot(Tally.from_state(max_samples, state["tally"]), (legacy, ring))
