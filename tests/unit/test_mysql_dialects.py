"""The SQL that follows the MySQL-compatible server it finds: MariaDB or MySQL 8."""

from __future__ import annotations

import pytest

from canary.core import schema
from sinks import ddl
from sinks.mysql import _upsert_statement


@pytest.mark.parametrize(
    ("version", "dialect", "alias"),
    [
        ("10.11.6-MariaDB-0+deb12u1", "mariadb", False),
        ("5.5.5-10.11.6-MariaDB", "mariadb", False),
        ("11.4.2-MariaDB-log", "mariadb", False),
        ("8.0.36", "mysql", True),
        ("8.0.19-0ubuntu0.20.04.1", "mysql", True),
        ("8.0.18", "mysql", False),
        ("5.7.44-log", "mysql", False),
        ("9.1.0-commercial", "mysql", True),
        ("", "mysql", False),
    ],
)
def test_the_server_is_told_from_its_version(version: str, dialect: str, alias: bool) -> None:
    assert ddl.server_dialect(version) == dialect
    assert ddl.row_alias_upserts(version) is alias


def test_mariadb_upserts_read_the_incoming_row_through_values() -> None:
    statement = _upsert_statement("orders")
    assert " AS new " not in statement
    assert "new.`" not in statement
    for name in schema.UPDATABLE:
        assert f"`{name}` = IF(VALUES(`version`) > `version`, VALUES(`{name}`), `{name}`)" in (
            statement
        )
    assert statement.endswith("`version` = GREATEST(`version`, VALUES(`version`))")


def test_mysql8_upserts_use_a_row_alias_not_the_deprecated_values() -> None:
    statement = _upsert_statement("orders", row_alias=True)
    assert "VALUES(`" not in statement
    assert ") AS new ON DUPLICATE KEY UPDATE " in statement
    for name in schema.UPDATABLE:
        assert f"`{name}` = IF(new.`version` > `version`, new.`{name}`, `{name}`)" in statement
    assert statement.endswith("`version` = GREATEST(`version`, new.`version`)")
    # Every column is guarded before the version is raised (assignments run in order).
    assert statement.rindex("IF(") < statement.index("GREATEST(")
