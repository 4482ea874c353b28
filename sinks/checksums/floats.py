"""Float columns in both engines' SQL: one canonical token per value, at the pair's precision.

A pair of float columns is compared at the precision of the coarser one (mode ``float32``
when either side is a 4-byte FLOAT/REAL, ``float`` when both are 8-byte), and both
engines must print the same token for equal values so that equal ranges' checksums match.

Both engines print a double as its shortest round-trip digits, but lay them out their own
way (MariaDB ``1e20``, ``1e-10`` as ``0.0000000001``; PostgreSQL ``1e+20``, ``1e-10``).
Each side therefore takes its own text apart into the *canonical token*

    [-] <digits without leading or trailing zeros> "e" <exponent of the last digit>

(``0.1`` -> ``1e-1``, ``1e20`` and ``1e+20`` -> ``1e20``, ``16777216`` -> ``16777216e0``),
with ``0`` for zero of either sign and PostgreSQL's own ``NaN``/``Infinity``/``-Infinity``
(MariaDB stores neither). The token names the double exactly, so equal tokens mean equal
doubles.

A 4-byte float is printed as the double that holds it exactly (``CAST(f AS DOUBLE)``,
``f::float8``): MariaDB's own text of a FLOAT keeps 6 digits and would both invent
differences (``0.333333`` vs ``0.33333334``) and hide them (0.20000000298023224 and the
next float32, 0.20000001788139343, both print ``0.2``). In a ``float32`` pair an 8-byte
side is rounded to float32 first (ties to even, as ``comparators.values`` rounds), so
DOUBLE 0.1 and FLOAT 0.1 meet at ``10000000149011612e-17``. A double beyond float32's
range (|x| >= 2^128 - 2^103, which rounds to infinity) keeps its own token, which no
float32 has; one at most 2^-150 from zero rounds to ``0`` (PostgreSQL would raise on both).

Values are *read* at their own precision (a FLOAT as its exact double, a DOUBLE as itself)
so a report shows what is stored; the comparator rounds exactly as the token does, so a
matching token and a row comparison never disagree.

One known gap: PostgreSQL never picks a shortest form that lies exactly on the rounding
boundary (some doubles above 2^53: ``52990648348713776`` where MariaDB and Python print
``5.299064834871378e16``). Such a value makes its range's checksums differ; the range is
read and compared in Python, which finds it equal. Slower, never wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from sinks.checksums.model import Field

# 2^128 - 2^103: a double at or beyond this rounds to infinity as a float32.
FLOAT32_OVERFLOW = "3.4028235677973366e38"
# 2^-150: a double no farther than this from zero rounds to zero as a float32.
FLOAT32_UNDERFLOW = "7.006492321624085e-46"


def is_float(field: Field) -> bool:
    """Whether ``field`` is a float column compared as a float (it gets the tokens here)."""
    return field.mode in ("float", "float32") and field.family in ("float", "float4")


@dataclass(frozen=True, slots=True)
class _Dialect:
    """One engine's pieces of the float SQL, as ``{}`` templates."""

    text: str  # a double as its shortest round-trip digits
    mantissa: str  # that text up to its "e"
    exponent: str  # a double that is an integer, as an integer
    widen: str  # a 4-byte float as the double that holds it exactly
    narrow: str  # a double rounded to float32 (ties to even), as a double again
    literal: str  # a double constant
    to_double: str  # text of digits as a double
    special: str  # {0} a double, {1} its canonical token: NaN and infinities kept apart


_MYSQL = _Dialect(
    text="CAST({} AS CHAR)",
    mantissa="SUBSTRING_INDEX({}, 'e', 1)",
    exponent="CAST({} AS SIGNED)",
    widen="CAST({} AS DOUBLE)",
    narrow="CAST(CAST({} AS FLOAT) AS DOUBLE)",  # clamps out of range: tested before
    literal="{}",
    to_double="CAST({} AS DOUBLE)",
    special="{1}",  # MariaDB stores no NaN or infinity
)
# The session prints shortest round-trip digits (extra_float_digits > 0).
_POSTGRES = _Dialect(
    text="({})::text",
    mantissa="split_part({}, 'e', 1)",
    exponent="({})::int",
    widen="{}::float8",
    narrow="{}::float4::float8",  # raises on overflow and underflow: tested before
    literal="'{}'::float8",
    to_double="({})::float8",
    special="CASE WHEN abs({0}) >= 'Infinity'::float8 THEN {0}::text ELSE {1} END",  # NaN last
)


def _canonical(value: str, sql: _Dialect) -> str:
    """The canonical token of ``value``, a double expression (never NULL here).

    The digits come from the engine's text, the exponent of the last digit from
    ``round(log10(|value|) - log10(digits))``: the value is digits x 10^exponent to 16
    significant digits, so the difference lies within 1e-12 of that integer and rounding
    it is exact, from subnormals to 1.8e308. The text is printed twice per value, not
    once per piece of its layout."""
    mantissa = sql.mantissa.format(sql.text.format(f"ABS({value})"))
    digits = f"TRIM(BOTH '0' FROM REPLACE({mantissa}, '.', ''))"
    exponent = sql.exponent.format(
        f"ROUND(LOG10(ABS({value})) - LOG10({sql.to_double.format(digits)}))"
    )
    token = (
        f"CASE WHEN {value} = 0 THEN '0' ELSE CONCAT(CASE WHEN {value} < 0 THEN '-' ELSE '' END, "
        f"{digits}, 'e', {exponent}) END"
    )
    return sql.special.format(value, token)


def _token(field: Field, column: str, sql: _Dialect) -> str:
    if field.family == "float4":
        return _canonical(sql.widen.format(column), sql)
    if field.mode == "float":
        return _canonical(column, sql)
    return (
        f"CASE WHEN ABS({column}) >= {sql.literal.format(FLOAT32_OVERFLOW)} "
        f"THEN {_canonical(column, sql)} "
        f"WHEN ABS({column}) <= {sql.literal.format(FLOAT32_UNDERFLOW)} THEN '0' "
        f"ELSE {_canonical(sql.narrow.format(column), sql)} END"
    )


def _read(field: Field, column: str, sql: _Dialect) -> str:
    return sql.text.format(sql.widen.format(column) if field.family == "float4" else column)


def mysql_float_token(field: Field, column: str) -> str:
    """The token text of a float ``column`` (quoted) at ``field.mode``'s precision."""
    return _token(field, column, _MYSQL)


def mysql_float_read(field: Field, column: str) -> str:
    """The exact text of a float ``column``: a FLOAT as the double that holds it."""
    return _read(field, column, _MYSQL)


def postgres_float_token(field: Field, column: str) -> str:
    """The token text of a float ``column`` (quoted) at ``field.mode``'s precision."""
    return _token(field, column, _POSTGRES)


def postgres_float_read(field: Field, column: str) -> str:
    """The exact text of a float ``column``: a REAL as the double that holds it."""
    return _read(field, column, _POSTGRES)
