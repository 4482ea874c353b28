"""The normalized row text and hash that both engines must build alike, and their result.

Every row is hashed inside its database from a *normalized text* built in SQL, so that
both engines produce the same bytes when the values mean the same (CONTRACTS §7):

    row text = token(key 1) ... token(key n) token(column 1) ... token(column m)
    token    = "~"                           NULL
             | <text> ","                    numbers, booleans, dates, datetimes, hex bytes
             | <char length> ":" <text>      text, JSON, UUIDs and text fallbacks (may hold
                                             "," or "~")

Numbers by value with trailing fractional zeros stripped (``1.50`` -> ``1.5``, ``2.00``
-> ``2``); a DOUBLE paired with a double precision (mode ``"double"``) as the 16 hex
digits of its IEEE bits, big-endian, -0 as 0 (PostgreSQL's ``float8send``; MariaDB reads
them from a dynamic column, MySQL 8 computes them: each engine prints its own shortest
decimal, and PostgreSQL's is not always the shortest, so no decimal text would do);
booleans and TINYINT(1)/BIT(1) as ``0``/``1``; datetimes as UTC
``YYYY-MM-DD HH:MM:SS.ffffff`` (the MySQL session runs at ``+00:00``, DATETIME holds UTC;
the PostgreSQL session's TimeZone is UTC); bytes as lowercase hex; text exactly as
stored, in UTF-8. The token grammar is prefix-free per column, so different rows never
concatenate to the same text, and NULL never looks like the empty string (``0:``).

Floats print a canonical token at the pair's precision (``0.1`` -> ``1e-1``, a FLOAT as
the double that holds it, see :mod:`~sinks.checksums.floats`); UUIDs print their
lowercase text, with its length (:mod:`~sinks.checksums.uuids`).

A row's hash is the first 60 bits of the MD5 of its text (``CONV(SUBSTRING(MD5(t), 1, 15),
16, 10)`` in MySQL, ``('x' || substr(md5(t), 1, 15))::bit(60)::bigint`` in PostgreSQL);
a range's checksum is ``count(*)`` and the exact (arbitrary-precision) sum of those.

Two sums per range: ``exact`` over the key and the columns above, ``loose`` over the key
and the columns whose texts can differ for equal meanings (JSON: MariaDB keeps the text
as written, JSONB reorders keys; a float against a DECIMAL or integer; columns with a
tolerance). A loose text is still injective on each side, so equal loose sums prove
equal values; unequal ones only tell the caller to compare those columns row
by row (``canary.diff.tables``).

Keys are compared and ordered as bytes of their UTF-8 text (code point order, like
Python ``str``): ``CAST(CONVERT(k USING utf8mb4) AS BINARY)`` in MySQL unless the
column's collation is already a NO PAD binary one, ``k COLLATE "C"`` in PostgreSQL
unless the column's collation already is "C". So neither case folding nor PAD SPACE
merges keys. The bare column keeps the index usable; the cast forces a scan.

Values are read for comparison from exactly the expressions the tokens are built from
(text as ``::text``, UUIDs as their lowercase text, doubles as the doubles themselves:
both drivers read them exactly), so a checksum match and a row comparison can never
disagree about two values. Other floats are read at their own precision (so a report
shows what is stored); their token is the value rounded as the comparator rounds it,
which keeps the same promise.

A consistent diff reads only rows below a cut (``canary.core.cut``): ``below_cut`` is
the one condition both engines use, true or false for every row, never NULL.

The MySQL side is built in :mod:`sinks.checksums.mysql`, the PostgreSQL side in
:mod:`sinks.checksums.postgres`: a change to either side's text is a change to both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from canary.core.segments import Summary
from sinks.checksums.model import SourceCut


def int_bounds(found: Sequence[Any]) -> tuple[int | None, int | None]:
    """The first two values of ``found`` as optional integers (a MIN/MAX pair)."""
    low, high = found[0], found[1]
    return (None if low is None else int(low)), (None if high is None else int(high))


def read_summary(found: Sequence[Any] | None) -> Summary:
    """A summary row (count, exact sum, loose sum[, min key, max key]) as a Summary."""
    assert found is not None
    low, high = int_bounds(found[3:]) if len(found) > 3 else (None, None)
    loose = None if found[2] is None else int(found[2])
    return Summary(int(found[0]), int(found[1]), loose, low, high)


def below_cut(cut: SourceCut, quote: Callable[[str], str]) -> tuple[str, list[object]]:
    """SQL that holds exactly for rows below ``cut``, and its parameters.

    One CASE on the partition column gives each partition's cut; a partition without
    one gives NULL, which (like a NULL source column) COALESCEs to false, so such rows
    are at or past the cut. The same text runs on MySQL and PostgreSQL."""
    if not cut.settled:
        return "1 = 0", []
    whens = " ".join("WHEN %s THEN %s" for _ in cut.settled)
    params: list[object] = [value for pair in cut.settled for value in pair]
    condition = f"{quote(cut.offset)} < CASE {quote(cut.partition)} {whens} END"
    return f"COALESCE({condition}, 1 = 0)", params


def piece_of(column: str, cuts: Sequence[int]) -> str:
    """SQL (both engines) for the index of the piece an integer key falls in when a range
    is cut at the sorted ``cuts``: the number of cuts at or below it, by binary search
    (comparisons only, so no key can overflow an arithmetic step)."""

    def search(low: int, high: int) -> str:  # cuts[low:high]; low pieces lie below them
        if low == high:
            return str(low)
        middle = (low + high) // 2
        below, above = search(low, middle), search(middle + 1, high)
        return f"CASE WHEN {column} < {int(cuts[middle])} THEN {below} ELSE {above} END"

    return search(0, len(cuts))


def by_piece(summary: str, key: str, cuts: Sequence[int]) -> str:
    """A summary statement grouped by the piece of ``cuts`` each row's ``key`` falls in;
    ``{where}`` marks where its WHERE clause goes."""
    return f"SELECT {piece_of(key, cuts)}, {summary[len('SELECT ') :]} {{where}} GROUP BY 1"


def read_pieces(found: Sequence[Sequence[Any]], pieces: int, *, loose: bool) -> list[Summary]:
    """Summary rows grouped by piece index (index first) as one Summary per piece; a piece
    without rows is empty, as its own summary would be."""
    empty = Summary(0, 0, 0 if loose else None)
    summaries = [empty] * pieces
    for row in found:
        summaries[int(row[0])] = read_summary(row[1:])
    return summaries
