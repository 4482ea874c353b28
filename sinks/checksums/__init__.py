"""Per-engine SQL of the table diff: column types, range checksums and ordered row reads.

:mod:`~sinks.checksums.text` states the normalized row text and hash that both engines
must agree on; :mod:`~sinks.checksums.model` holds the types and the ``Queries`` port;
:mod:`~sinks.checksums.mysql` and :mod:`~sinks.checksums.postgres` build that text in
each engine's SQL. The names below are the ones ``canary.diff.tables`` uses.
"""

from sinks.checksums.model import (
    KEYS_PER_QUERY,
    STREAM_BATCH,
    Dialect,
    Family,
    Field,
    Mode,
    Plan,
    Queries,
    Row,
    SourceColumn,
    SourceCut,
    SourceTable,
)
from sinks.checksums.mysql import MySQLQueries, connect_mysql, describe_mysql, mysql_family
from sinks.checksums.postgres import (
    PostgresQueries,
    connect_postgres,
    describe_postgres,
    postgres_family,
    save_report,
)

__all__ = [
    "KEYS_PER_QUERY",
    "STREAM_BATCH",
    "Dialect",
    "Family",
    "Field",
    "Mode",
    "MySQLQueries",
    "Plan",
    "PostgresQueries",
    "Queries",
    "Row",
    "SourceColumn",
    "SourceCut",
    "SourceTable",
    "connect_mysql",
    "connect_postgres",
    "describe_mysql",
    "describe_postgres",
    "mysql_family",
    "postgres_family",
    "save_report",
]
