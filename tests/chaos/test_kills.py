"""Both paths killed (SIGKILL to the process group) and restarted again and again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.drill import KillDrill, run_kills
from tests.chaos.isolated import ServiceSet
from tests.chaos.results import render_table

pytestmark = pytest.mark.chaos


def test_both_paths_resume_after_every_kill_and_lose_nothing(
    chaos_services: ServiceSet, chaos_code: Path | None, tmp_path: Path
) -> None:
    """Every restart commits again within the resume limit, the run after the last kill
    ends by itself, and every record is written, by both paths alike."""
    result = run_kills(chaos_services, KillDrill.from_environment(), tmp_path, chaos_code)
    print(render_table([result]))
    if result.problems():
        pytest.fail(result.explain(), pytrace=False)
