"""Path metrics as Prometheus scrapes them: names, labels, values, and the server's errors."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from canary.errors import EXIT_USAGE, UsageError
from canary.metrics import MetricsServer, PathMetrics, serve

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _text(server: MetricsServer) -> str:
    url = f"http://127.0.0.1:{server.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


def _scrape(server: MetricsServer) -> Series:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(_text(server))
        for sample in family.samples
    }


def _key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


@pytest.fixture
def ring() -> PathMetrics:
    return PathMetrics("ring")


@pytest.fixture
def served(ring: PathMetrics) -> Iterator[MetricsServer]:
    with serve(ring, "127.0.0.1", 0) as server:
        yield server


def test_counts_and_gauges_carry_the_path(ring: PathMetrics, served: MetricsServer) -> None:
    ring.consumed(3)
    ring.consumed(2)
    ring.written(4)
    ring.dead_lettered(1)
    ring.retried("PostgreSQL")
    ring.retried("PostgreSQL")
    ring.retried("Kafka")
    ring.pool_size(4)
    ring.paused(2)

    series = _scrape(served)

    assert series[_key("canary_messages_consumed_total", path="ring")] == 5
    assert series[_key("canary_rows_written_total", path="ring")] == 4
    assert series[_key("canary_dead_lettered_total", path="ring")] == 1
    assert series[_key("canary_retries_total", path="ring", service="PostgreSQL")] == 2
    assert series[_key("canary_retries_total", path="ring", service="Kafka")] == 1
    assert series[_key("canary_worker_pool_size", path="ring")] == 4
    assert series[_key("canary_paused_partitions", path="ring")] == 2


def test_names_are_prefixed_counters_end_in_total_and_every_series_has_path(
    ring: PathMetrics, served: MetricsServer
) -> None:
    ring.set_lag_source(lambda: {("orders", 0): 1})
    ring.outage("Kafka", True)
    text = _text(served)

    declared = [line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE")]
    counters = [name for name, kind in declared if kind == "counter"]
    families = list(text_string_to_metric_families(text))

    assert {name for name, _ in declared} >= {
        "canary_messages_consumed_total",
        "canary_rows_written_total",
        "canary_dead_lettered_total",
        "canary_retries_total",
        "canary_outage",
        "canary_outage_start_time_seconds",
        "canary_consumer_lag",
        "canary_batch_write_seconds",
        "canary_worker_pool_size",
        "canary_paused_partitions",
    }
    assert all(name.startswith("canary_") for name, _ in declared)
    assert counters
    assert all(name.endswith("_total") for name in counters)
    assert all(sample.labels.get("path") == "ring" for f in families for sample in f.samples)


def test_a_revoked_partition_disappears_from_the_lag(
    ring: PathMetrics, served: MetricsServer
) -> None:
    lock = threading.Lock()
    owned = {("orders", 0): 12, ("orders", 3): 0}

    def lag() -> dict[tuple[str, int], int]:
        with lock:
            return dict(owned)

    ring.set_lag_source(lag)
    before = _scrape(served)
    with lock:
        del owned["orders", 0]
        owned["orders", 3] = 7
    after = _scrape(served)

    lag_of_0 = _key("canary_consumer_lag", path="ring", topic="orders", partition="0")
    lag_of_3 = _key("canary_consumer_lag", path="ring", topic="orders", partition="3")
    assert before[lag_of_0] == 12
    assert before[lag_of_3] == 0
    assert lag_of_0 not in after
    assert after[lag_of_3] == 7


def test_batch_writes_fill_the_histogram(ring: PathMetrics, served: MetricsServer) -> None:
    for seconds in (0.003, 0.2, 7.0):
        ring.observe_batch(seconds)

    series = _scrape(served)

    def bucket(le: str) -> float:
        return series[_key("canary_batch_write_seconds_bucket", path="ring", le=le)]

    assert bucket("0.0025") == 0
    assert bucket("0.005") == 1
    assert bucket("0.25") == 2
    assert bucket("5.0") == 2
    assert bucket("+Inf") == 3
    assert series[_key("canary_batch_write_seconds_count", path="ring")] == 3
    assert series[_key("canary_batch_write_seconds_sum", path="ring")] == pytest.approx(7.203)


def test_an_outage_raises_the_flag_keeps_its_start_then_clears() -> None:
    now = [1000.0]
    metrics = PathMetrics("legacy", clock=lambda: now[0])
    flag = _key("canary_outage", path="legacy", service="MySQL")
    start = _key("canary_outage_start_time_seconds", path="legacy", service="MySQL")

    with serve(metrics, "127.0.0.1", 0) as server:
        healthy = _scrape(server)
        metrics.outage("MySQL", True)
        now[0] = 1030.0
        metrics.outage("MySQL", True)
        down = _scrape(server)
        metrics.outage("MySQL", False)
        back = _scrape(server)

    assert healthy[flag] == 0
    assert start not in healthy
    assert down[flag] == 1
    assert down[start] == 1000.0
    assert down[_key("canary_outage", path="legacy", service="Kafka")] == 0
    assert back[flag] == 0
    assert start not in back


def test_two_paths_in_one_process_serve_only_their_own_figures() -> None:
    legacy, ring = PathMetrics("legacy"), PathMetrics("ring")
    legacy.written(2)
    ring.written(9)

    with serve(legacy, "127.0.0.1", 0) as one, serve(ring, "127.0.0.1", 0) as other:
        assert one.port != other.port
        from_legacy, from_ring = _scrape(one), _scrape(other)

    assert from_legacy[_key("canary_rows_written_total", path="legacy")] == 2
    assert from_ring[_key("canary_rows_written_total", path="ring")] == 9
    assert {dict(labels)["path"] for _, labels in from_legacy} == {"legacy"}
    assert {dict(labels)["path"] for _, labels in from_ring} == {"ring"}


def test_a_port_in_use_is_a_usage_error_naming_host_and_port(ring: PathMetrics) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(UsageError, match="in use") as caught:
            serve(ring, "127.0.0.1", port)

    assert f"127.0.0.1:{port}" in str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("no-such-host.invalid", "not known|resolution"),
        ("192.0.2.1", "assign"),
    ],
)
def test_a_host_that_is_not_local_is_a_usage_error(
    ring: PathMetrics, host: str, reason: str
) -> None:
    with pytest.raises(UsageError, match=reason) as caught:
        serve(ring, host, 9464)

    assert f"{host}:9464" in str(caught.value)


def test_close_stops_the_thread_and_frees_the_port(ring: PathMetrics) -> None:
    before = set(threading.enumerate())
    server = serve(ring, "127.0.0.1", 0)
    port = server.port
    serving = set(threading.enumerate()) - before
    server.close()
    server.close()

    assert serving
    assert not any(thread.is_alive() for thread in serving)
    with pytest.raises(urllib.error.URLError):
        _text(server)
    with serve(ring, "127.0.0.1", port) as again:
        assert again.port == port


def test_an_unknown_service_is_refused(ring: PathMetrics) -> None:
    with pytest.raises(ValueError, match="Oracle"):
        ring.retried("Oracle")
    with pytest.raises(ValueError, match="Oracle"):
        ring.outage("Oracle", True)
