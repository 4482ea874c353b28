"""`canary diff tables`: a MySQL table against a PostgreSQL table, by key, at scale.

How a diff runs (``run.diff_tables`` is the composition root):

1. Both tables are described (``sinks.checksums.describe_*``) and their columns paired by
   name (``columns``): each pair gets a rendering mode, the comparator kind of
   ``comparators.values`` and, from ``[tables.rules.<table>]``, a tolerance or "ignored".
   The key must be a primary or unique key of NOT NULL integer, text or UUID columns.
2. The key space is cut into ranges: equal slices of the values for a single integer key
   (``tables.segments`` of them); otherwise the whole table first, then cuts sampled at
   every n-th key of the side with more rows (``ROW_NUMBER() % n``).
3. For each range, in a pool of ``tables.parallel`` threads (one session per database
   each), both databases compute, at the same time, ``count(*)`` and sums of 60-bit MD5
   prefixes of a normalized text of every row (``sinks.checksums`` documents the text).
   For an integer key, a range wide enough to be cut is summed piece by piece in the same
   pass (while most such ranges differ), so its pieces need no second pass.
   Equal ranges are done; a differing range is cut again until it holds fewer than
   ``tables.download_below`` rows, then both sides' rows are read in key order and merged
   (``compare``), every pair of values judged by ``comparators.values``.
4. Differing keys are read again after ``tables.recheck_delay`` seconds (``--recheck``,
   the default) and count only if they still differ, so rows still in flight settle;
   ``--older-than S`` leaves out rows whose age column is younger than S seconds, in the
   first pass and in the recheck alike.
5. With ``--consistent`` the diff compares only rows below the cut of the source topic
   (``canary.core.cut``; both paths' commits are read by ``commits``): every summary,
   cut point and row read carries a WHERE on ``src_partition``/``src_offset``. A key
   found below the cut on one side only is asked after on the other side: if that side
   holds it at or past the cut, it is in flight, not a difference (``inflight``); this
   also catches rows that move past the cut before the recheck. The in-flight keys of
   both sides are counted last, as one ordered union. ``report.TablesReport`` is the
   typed report either way.

Why two sums per range. Most types have one text both engines can print for equal values
(decimals without trailing zeros, UTC datetimes to the microsecond, 0/1 booleans, exact
UTF-8 text with its length, lowercase hex, a UUID's lowercase text, a DOUBLE's IEEE bits
against a double precision, a float's canonical token at the pair's precision, see
``sinks.checksums.floats``): the *exact* sum covers them and the key, and an equal sum
proves equal values. Three kinds of column have no such shared text: JSON (MariaDB
stores the text as written, JSONB reorders keys and respaces), a float against a DECIMAL
or integer (``1.5e0`` vs ``1.50``) and columns with a tolerance (equal within 0.01 is
not equal text). Leaving them out of the checksum would hide their differences; putting
them in would make every range "differ" and download everything. So they get a second,
*loose* sum over the key and their raw texts. Each engine's raw text determines its
value, so equal loose sums still prove equality; when only the loose sums differ, just
the key and those columns are compared row by row, with no recursion. When loose sums
differ in nearly every range (the usual case for JSON written by two different clients),
the probe stops computing them. When every loose column is JSON, its rows are not
streamed into Python: the MySQL side's texts are copied into a temporary table of the
PostgreSQL session and compared there as ``jsonb`` (key order and spaces ignored,
numbers by value, strings exactly: what ``jsonb`` calls equal, ``comparators.values``
calls equal too); only the keys it flags are read on both sides and judged in Python,
and a text PostgreSQL cannot read as ``jsonb`` sends its piece back to the row-by-row
path. A downloaded range is compared the same way: its other columns merged in Python,
its JSON judged in PostgreSQL, every key either finds read whole.

MySQL 8 and MariaDB differ where it shows: MySQL 8 keeps JSON in a binary form with keys
in JSONB's order and prints it with JSONB's spacing, so its loose sums often match; it
has no dynamic columns, so a DOUBLE's bits come from arithmetic. ``describe_mysql`` finds
the server and the SQL follows it.

Guarantees: no false positives (every reported difference comes from
``comparators.values`` on the values read, never from a checksum) and no hidden
differences (a range is skipped only when both sums match, or its exact sums match and
``jsonb`` equality clears its JSON; two values render to the same token only when
``comparators.values`` calls them equal; a 60-bit sum collision has a chance of about
2^-60 per range).
Keys are ordered and compared as UTF-8 bytes on both sides (see ``sinks.checksums``),
so case and trailing-space variants are distinct keys even under _ci or PAD SPACE
collations; a UUID key is its lowercase text on both sides (``sinks.checksums.uuids``).
The merge checks that every side's keys arrive strictly increasing; one key twice (a
UUID stored in two spellings) stops the diff with DuplicateKey (exit code 2).

Floats compare at the precision of the coarser column: FLOAT/REAL at 4 bytes (the other
side rounded to the nearest float32), DOUBLE/DOUBLE PRECISION at 8; each column's rule
is stated in words in the report (``rules``, from ``columns.describe``).
"""
