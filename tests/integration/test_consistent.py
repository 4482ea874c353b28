"""Consistent table diffs and `canary verify` on the real services, with both real paths.

Every test owns its topics, tables and consumer groups (the ``isolated`` fixture) and a
report store of its own, runs `canary run legacy|ring` as child processes, and checks
the diff's cut and in-flight count against what it reads itself: both paths' commits
and the source coordinates of every row in both tables.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from canary import app
from canary.config import Settings
from canary.diff.tables.run import diff_tables
from canary.kafka.commits import GroupCommits
from sinks import mysql, postgres
from tests.runs import ROOT, Finished, Member, env_for, start
from tests.services import Services
from tests.stores import private_store

pytestmark = pytest.mark.integration

CANARY = Path(sys.executable).with_name("canary")
RUN_TIMEOUT_S = 120.0
KEY = "order_id"

Sources = dict[int, tuple[int, int]]  # key -> (src_partition, src_offset)


@dataclass
class Release:
    """One test's gray release: its settings, a folder for logs, its run id."""

    settings: Settings
    tmp: Path
    run_id: str
    started: list[Member]

    @property
    def table(self) -> str:
        return self.settings.mysql.table

    def env(self, **extra: str) -> dict[str, str]:
        return env_for(self.settings, self.tmp, extra)

    def start(self, path: str, *options: str) -> Member:
        command = [str(CANARY), "run", path, "--run-id", self.run_id, *options]
        if path == "ring":
            command += ["--workers", "2"]
        member = start(command, self.env(), self.tmp, ROOT, path)
        self.started.append(member)
        return member

    def run(self, *paths: str) -> None:
        """Run ``paths`` side by side until each has been idle for 2 s."""
        members = [self.start(path, "--until-idle", "2") for path in paths]
        for path, member in zip(paths, members, strict=True):
            ended = member.wait(RUN_TIMEOUT_S)
            assert ended.code == 0, f"{path} exit {ended.code}:\n{ended.stdout}\n{ended.stderr}"

    def produce(self, count: int, keys: int, seed: int) -> None:
        result = app.produce(
            self.settings, count=count, rate=0, seed=seed, topic=None, partitions=None, keys=keys
        )
        assert result.count == count

    def canary(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
            [str(CANARY), *args],
            cwd=ROOT,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )

    def consistent(self, *extra: str) -> tuple[int, dict[str, Any]]:
        """`canary diff tables --consistent --format json` of the release's tables."""
        done = self.canary(
            *("diff", "tables", "--table", self.table, "--key", KEY, "--consistent"),
            *("--format", "json", *extra),
        )
        assert done.returncode in (0, 1), done.stderr
        return done.returncode, json.loads(done.stdout)

    # --- what the diff must find, read here independently --------------------------------

    def commits(self) -> tuple[dict[int, int], dict[int, int]]:
        """Both paths' committed next offsets per partition of the source topic."""
        topic = self.settings.kafka.source_topic
        kafka = GroupCommits(self.settings.kafka.bootstrap, {"l": self.settings.legacy.group})
        legacy = {p: o for (t, p), o in kafka.read()["l"].items() if t == topic}
        with postgres.connect(self.settings.postgres) as connection:
            ring = postgres.stored_offsets(
                connection, self.settings.postgres.offsets_table, self.settings.ring.group, topic
            )
        return legacy, ring

    def sources(self) -> tuple[Sources, Sources]:
        """Every row's source coordinate, by key, in MySQL and in PostgreSQL."""
        query = f"SELECT {KEY}, src_partition, src_offset FROM {self.table}"
        connection = mysql.connect(self.settings.mysql)
        try:
            with connection.cursor() as cursor:
                cursor.execute(query)
                mine = {int(k): (int(p), int(o)) for k, p, o in cursor.fetchall()}
        finally:
            connection.close()
        with postgres.connect(self.settings.postgres) as pg:
            rows = pg.execute(query.encode()).fetchall()
        return mine, {int(k): (int(p), int(o)) for k, p, o in rows}


@pytest.fixture
def release(isolated: Settings, services: Services, tmp_path: Path) -> Iterator[Release]:
    """The isolated topics, tables and groups, a private report store, the tables made."""
    with private_store(services, "consistent_reports") as store:
        postgres_settings = isolated.postgres.model_copy(update={"report_schema": store.schema})
        settings = isolated.model_copy(update={"postgres": postgres_settings})
        app.init_databases(settings)
        made = Release(settings, tmp_path, f"cut-{uuid.uuid4().hex[:10]}", [])
        yield made
        for member in made.started:
            if member.process.poll() is None:
                member.process.kill()
                member.process.wait()


def _cut(legacy: dict[int, int], ring: dict[int, int], partitions: int) -> dict[str, int]:
    return {str(p): min(legacy.get(p, 0), ring.get(p, 0)) for p in range(partitions)}


def _in_flight(mine: Sources, theirs: Sources, cut: dict[str, int]) -> set[int]:
    """Keys whose row on either side comes from at or past the cut."""
    return {
        key
        for side in (mine, theirs)
        for key, (partition, offset) in side.items()
        if offset >= cut.get(str(partition), 0)
    }


def _stop_ring_halfway(release: Release) -> None:
    """Both paths over a first batch; then more versions and new keys, legacy only."""
    release.produce(1500, 300, seed=11)
    release.run("legacy", "ring")
    release.produce(6000, 600, seed=12)  # later versions of the first keys, and new keys
    release.run("legacy")


# --- one path stopped halfway -------------------------------------------------------------------


def test_a_path_stopped_halfway_passes_at_the_cut_with_the_rest_in_flight(
    release: Release,
) -> None:
    _stop_ring_halfway(release)
    plain = diff_tables(release.settings, table=release.table, key=[KEY], store=False).as_json()
    assert plain["verdict"] == "fail"
    assert plain["only_in_mysql"] > 0
    assert plain["different"] > 0

    code, report = release.consistent()
    assert code == 0, report["reasons"]
    assert report["verdict"] == "pass"
    legacy, ring = release.commits()
    partitions = release.settings.kafka.partitions
    assert all(legacy[p] > ring[p] for p in range(partitions)), (legacy, ring)  # ring behind
    cut = _cut(legacy, ring, partitions)
    assert report["cut"] == cut == {str(p): o for p, o in sorted(ring.items())}
    mine, theirs = release.sources()
    flying = _in_flight(mine, theirs, cut)
    assert report["in_flight"] == len(flying) > 0
    assert report["samples"]["in_flight"] == sorted(flying)[: len(report["samples"]["in_flight"])]
    assert report["samples"]["in_flight"]
    assert report["rows"] == {
        "mysql": sum(1 for p, o in mine.values() if o < cut[str(p)]),
        "postgres": sum(1 for p, o in theirs.values() if o < cut[str(p)]),
    }
    assert report["rows"]["postgres"] == len(theirs)  # ring wrote nothing past its commits
    assert report["consistent"]["groups"] == {
        "legacy": release.settings.legacy.group,
        "ring": release.settings.ring.group,
    }

    # The report went to the store, and the text form shows the cut.
    listed = release.canary("report", "list", "--kind", "tables")
    assert report["id"] in listed.stdout, listed.stderr
    shown = release.canary("report", "show", report["id"])
    assert f"{report['in_flight']:,} keys in flight" in shown.stdout

    # A group that never committed is a usage error that names it.
    nobody = release.canary(
        "diff", "tables", "--table", release.table, "--key", KEY, "--consistent",
        "--ring-group", "nobody-commits-here",
    )  # fmt: skip
    assert nobody.returncode == 2
    assert "the ring path has never committed" in nobody.stderr
    assert "'nobody-commits-here'" in nobody.stderr


def _tamper_below_the_cut(release: Release) -> tuple[dict[str, int], set[int], int, int]:
    """Change the status of one PostgreSQL row that is below the cut on both sides; the
    cut, the keys in flight, that key and its partition."""
    legacy, ring = release.commits()
    cut = _cut(legacy, ring, release.settings.kafka.partitions)
    mine, theirs = release.sources()
    flying = _in_flight(mine, theirs, cut)
    settled = sorted(set(mine) & set(theirs) - flying)
    assert settled, "no key below the cut on both sides"
    victim = settled[len(settled) // 2]
    with postgres.connect(release.settings.postgres) as connection:
        connection.execute(
            f"UPDATE {release.table} SET status = 'tampered' WHERE {KEY} = %s",  # type: ignore[arg-type]
            (victim,),
        )
    return cut, flying, victim, mine[victim][0]


def test_a_row_changed_by_hand_below_the_cut_fails_naming_its_key_and_column(
    release: Release,
) -> None:
    _stop_ring_halfway(release)
    _, flying, victim, _ = _tamper_below_the_cut(release)

    code, report = release.consistent()
    assert code == 1
    assert report["verdict"] == "fail"
    assert (report["different"], report["only_in_mysql"], report["only_in_postgres"]) == (1, 0, 0)
    assert report["different_columns"] == {"status": 1}
    [sample] = report["samples"]["different"]
    assert sample["key"] == victim
    assert sample["columns"]["status"]["postgres"] == "tampered"
    assert report["in_flight"] == len(flying)
    assert any("status" in reason for reason in report["reasons"])


def test_a_difference_that_moves_past_the_cut_before_the_recheck_is_in_flight(
    release: Release,
) -> None:
    _stop_ring_halfway(release)
    cut, flying, victim, partition = _tamper_below_the_cut(release)
    moved: list[str] = []

    def meanwhile(line: str) -> None:
        """As the recheck begins, legacy writes a newer version from past the cut."""
        if line.startswith("re-reading"):
            connection = mysql.connect(release.settings.mysql)
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"UPDATE {release.table} SET status = 'newer', src_offset = %s "
                        f"WHERE {KEY} = %s",
                        (cut[str(partition)] + 10_000, victim),
                    )
                connection.commit()
            finally:
                connection.close()
            moved.append(line)

    report = diff_tables(
        release.settings, table=release.table, key=[KEY], consistent=True, progress=meanwhile
    ).as_json()
    assert moved == ["re-reading 1 differing rows after 1 s"]
    assert report["verdict"] == "pass", report["reasons"]
    assert report["recheck"]["candidates"] == report["recheck"]["cleared"] == 1
    assert report["in_flight"] == len(flying | {victim})
    assert victim not in flying


# --- both paths live, the acceptance drill ---------------------------------------------------


def test_consistent_diffs_pass_every_time_while_both_paths_run(release: Release) -> None:
    # ~40 s of paced production over few keys (many versions each), both paths live, a
    # consistent diff every few seconds while they write.
    producer = start(
        [str(CANARY), "produce", "--count", "8000", "--rate", "200", "--keys", "400"],
        release.env(),
        release.tmp,
        ROOT,
        "produce",
    )
    release.started.append(producer)
    legacy = release.start("legacy")
    ring = release.start("ring")
    cuts: list[dict[str, int]] = []
    flying: list[int] = []
    deadline = time.monotonic() + 45
    while producer.process.poll() is None and time.monotonic() < deadline:
        time.sleep(3)
        if not all(release.commits()):
            continue  # a path has not committed its first offsets yet
        code, report = release.consistent()
        assert code == 0, report["reasons"]
        assert report["verdict"] == "pass"
        cuts.append(report["cut"])
        flying.append(report["in_flight"])
    produced = producer.wait(60)
    assert produced.code == 0, produced.stderr
    assert len(cuts) >= 5, f"only {len(cuts)} diffs ran while the paths wrote"
    first, last = cuts[0], cuts[-1]
    assert sum(last.values()) > sum(first.values()), "the cut never moved: the paths stood"
    for earlier, later in itertools.pairwise(cuts):  # commits only move forward
        assert all(later[p] >= offset for p, offset in earlier.items()), (earlier, later)
    _stop(legacy, ring)
    print(f"\n[drill] {len(cuts)} consistent diffs passed; in flight per diff: {flying}")


def _stop(*members: Member) -> list[Finished]:
    for member in members:
        member.process.terminate()
    ended = [member.wait(60) for member in members]
    for done in ended:
        assert done.code == 0, done.stderr
    return ended


# --- canary verify ----------------------------------------------------------------------------


def test_verify_catches_a_trigger_the_stream_diff_alone_passes(release: Release) -> None:
    function = f"{release.table}_lower_currency"
    with postgres.connect(release.settings.postgres) as connection:
        connection.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "  # type: ignore[arg-type]
            "$$ BEGIN NEW.currency := lower(NEW.currency); RETURN NEW; END $$"
        )
        connection.execute(
            f"CREATE TRIGGER {function} BEFORE INSERT OR UPDATE ON {release.table} "  # type: ignore[arg-type]
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
    try:
        release.produce(1200, 150, seed=21)
        release.run("legacy", "ring")
        stream = release.canary(
            "diff", "stream", "--run-id", release.run_id, "--until-idle", "0", "--grace", "0",
            "--no-drill", "--format", "json",
        )  # fmt: skip
        assert stream.returncode == 0, stream.stderr
        verify = release.canary(
            "verify", "--run-id", release.run_id, "--until-idle", "0", "--grace", "0",
            "--format", "json",
        )  # fmt: skip
        assert verify.returncode == 1, verify.stderr
        report = json.loads(verify.stdout)
    finally:
        with postgres.connect(release.settings.postgres) as connection:
            connection.execute(f"DROP FUNCTION IF EXISTS {function}() CASCADE")  # type: ignore[arg-type]
    assert (report["kind"], report["verdict"], report["exit_code"]) == ("verify", "fail", 1)
    assert report["checks"]["stream"]["verdict"] == "pass"
    assert report["checks"]["tables"]["verdict"] == "fail"
    assert report["stream"]["matched"] == json.loads(stream.stdout)["matched"] == 1200
    tables = report["tables"]
    assert tables["different_columns"] == {"currency": tables["different"]}
    mine, _ = release.sources()
    assert tables["different"] == len(mine) > 0  # every row went through the trigger
    assert tables["in_flight"] == 0  # both paths ended at the topic's end: one cut
    assert tables["samples"]["different"][0]["columns"]["currency"]["cause"] == "case-only"
    assert "database side" in report["explanation"]
    assert "trigger" in report["explanation"]
    assert all(reason.startswith("tables: ") for reason in report["reasons"])

    listed = release.canary("report", "list", "--kind", "verify")
    assert report["id"] in listed.stdout, listed.stderr
    page = release.canary("report", "show", report["id"], "--format", "html")
    assert page.returncode == 0, page.stderr
    assert f"canary verify — run {release.run_id}" in page.stdout
    assert "database side" in page.stdout


# --- errors a user can cause -------------------------------------------------------------------


def test_consistent_needs_source_columns_and_a_reachable_kafka(
    release: Release, services: Services
) -> None:
    bare = f"{release.table}_bare"
    statement = f"CREATE TABLE {bare} (id BIGINT NOT NULL PRIMARY KEY, v TEXT)"
    connection = mysql.connect(services.settings.mysql)
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
        connection.commit()
        with postgres.connect(services.settings.postgres) as pg:
            pg.execute(statement.encode())
        done = release.canary("diff", "tables", "--table", bare, "--key", "id", "--consistent")
        assert done.returncode == 2, done.stderr
        assert "--consistent needs the source columns src_partition and src_offset" in done.stderr
        assert f"MySQL table '{bare}' has no src_partition and no src_offset" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {bare}")
        connection.commit()
        connection.close()
        with postgres.connect(services.settings.postgres) as pg:
            pg.execute(f"DROP TABLE IF EXISTS {bare}".encode())

    away = release.canary(
        "diff", "tables", "--table", release.table, "--key", KEY, "--consistent",
        CANARY_KAFKA_BOOTSTRAP="127.0.0.1:1",
    )  # fmt: skip
    assert away.returncode == 3, away.stderr
    assert "Kafka is not reachable at 127.0.0.1:1" in away.stderr
    assert "Traceback" not in away.stderr
