"""Fault drills: both paths through a service outage or repeated SIGKILLs, measured.

Runs the drills of the chaos suite (tests/chaos/drill.py) on a service set of their own
(scripts/services with CANARY_SERVICES_STATE and its own ports: never the shared set),
then prints one line per drill: the fault, how long the service was away, each path's
exit code, records it never wrote, redeliveries, and its time to recover (outages: from
the service answering again to the path's first commit; SIGKILL: the slowest restart's
time to its first commit). Exit code 0 when every drill passed, 1 when one did not, 3
when the service set could not be started.

    .venv/bin/python benchmarks/faults.py                     # all four drills
    .venv/bin/python benchmarks/faults.py --fault postgres --down 10 --events 20000
    .venv/bin/python benchmarks/faults.py --fault sigkill --kills 3 --json kills.json
    .venv/bin/python benchmarks/faults.py --code /tmp/old     # the CLI of another tree

Defaults come from the same CANARY_CHAOS_* variables as the suite's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the drills live in the test package

from tests.chaos.drill import KillDrill, OutageDrill, run_kills, run_outage  # noqa: E402
from tests.chaos.isolated import ServiceError, ServiceSet  # noqa: E402
from tests.chaos.results import DrillResult, render_table  # noqa: E402

FAULTS = ("postgres", "mysql", "kafka", "sigkill")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--fault",
        action="append",
        choices=FAULTS,
        help="a drill to run; repeat for several [default: all, in this order: %(choices)s]",
    )
    drills = parser.add_argument_group("outage drills (postgres, mysql, kafka)")
    drills.add_argument("--events", metavar="N", type=int, help="events produced [60000]")
    drills.add_argument("--rate", metavar="R", type=float, help="events per second [2000]")
    drills.add_argument(
        "--down", metavar="S", type=float, help="seconds MariaDB/PostgreSQL stay stopped [30]"
    )
    drills.add_argument(
        "--kafka-down",
        metavar="S",
        type=float,
        help="seconds the broker stays stopped, between stop and start [8]",
    )
    drills.add_argument(
        "--until-idle", metavar="S", type=float, help="the paths' --until-idle, all drills [8]"
    )
    kills = parser.add_argument_group("SIGKILL drill")
    kills.add_argument("--kill-events", metavar="N", type=int, help="events produced [200000]")
    kills.add_argument(
        "--kill-rate", metavar="R", type=float, help="events per second, 0 = unpaced [5000]"
    )
    kills.add_argument("--kills", metavar="K", type=int, help="kills per path [10]")
    kills.add_argument(
        "--resume-limit",
        metavar="S",
        type=float,
        help="seconds a restart may take to commit again [15]",
    )
    kills.add_argument(
        "--seed", metavar="SEED", type=int, help="seed of the kill moments [random, printed]"
    )
    where = parser.add_argument_group("service set and code")
    where.add_argument(
        "--state", metavar="DIR", type=Path, help="state folder of the set [.state/chaos]"
    )
    where.add_argument("--kafka-port", metavar="PORT", type=int, help="[19092]")
    where.add_argument("--controller-port", metavar="PORT", type=int, help="[19093]")
    where.add_argument("--mysql-port", metavar="PORT", type=int, help="[13306]")
    where.add_argument("--pg-port", metavar="PORT", type=int, help="[15432]")
    where.add_argument("--keep-up", action="store_true", help="leave the set running at the end")
    where.add_argument(
        "--code", metavar="DIR", type=Path, help="run the CLI from this source tree [this checkout]"
    )
    where.add_argument(
        "--set",
        metavar="CANARY_X__Y=VALUE",
        action="append",
        default=[],
        help="extra configuration for the paths, e.g. CANARY_RING__WORKER_MODE=processes",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--workdir", metavar="DIR", type=Path, help="logs and reports [reports/faults-<time>]"
    )
    output.add_argument(
        "--json", metavar="FILE", type=Path, help="also write the results as JSON here"
    )
    return parser


def _given(args: argparse.Namespace, **names: str) -> dict[str, Any]:
    """The drill fields whose options were given on the command line."""
    return {
        field: getattr(args, option)
        for field, option in names.items()
        if getattr(args, option) is not None
    }


def main() -> int:
    parser = _parser()
    args = parser.parse_args()
    try:
        extra_env = _extra_env(args.set)
        services = _service_set(args)
        drills = _drills(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.code is not None and not (args.code / "canary" / "__main__.py").is_file():
        parser.error(f"--code {args.code}: no canary package there")
    workdir = args.workdir or ROOT / "reports" / time.strftime("faults-%Y%m%d-%H%M%S")
    results: list[DrillResult] = []
    began = time.monotonic()
    try:
        with services.session(keep_up=args.keep_up):
            for index, drill in enumerate(drills, start=1):
                folder = workdir / f"{index}-{_label(drill)}"
                print(f"faults: {drill.fault} (files in {folder})", file=sys.stderr, flush=True)
                if isinstance(drill, KillDrill):
                    result = run_kills(services, drill, folder, args.code, extra_env)
                else:
                    result = run_outage(services, drill, folder, args.code, extra_env)
                results.append(result)
                print(render_table([result]).splitlines()[-1], file=sys.stderr, flush=True)
    except ServiceError as exc:
        print(f"faults: {exc}", file=sys.stderr)
        return 3
    print(render_table(results))
    failed = [result for result in results if result.problems()]
    for result in failed:
        print(f"\n{result.fault}:")
        for problem in result.problems():
            print(f"  - {problem}")
        for note in result.notes:
            print(f"  . {note}")
    print(f"\n{len(results)} drills in {time.monotonic() - began:.0f} s; files in {workdir}")
    if args.json:
        args.json.write_text(json.dumps([r.as_json() for r in results], indent=2) + "\n")
    return 1 if failed else 0


def _extra_env(items: list[str]) -> dict[str, str]:
    extra: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not name.startswith("CANARY_") or not equals:
            raise ValueError(f"--set {item}: expected CANARY_<SECTION>__<KEY>=VALUE")
        extra[name] = value
    return extra


def _service_set(args: argparse.Namespace) -> ServiceSet:
    base = ServiceSet.from_environment()
    return ServiceSet(
        state=args.state.absolute() if args.state else base.state,
        kafka_port=args.kafka_port or base.kafka_port,
        controller_port=args.controller_port or base.controller_port,
        mysql_port=args.mysql_port or base.mysql_port,
        pg_port=args.pg_port or base.pg_port,
    )


def _drills(args: argparse.Namespace) -> list[OutageDrill | KillDrill]:
    """The environment's drills, with the options given on the command line over them."""
    drills: list[OutageDrill | KillDrill] = []
    for fault in args.fault or FAULTS:
        if fault == "sigkill":
            given = _given(
                args,
                events="kill_events",
                rate="kill_rate",
                kills="kills",
                resume_limit_s="resume_limit",
                kill_seed="seed",
                until_idle="until_idle",
            )
            drills.append(replace(KillDrill.from_environment(), **given))
        else:
            down = "kafka_down" if fault == "kafka" else "down"
            given = _given(args, events="events", rate="rate", down_s=down, until_idle="until_idle")
            drills.append(replace(OutageDrill.from_environment(fault), **given))
    return drills


def _label(drill: OutageDrill | KillDrill) -> str:
    return "sigkill" if isinstance(drill, KillDrill) else drill.service


if __name__ == "__main__":
    sys.exit(main())
