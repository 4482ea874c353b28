"""Headless Chromium for the HTML report tests: found or installed by `scripts/browser`.

A browser that cannot be had fails the test rather than skipping it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def find_chromium() -> str:
    """The path of a headless-capable Chromium; fails the test when there is none."""
    done = subprocess.run(  # noqa: S603 - our own script, no arguments
        [str(ROOT / "scripts" / "browser")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/browser failed:\n{done.stderr}", pytrace=False)
    return done.stdout.strip()


def browse(chromium: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium run once with ``args`` (e.g. ``--dump-dom URL``), its profile in ``workdir``."""
    return subprocess.run(  # noqa: S603 - the browser scripts/browser named, fixed flags
        [chromium, *FLAGS, f"--user-data-dir={workdir / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=workdir,
    )
