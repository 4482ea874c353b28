"""Keys in flight at the cut of a consistent table diff: set aside, counted, sampled (pure).

A consistent diff reads only rows below the cut (``canary.core.cut``) on both sides.
A key whose row one side holds below the cut while the other side's row has moved past
it then shows up on one side only; it is in flight, not a difference, and
``set_aside`` takes it out of the outcome once the other side has said so. The report's
count is ``union`` over both sides' keys at or past the cut, read after everything else:
a row past the cut stays past it, so that count includes every key set aside before.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from canary.core.segments import Key
from canary.diff.tables.compare import Outcome


def set_aside(
    outcome: Outcome, past_on_mysql: Collection[Key], past_on_postgres: Collection[Key]
) -> Outcome:
    """``outcome`` without the keys one side holds below the cut and the other past it.

    ``past_on_mysql`` are keys MySQL holds at or past the cut (asked for the keys that
    were only in PostgreSQL), ``past_on_postgres`` the same for PostgreSQL. Rows both
    sides hold below the cut stay as they are: they must agree, whatever else moves."""
    only_mysql = [key for key in outcome.only_in_mysql if key not in past_on_postgres]
    only_postgres = [key for key in outcome.only_in_postgres if key not in past_on_mysql]
    moved = [key for key in outcome.only_in_mysql if key in past_on_postgres]
    moved += [key for key in outcome.only_in_postgres if key in past_on_mysql]
    return Outcome(
        rows=outcome.rows,
        only_in_mysql=only_mysql,
        only_in_postgres=only_postgres,
        different=list(outcome.different),
        in_flight=[*outcome.in_flight, *sorted(moved)],
    )


@dataclass(slots=True)
class InFlight:
    """Distinct keys in flight on either side, and the smallest of them."""

    count: int = 0
    samples: list[Key] = field(default_factory=list)


def union(mysql: Iterable[Key], postgres: Iterable[Key], max_samples: int) -> InFlight:
    """Count the distinct keys of two key-ordered streams (a key on both counts once),
    keeping the first ``max_samples`` of them; memory does not grow with the count."""
    found = InFlight()
    previous: Key | None = None
    for key in heapq.merge(mysql, postgres):
        if key == previous:
            continue
        previous = key
        found.count += 1
        if len(found.samples) < max_samples:
            found.samples.append(key)
    return found
