"""UUID columns in both engines' SQL: every UUID as its canonical lowercase text.

A PostgreSQL ``uuid`` pairs with a MySQL ``CHAR(36)``/``VARCHAR(n)``/text column, a
``BINARY(16)`` (the 16 bytes in RFC 4122 order) or MariaDB's own ``UUID``. Both sides
print the canonical text ``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`` in lowercase, which is
what PostgreSQL prints, and it is also the key order on both sides: PostgreSQL orders
``uuid`` by its 16 bytes, which is the order of that text, and a ``BINARY(16)`` orders by
the same bytes; a MySQL text key and MariaDB's ``UUID`` (which orders time-based UUIDs by
their time fields) are ordered by the canonical text as bytes.

MySQL text is a UUID when it is 36 characters in the 8-4-4-4-12 layout or 32 hex digits,
in any case (the forms ``comparators.values`` accepts); any other text keeps its own text,
which no ``uuid`` prints, so it is a difference (a non-key column) or a row only in MySQL
(a key). Two MySQL keys that are one UUID written two ways are one key to the diff: the
merge stops on them with a message (``canary.diff.tables.compare``).
"""

from __future__ import annotations

import re

from sinks.checksums.model import Field

# What PostgreSQL's uuid::text prints, i.e. a key value that can be a bound on a uuid column.
CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_HEX = "[0-9a-fA-F]"
_DASHED = f"^{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
_PLAIN = f"^{_HEX}{{32}}"


def canonical(value: object) -> bool:
    """Whether ``value`` is a UUID's canonical lowercase text."""
    return isinstance(value, str) and CANONICAL.fullmatch(value) is not None


def _dashes(hex32: str) -> str:
    """32 hex digits (MySQL expression) as 8-4-4-4-12, inserting from the right."""
    return f"INSERT(INSERT(INSERT(INSERT({hex32}, 21, 0, '-'), 17, 0, '-'), 13, 0, '-'), 9, 0, '-')"


def mysql_uuid_text(field: Field, column: str, text: str) -> str:
    """The canonical text of ``column`` (quoted); ``text`` is the column as utf8mb4_bin.

    The patterns are anchored at the start and the length is tested, not ``$``: PCRE's
    ``$`` also matches before a final newline."""
    if field.family == "bytes":  # BINARY(16)
        return f"LOWER({_dashes(f'HEX({column})')})"
    if field.family == "uuid":  # MariaDB's UUID prints its canonical text
        return f"CAST({column} AS CHAR)"
    return (
        f"CASE WHEN CHAR_LENGTH({text}) = 36 AND {text} REGEXP '{_DASHED}' THEN LOWER({text}) "
        f"WHEN CHAR_LENGTH({text}) = 32 AND {text} REGEXP '{_PLAIN}' "
        f"THEN LOWER({_dashes(text)}) ELSE {text} END"
    )


def mysql_uuid_key(field: Field, column: str, text: str) -> str:
    """The expression a UUID key is ordered and bounded by: a ``BINARY(16)`` itself (its
    index serves), else the canonical text as bytes."""
    if field.family == "bytes":
        return column
    return f"CAST({mysql_uuid_text(field, column, text)} AS BINARY)"
