"""Tests for canary.config: file, environment overrides, DSNs, passwords, masking."""

from __future__ import annotations

import tomllib
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.config import (
    LOCAL_SERVICE_PASSWORD,
    RingSettings,
    Settings,
    load_settings,
    masked_view,
)
from canary.errors import EXIT_USAGE, ConfigError

LOCAL_TOML = Path(__file__).resolve().parents[2] / "configs" / "local.toml"
PASSWORD_VARIABLES = ("CANARY_MYSQL_PASSWORD", "CANARY_PG_PASSWORD")


@pytest.fixture(autouse=True)
def _no_password_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """``.password()`` reads the real environment; start every test without secrets."""
    for name in PASSWORD_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _toml(tmp_path: Path, text: str, name: str = "canary.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _config_error(path: Path | None, environ: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ)
    assert caught.value.exit_code == EXIT_USAGE
    return caught.value


# --- files -------------------------------------------------------------------------------


def test_an_empty_file_gives_the_model_defaults(tmp_path: Path) -> None:
    path = _toml(tmp_path, "")
    settings = load_settings(path, environ={})
    assert settings == Settings(source=str(path))
    assert settings.source == str(path)


def test_a_missing_default_file_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/local.toml here
    settings = load_settings(environ={})
    assert settings.model_dump() == Settings().model_dump()


def test_local_toml_loads_every_value_it_states() -> None:
    settings = load_settings(LOCAL_TOML, environ={})
    assert settings.source == str(LOCAL_TOML)
    stated = tomllib.loads(LOCAL_TOML.read_text(encoding="utf-8"))
    assert stated, "configs/local.toml states nothing"
    for section, values in stated.items():
        for key, value in values.items():
            assert getattr(getattr(settings, section), key) == value, f"{section}.{key}"


def test_canary_config_variable_selects_the_file(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[ring]\nworkers = 3\n")
    settings = load_settings(environ={"CANARY_CONFIG": str(path)})
    assert settings.ring.workers == 3
    assert settings.source == str(path)


def test_unknown_key_in_a_file_is_named(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[ring]\nworkers = 2\nbogus_knob = 1\n")
    error = _config_error(path, {})
    assert str(path) in str(error)
    assert "ring.bogus_knob" in str(error)
    assert "unknown key" in str(error)


def test_unknown_section_in_a_file_is_named(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[rnig]\nworkers = 2\n")
    error = _config_error(path, {})
    assert str(path) in str(error)
    assert "rnig" in str(error)
    assert "unknown key" in str(error)


def test_bad_value_in_a_file_names_the_file_and_key(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[ring]\nworkers = "many"\n')
    error = _config_error(path, {})
    assert error.source == str(path)
    assert error.key == "ring.workers"
    assert str(path) in str(error)
    assert "ring.workers" in str(error)
    assert "many" in str(error)


def test_bad_toml_syntax_names_the_file(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[ring\nworkers = = 2\n")
    error = _config_error(path, {})
    assert str(path) in str(error)
    assert "TOML" in str(error)


def test_a_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    error = _config_error(path, {})
    assert str(path) in str(error)
    assert "not found" in str(error)


def test_a_missing_file_named_by_canary_config_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    error = _config_error(None, {"CANARY_CONFIG": str(path)})
    assert str(path) in str(error)


# --- environment overrides ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "raw", "section", "key", "expected"),
    [
        ("CANARY_RING__WORKERS", "8", "ring", "workers", 8),
        ("CANARY_RING__LOW_WATER", "0.25", "ring", "low_water", 0.25),
        ("CANARY_LEGACY__GROUP", "g-blue", "legacy", "group", "g-blue"),
        ("CANARY_LEGACY__ASSIGNMENT_STRATEGY", "roundrobin", "legacy", "assignment_strategy",
         "roundrobin"),
        ("CANARY_KAFKA__PARTITIONS", "12", "kafka", "partitions", 12),
        ("CANARY_POSTGRES__TABLE", "orders_x", "postgres", "table", "orders_x"),
    ],
)  # fmt: skip
def test_env_overrides_are_typed(
    variable: str, raw: str, section: str, key: str, expected: object
) -> None:
    settings = load_settings(LOCAL_TOML, environ={variable: raw})
    value = getattr(getattr(settings, section), key)
    assert value == expected
    assert type(value) is type(expected)


def test_env_beats_the_file(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[ring]\nworkers = 4\nbatch_size = 50\n")
    settings = load_settings(path, environ={"CANARY_RING__WORKERS": "8"})
    assert settings.ring.workers == 8
    assert settings.ring.batch_size == 50  # untouched keys keep the file's value


def test_bad_env_value_names_the_variable_and_key() -> None:
    error = _config_error(LOCAL_TOML, {"CANARY_RING__WORKERS": "x"})
    assert error.source == "CANARY_RING__WORKERS"
    assert error.key == "ring.workers"
    assert "CANARY_RING__WORKERS" in str(error)
    assert "ring.workers" in str(error)
    assert "'x'" in str(error)


def test_out_of_range_env_value_is_rejected() -> None:
    error = _config_error(LOCAL_TOML, {"CANARY_MYSQL__PORT": "0"})
    assert "CANARY_MYSQL__PORT" in str(error)
    assert "mysql.port" in str(error)


def test_unknown_env_key_is_named() -> None:
    error = _config_error(LOCAL_TOML, {"CANARY_RING__BOGUS_KNOB": "1"})
    assert "CANARY_RING__BOGUS_KNOB" in str(error)
    assert "ring.bogus_knob" in str(error)
    assert "unknown key" in str(error)


def test_unknown_env_section_names_the_variable() -> None:
    error = _config_error(LOCAL_TOML, {"CANARY_RNIG__WORKERS": "2"})
    assert "CANARY_RNIG__WORKERS" in str(error)
    assert "unknown section" in str(error)


def test_env_section_named_source_is_rejected_like_any_unknown_section() -> None:
    error = _config_error(LOCAL_TOML, {"CANARY_SOURCE__X": "1"})
    assert "CANARY_SOURCE__X" in str(error)


def test_variables_without_double_underscore_are_not_overrides() -> None:
    settings = load_settings(LOCAL_TOML, environ={"CANARY_SOMETHING": "1", "OTHER__X": "2"})
    assert settings.model_dump() == load_settings(LOCAL_TOML, environ={}).model_dump()


# --- ring capacity ------------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [3, 1000, 65_535, 65_537])
def test_non_power_of_two_ring_capacity_is_rejected(capacity: int) -> None:
    error = _config_error(LOCAL_TOML, {"CANARY_RING__RING_CAPACITY": str(capacity)})
    assert "ring.ring_capacity" in str(error)
    assert "power of two" in str(error)


@given(st.integers(min_value=2, max_value=1 << 24))
def test_ring_capacity_accepted_iff_power_of_two(capacity: int) -> None:
    is_power = capacity & (capacity - 1) == 0
    try:
        RingSettings(ring_capacity=capacity)
    except ValueError:
        assert not is_power
    else:
        assert is_power


# --- service variables and DSNs -----------------------------------------------------------


def test_kafka_bootstrap_variable_overrides_the_file() -> None:
    settings = load_settings(LOCAL_TOML, environ={"CANARY_KAFKA_BOOTSTRAP": "k1:9093,k2:9094"})
    assert settings.kafka.bootstrap == "k1:9093,k2:9094"


def test_malformed_kafka_bootstrap_names_the_variable() -> None:
    error = _config_error(LOCAL_TOML, {"CANARY_KAFKA_BOOTSTRAP": "no-port-here"})
    assert "CANARY_KAFKA_BOOTSTRAP" in str(error)
    assert "kafka.bootstrap" in str(error)


def test_file_error_is_not_blamed_on_an_unrelated_service_variable(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[kafka]\npartitions = 0\n")
    error = _config_error(path, {"CANARY_KAFKA_BOOTSTRAP": "127.0.0.1:9092"})
    assert error.source == str(path)


@pytest.mark.parametrize(
    ("variable", "section", "dsn"),
    [
        ("CANARY_MYSQL_DSN", "mysql", "mysql://alice:p%40ss%3Aw0rd%2F@db.example.com:3307/shop"),
        ("CANARY_MYSQL_DSN", "mysql", "mariadb://alice:p%40ss%3Aw0rd%2F@db.example.com:3307/shop"),
        ("CANARY_PG_DSN", "postgres", "postgresql://alice:p%40ss%3Aw0rd%2F@db.example.com:3307/shop"),
        ("CANARY_PG_DSN", "postgres", "postgres://alice:p%40ss%3Aw0rd%2F@db.example.com:3307/shop"),
    ],
)  # fmt: skip
def test_dsn_overrides_the_connection_and_supplies_the_password(
    variable: str, section: str, dsn: str
) -> None:
    settings = load_settings(LOCAL_TOML, environ={variable: dsn})
    database = getattr(settings, section)
    assert (database.host, database.port, database.user, database.database) == (
        "db.example.com",
        3307,
        "alice",
        "shop",
    )
    assert database.address == "db.example.com:3307"
    assert database.password() == "p@ss:w0rd/"  # percent-decoded


def test_dsn_without_port_keeps_the_configured_port() -> None:
    default_port = load_settings(LOCAL_TOML, environ={}).postgres.port
    settings = load_settings(LOCAL_TOML, environ={"CANARY_PG_DSN": "postgresql://bob@pg.example/x"})
    assert settings.postgres.host == "pg.example"
    assert settings.postgres.port == default_port
    assert settings.postgres.user == "bob"


def test_dsn_touches_only_its_own_section() -> None:
    base = load_settings(LOCAL_TOML, environ={})
    settings = load_settings(LOCAL_TOML, environ={"CANARY_MYSQL_DSN": "mysql://u:p@m.example:1/d"})
    assert settings.postgres == base.postgres
    assert settings.mysql.host == "m.example"


@pytest.mark.parametrize(
    ("variable", "dsn"),
    [
        ("CANARY_MYSQL_DSN", "not a url"),
        ("CANARY_MYSQL_DSN", "http://u:p@h:3306/db"),
        ("CANARY_MYSQL_DSN", "mysql:///no-host"),
        ("CANARY_MYSQL_DSN", "mysql://u:p@h:notaport/db"),
        ("CANARY_PG_DSN", "postgresql://u:p@h:99999999/db"),
        ("CANARY_PG_DSN", "127.0.0.1:5432"),
    ],
)
def test_malformed_dsn_is_a_config_error_naming_the_variable(variable: str, dsn: str) -> None:
    error = _config_error(LOCAL_TOML, {variable: dsn})
    assert variable in str(error)


def test_password_variable_wins_over_the_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        LOCAL_TOML, environ={"CANARY_PG_DSN": "postgresql://u:from-dsn@pg.example:5432/d"}
    )
    assert settings.postgres.password() == "from-dsn"
    monkeypatch.setenv("CANARY_PG_PASSWORD", "from-variable")
    assert settings.postgres.password() == "from-variable"


def test_password_env_names_the_variable_that_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        LOCAL_TOML,
        environ={
            "CANARY_MYSQL__PASSWORD_ENV": "SHOP_DB_SECRET",
            "CANARY_MYSQL__HOST": "db.example",
        },
    )
    monkeypatch.setenv("CANARY_MYSQL_PASSWORD", "not-this-one")
    monkeypatch.setenv("SHOP_DB_SECRET", "this-one")
    assert settings.mysql.password() == "this-one"


@pytest.mark.parametrize("section", ["mysql", "postgres"])
def test_remote_host_without_password_names_the_variable(section: str) -> None:
    settings = load_settings(LOCAL_TOML, environ={f"CANARY_{section.upper()}__HOST": "db.example"})
    database = getattr(settings, section)
    with pytest.raises(ConfigError) as caught:
        database.password()
    assert caught.value.exit_code == EXIT_USAGE
    assert database.password_env in str(caught.value)
    assert "db.example" in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "localhost", "::1"])
def test_loopback_host_without_password_uses_the_local_service_default(host: str) -> None:
    settings = load_settings(LOCAL_TOML, environ={"CANARY_POSTGRES__HOST": host})
    assert settings.postgres.password() == LOCAL_SERVICE_PASSWORD


# --- masking ------------------------------------------------------------------------------


def test_masked_view_never_holds_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_PG_PASSWORD", "pg-Secret-1")
    settings = load_settings(
        LOCAL_TOML, environ={"CANARY_MYSQL_DSN": "mysql://u:my%2DSecret%2D2@m.example:3306/d"}
    )
    assert settings.mysql.password() == "my-Secret-2"
    assert settings.postgres.password() == "pg-Secret-1"
    view = masked_view(settings)
    dumped = orjson.dumps(view).decode()
    for secret in ("pg-Secret-1", "my-Secret-2", "my%2DSecret%2D2"):
        assert secret not in dumped
    assert "CANARY_PG_PASSWORD" in view["postgres"]["password"]
    assert view["mysql"]["password"]  # says where the password comes from
    assert view["ring"]["effective_workers"] == settings.ring.worker_count()
    assert view["kafka"] == settings.kafka.model_dump(mode="json")


def test_masked_view_says_when_a_remote_password_is_unset() -> None:
    settings = load_settings(LOCAL_TOML, environ={"CANARY_POSTGRES__HOST": "db.example"})
    assert "UNSET" in masked_view(settings)["postgres"]["password"]
