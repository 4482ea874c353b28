"""scripts/services for the chaos set: its own ports, and no fake outages."""

from __future__ import annotations

import subprocess

import pytest

from tests.chaos.isolated import ROOT, SCRIPT, ServiceSet

pytestmark = pytest.mark.chaos


def test_the_set_answers_on_its_own_ports(chaos_services: ServiceSet) -> None:
    status = chaos_services.call("status")
    for port in (chaos_services.kafka_port, chaos_services.mysql_port, chaos_services.pg_port):
        assert f"127.0.0.1:{port}" in status
    assert str(chaos_services.state) in status
    assert status.count(" up ") == 3, status


@pytest.mark.parametrize("service", ["kafka", "mysql", "postgres"])
def test_an_external_service_is_never_stopped_in_silence(
    chaos_services: ServiceSet, service: str
) -> None:
    variable = {"kafka": "CANARY_KAFKA_BOOTSTRAP", "mysql": "CANARY_MYSQL_DSN"}.get(
        service, "CANARY_PG_DSN"
    )
    env = {**chaos_services.script_environment(), variable: "elsewhere"}
    done = subprocess.run(  # noqa: S603 - the project's own script, fixed arguments
        [str(SCRIPT), "stop", service],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "external" in done.stderr
    assert " up " in chaos_services.call("status")
