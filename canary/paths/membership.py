"""Stable static-member ids: a restarted member takes its predecessor's place at once.

With static membership (KIP-345) a member that comes back under the same
``group.instance.id`` gets its partitions again without a rebalance, instead of
waiting for the broker to time the dead one out. The id must be stable across
restarts yet unique among the members running at once, so each member claims the
lowest free *slot* of its group on this host: an exclusive lock on a small file,
which the kernel releases however the process ends (SIGKILL included). The id is
``<host>-<slot>``; the restarted member finds the same slot free and the same id.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import tempfile
from pathlib import Path

MAX_SLOTS = 256


class MemberSlot:
    """A claimed slot; ``release`` (or the end of the process) frees it."""

    def __init__(self, member_id: str, handle: int | None, slot: int | None = None) -> None:
        self.member_id = member_id
        self.slot = slot  # the host slot of an "auto" id, else None
        self._handle = handle

    @property
    def local_name(self) -> str:
        """What tells this member's local files apart from its neighbours': nothing for
        the first slot (so a single member keeps the configured names), else the id."""
        return "" if self.slot == 0 else self.member_id

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                os.close(handle)


def claim(group: str, configured: str, folder: Path | None = None) -> MemberSlot:
    """The member id for ``configured``: "" means no static membership, "auto" a slot of
    this host, anything else that id as given."""
    if configured != "auto":
        return MemberSlot(configured, None)
    base = folder or Path(tempfile.gettempdir()) / "canary-members"
    base.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha256(group.encode()).hexdigest()[:16]
    host = socket.gethostname() or "host"
    for slot in range(MAX_SLOTS):
        handle = os.open(base / f"{tag}.{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            continue
        os.set_inheritable(handle, False)
        return MemberSlot(f"{host}-{slot}", handle, slot)
    # Every slot taken: run as a dynamic member rather than collide with one.
    return MemberSlot("", None)
