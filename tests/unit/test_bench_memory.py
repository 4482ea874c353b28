"""The process-tree memory sampler: descendants by parent id, the sum of their VmRSS,
against a fake /proc and against the real one with a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from canary.bench.memory import ProcFs, TreeSampler, descendants, tree_rss_kb


class FakeProc:
    def __init__(self, parents: Mapping[int, int], rss: Mapping[int, int]) -> None:
        self._parents = dict(parents)
        self.rss = dict(rss)

    def parents(self) -> dict[int, int]:
        return self._parents

    def rss_kb(self, pid: int) -> int:
        return self.rss.get(pid, 0)


# 10 ─┬─ 11 ── 13
#     └─ 12          20 (not ours) ── 21
TREE = {10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 21: 20}


def test_descendants_are_the_whole_subtree_and_nothing_else() -> None:
    assert descendants(10, TREE) == {10, 11, 12, 13}
    assert descendants(11, TREE) == {11, 13}
    assert descendants(99, TREE) == {99}


def test_tree_rss_sums_the_subtree_and_counts_a_gone_process_as_zero() -> None:
    proc = FakeProc(TREE, {10: 100, 11: 200, 13: 50, 20: 10_000, 21: 10_000})  # 12 is gone
    assert tree_rss_kb(10, proc) == 350


def test_the_sampler_keeps_the_peak_of_the_sum() -> None:
    proc = FakeProc(TREE, {10: 100, 11: 200, 12: 300})
    sampler = TreeSampler(10, proc, interval=0.01)
    assert sampler.sample() == 600
    proc.rss[12] = 0  # a worker exits: the peak stays
    assert sampler.sample() == 300
    assert sampler.peak_kb == 600
    assert sampler.peak_mb == pytest.approx(600 / 1024)


def test_the_sampler_thread_samples_until_it_is_left() -> None:
    proc = FakeProc({10: 1}, {10: 2048})
    with TreeSampler(10, proc, interval=0.01) as sampler:
        time.sleep(0.05)
        proc.rss[10] = 4096
        time.sleep(0.05)
        proc.rss[10] = 1024
    assert sampler.peak_kb == 4096


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    # Python, not sleep: a resident set of a known lower bound (the interpreter).
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    time.sleep(0.3)
    yield process
    process.kill()
    process.wait()


def test_the_real_proc_counts_a_spawned_child(child: subprocess.Popen[bytes]) -> None:
    proc = ProcFs()
    assert proc.parents()[child.pid] == os.getpid()
    own, theirs = proc.rss_kb(os.getpid()), proc.rss_kb(child.pid)
    assert own > 0
    assert theirs > 1_000  # any Python interpreter is over a megabyte resident
    total = tree_rss_kb(os.getpid(), proc)
    assert total >= theirs + own // 2  # our own RSS moves a little between the reads


def test_a_missing_process_reads_as_zero(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "stat").write_text("7 (a (weird) name) S 3 7 7 0")
    (tmp_path / "7" / "status").write_text("Name:\tzombie\nState:\tZ\n")
    (tmp_path / "self").mkdir()
    proc = ProcFs(tmp_path)
    assert proc.parents() == {7: 3}
    assert proc.rss_kb(7) == 0
    assert proc.rss_kb(8) == 0
