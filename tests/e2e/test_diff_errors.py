"""The stream diff's answers to a compare topic that is not there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from canary.kafka import client
from tests.services import Services

pytestmark = pytest.mark.e2e
CANARY = str(Path(sys.executable).with_name("canary"))


def test_missing_compare_topic_exits_2_and_is_not_created(services: Services) -> None:
    """Before any path or watcher ran: neither the topic nor the report store exists."""
    topic = services.unique("absent.compare")
    schema = services.unique("absent_reports")
    done = subprocess.run(  # noqa: S603 - our own command
        [CANARY, "diff", "stream", "--run-id", "r", "--until-idle", "0", "--no-drill"],
        env={
            **os.environ,
            "CANARY_KAFKA__COMPARE_TOPIC": topic,
            "CANARY_POSTGRES__REPORT_SCHEMA": schema,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert topic in done.stderr
    assert "Traceback" not in done.stderr
    topics = client.admin(services.settings.kafka.bootstrap).list_topics(timeout=10).topics
    assert topic not in topics
