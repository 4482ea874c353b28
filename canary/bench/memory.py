"""Peak resident memory of a process tree: a process and every descendant, summed.

``ru_maxrss`` covers one process; the ring path in worker-process mode spreads its
work over child interpreters, whose memory a user pays for too. The sum is sampled
(a peak between two samples is missed), so it is a lower bound of the true peak.
Descendants are found by each process's parent id in ``/proc/<pid>/stat``: the
``/proc/<pid>/task/*/children`` files need a kernel option that is not always set.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol


class ProcReader(Protocol):
    """What the sampler reads of ``/proc``; a test passes a fake."""

    def parents(self) -> Mapping[int, int]:
        """Parent pid of every live process."""
        ...

    def rss_kb(self, pid: int) -> int:
        """Resident set of ``pid`` in kB; 0 when it has gone."""
        ...


class ProcFs:
    """The real ``/proc`` (or another root laid out like it)."""

    def __init__(self, root: Path = Path("/proc")) -> None:
        self.root = root

    def parents(self) -> dict[int, int]:
        found: dict[int, int] = {}
        for entry in self.root.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone between the listing and the read
            # The command name may hold spaces and parentheses: fields follow the last ")".
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 1:
                found[int(entry.name)] = int(fields[1])
        return found

    def rss_kb(self, pid: int) -> int:
        try:
            status = (self.root / str(pid) / "status").read_text()
        except OSError:
            return 0
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0  # a zombie has no VmRSS line


def descendants(root: int, parents: Mapping[int, int]) -> set[int]:
    """``root`` and every process below it."""
    children: defaultdict[int, list[int]] = defaultdict(list)
    for pid, parent in parents.items():
        children[parent].append(pid)
    tree = {root}
    todo = [root]
    while todo:
        for child in children[todo.pop()]:
            if child not in tree:
                tree.add(child)
                todo.append(child)
    return tree


def tree_rss_kb(root: int, reader: ProcReader) -> int:
    """Resident memory of ``root`` and its descendants now, in kB."""
    return sum(reader.rss_kb(pid) for pid in descendants(root, reader.parents()))


class TreeSampler:
    """A daemon thread keeping the largest ``tree_rss_kb`` seen, every ``interval`` s."""

    def __init__(
        self, root: int | None = None, reader: ProcReader | None = None, interval: float = 0.2
    ) -> None:
        self.root = os.getpid() if root is None else root
        self.reader: ProcReader = reader or ProcFs()
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-rss", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sample()  # the end state counts too, even for a run shorter than a step

    def sample(self) -> int:
        now = tree_rss_kb(self.root, self.reader)
        self.peak_kb = max(self.peak_kb, now)
        return now

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)
