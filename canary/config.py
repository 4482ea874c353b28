"""Typed configuration: one TOML file plus environment overrides, validated at load."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from canary.errors import ConfigError

DEFAULT_CONFIG = Path("configs/local.toml")
ENV_PREFIX = "CANARY_"
# The public credentials of the throwaway local services (CONTRACTS §2). They are used
# only for a loopback host whose password variable is unset, so a newcomer's first
# command works while no real secret ever lives in a file.
LOCAL_SERVICE_PASSWORD = "canary"  # noqa: S105

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_HANDLER_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

Identifier = Annotated[str, Field(pattern=_IDENTIFIER.pattern)]


def is_identifier(name: str) -> bool:
    """Whether ``name`` may name a table or schema (what ``Identifier`` accepts)."""
    return _IDENTIFIER.match(name) is not None


Port = Annotated[int, Field(ge=1, le=65535)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Section):
    bootstrap: str = "127.0.0.1:9092"
    source_topic: str = "orders"
    compare_topic: str = "canary.compare"
    dlq_topic: str = "canary.dlq"
    partitions: Annotated[int, Field(ge=1, le=10_000)] = 6

    @field_validator("bootstrap")
    @classmethod
    def _bootstrap_has_port(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value


class DatabaseSettings(_Section):
    host: str = "127.0.0.1"
    port: Port
    user: str = "canary"
    database: str = "canary"
    password_env: str
    table: Identifier = "orders"
    _dsn_password: str | None = PrivateAttr(default=None)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def password(self) -> str:
        """The password from the named variable, a DSN override, or the local default."""
        value = os.environ.get(self.password_env)
        if value is not None:
            return value
        if self._dsn_password is not None:
            return self._dsn_password
        if _is_loopback(self.host):
            return LOCAL_SERVICE_PASSWORD
        raise ConfigError(
            "environment",
            self.password_env,
            f"not set, and {self.host} is not a local service: set it to the password",
        )

    def password_source(self) -> str:
        if self.password_env in os.environ:
            return f"${self.password_env} (set)"
        if self._dsn_password is not None:
            return "from the DSN variable (set)"
        if _is_loopback(self.host):
            return f"${self.password_env} (unset: local service default)"
        return f"${self.password_env} (UNSET)"


class MySQLSettings(DatabaseSettings):
    port: Port = 3306
    password_env: str = "CANARY_MYSQL_PASSWORD"  # noqa: S105 - a variable name, not a secret


class PostgresSettings(DatabaseSettings):
    port: Port = 5432
    password_env: str = "CANARY_PG_PASSWORD"  # noqa: S105 - a variable name, not a secret
    offsets_table: Identifier = "canary_offsets"
    report_schema: Identifier = "canary_reports"


class HandlerSettings(_Section):
    path: Annotated[str, Field(pattern=_HANDLER_PATH.pattern)] = "canary.handlers.orders:to_row"


class ProduceSettings(_Section):
    seed: int = 1
    keys: Annotated[int, Field(ge=0)] = 0
    rate: Annotated[float, Field(ge=0)] = 0.0


class LegacySettings(_Section):
    group: str = "canary-legacy"
    assignment_strategy: Literal["range", "roundrobin", "cooperative-sticky"] = "range"
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 1
    static_member_id: str = "auto"


class RingSettings(_Section):
    group: str = "canary-ring"
    workers: Annotated[int, Field(ge=0, le=1024)] = 0
    min_workers: Annotated[int, Field(ge=1, le=1024)] = 1
    ring_capacity: Annotated[int, Field(ge=2, le=1 << 24)] = 65_536
    max_inflight_bytes: Annotated[int, Field(ge=1 << 16)] = 16 << 20
    low_water: Annotated[float, Field(gt=0, lt=1)] = 0.5
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    protocol: Literal["auto", "consumer", "cooperative-sticky"] = "auto"
    worker_mode: Literal["threads", "processes"] = "threads"
    static_member_id: str = "auto"
    checkpoint_path: str = ".state/ring-{group}.checkpoint.json"

    @field_validator("ring_capacity")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"must be a power of two, got {value}")
        return value

    def worker_count(self) -> int:
        return self.workers or 2 * (os.cpu_count() or 1)


class DiffSettings(_Section):
    """Thresholds of the stream diff's verdict; a negative limit means no limit."""

    max_mismatched: int = 0
    max_missing_in_ring: int = 0
    max_missing_in_legacy: int = 0
    max_duplicates: int = -1
    max_invalid: int = -1
    max_p99_gap_ms: float = -1.0
    max_samples: Annotated[int, Field(ge=0, le=10_000)] = 20
    grace: Annotated[float, Field(ge=0)] = 10.0
    until_idle: Annotated[float, Field(ge=0)] = 10.0


class ToleranceSettings(_Section):
    absolute: Annotated[float, Field(ge=0)] = 0.0
    relative: Annotated[float, Field(ge=0)] = 0.0


class TableRule(_Section):
    """How one table pair is compared: columns to skip, numeric tolerances, row age."""

    ignore: list[Identifier] = []
    tolerances: dict[Identifier, ToleranceSettings] = {}
    age_column: Identifier | None = None


class TablesSettings(_Section):
    """Defaults of `canary diff tables`; ``rules`` is keyed by table name."""

    segments: Annotated[int, Field(ge=2, le=1024)] = 32
    download_below: Annotated[int, Field(ge=1)] = 16_384
    parallel: Annotated[int, Field(ge=1, le=64)] = 4
    max_samples: Annotated[int, Field(ge=0, le=10_000)] = 20
    recheck: bool = True
    # Seconds to wait before reading the differing rows again (rows still in flight settle).
    recheck_delay: Annotated[float, Field(ge=0, le=3600)] = 1.0
    # Most differing keys kept for the recheck; beyond it the first pass's counts stand.
    recheck_limit: Annotated[int, Field(ge=0)] = 100_000
    rules: dict[Identifier, TableRule] = {}


class ScheduledJob(_Section):
    """One scheduled check: ``kind`` "tables", "stream" or "verify", on an interval or a
    cron line.

    A job has exactly one of ``interval`` (seconds) and ``cron`` (a five-field crontab
    line, parsed by ``canary.schedule`` when the schedule is built). A tables job needs
    ``table`` and ``key``; a stream job needs ``run_id``; a verify job (``canary
    verify``: both, the tables consistent) needs ``run_id`` and takes the fields of both
    (its tables default to ``mysql.table``/``postgres.table`` by ``order_id``). Fields of
    another kind are rejected rather than ignored. Unset options fall back to
    ``[diff]``, ``[tables]``, ``[kafka]``, ``[legacy]`` and ``[ring]``.
    """

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    kind: Literal["tables", "stream", "verify"]
    interval: Annotated[float, Field(gt=0)] | None = None
    cron: Annotated[str | None, Field(validate_default=True)] = None
    # tables jobs
    table: Annotated[Identifier | None, Field(validate_default=True)] = None
    mysql_table: Identifier | None = None
    pg_table: Identifier | None = None
    key: Annotated[list[Identifier], Field(validate_default=True)] = []
    columns: list[Identifier] = []
    max_samples: Annotated[int, Field(ge=0, le=10_000)] | None = None
    recheck: bool | None = None
    older_than: Annotated[float, Field(ge=0)] | None = None
    # tables jobs (``--consistent``) and verify jobs: whose commits make the cut
    consistent: bool | None = None
    topic: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")] | None = None
    legacy_group: str | None = None
    ring_group: str | None = None
    # stream jobs
    run_id: Annotated[str | None, Field(validate_default=True)] = None
    grace: Annotated[float, Field(ge=0)] | None = None
    until_idle: Annotated[float, Field(ge=0)] | None = None
    compare_topic: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")] | None = None
    drill_down: bool | None = None

    @field_validator("cron")
    @classmethod
    def _one_trigger(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "interval" not in info.data:
            return value  # interval itself is invalid; that error is reported instead
        interval = info.data["interval"]
        if value is None and interval is None:
            raise PydanticCustomError(
                "schedule_trigger",
                "a job needs exactly one of interval (seconds) or cron (a crontab line)",
            )
        if value is not None and interval is not None:
            raise PydanticCustomError(
                "schedule_trigger",
                "a job has interval or cron, not both (interval = {interval})",
                {"interval": interval},
            )
        if value is not None and not value.strip():
            raise PydanticCustomError("schedule_cron", "an empty cron line")
        return value

    @field_validator("table", "run_id")
    @classmethod
    def _required_for_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        needed_by = ("tables",) if info.field_name == "table" else ("stream", "verify")
        kind = info.data.get("kind")
        if value is None and kind in needed_by:
            raise PydanticCustomError(
                "schedule_required",
                "a {kind} job needs {field}",
                {"kind": kind, "field": info.field_name},
            )
        if value is not None and not value.strip():
            raise PydanticCustomError("schedule_empty", "must not be empty")
        return value

    @field_validator("key")
    @classmethod
    def _key_for_tables(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if not value and info.data.get("kind") == "tables":
            raise PydanticCustomError(
                "schedule_required", "a tables job needs key (a list of key columns)"
            )
        return value

    @model_validator(mode="after")
    def _no_fields_of_the_other_kind(self) -> ScheduledJob:
        stray = sorted(self.model_fields_set - _COMMON_JOB_FIELDS - _JOB_FIELDS[self.kind])
        if stray:
            kinds = [kind for kind, fields in _JOB_FIELDS.items() if set(stray) <= fields]
            raise PydanticCustomError(
                "schedule_kind",
                "{fields} only for {other} jobs, and this is a {kind} job",
                {
                    "fields": ", ".join(stray) + (" are" if len(stray) > 1 else " is"),
                    "other": " and ".join(kinds) or "other",
                    "kind": self.kind,
                },
            )
        if self.kind == "tables" and not self.consistent:
            cut = sorted(_CUT_JOB_FIELDS & self.model_fields_set)
            if cut:
                raise PydanticCustomError(
                    "schedule_kind",
                    "{fields} only with consistent = true",
                    {"fields": ", ".join(cut) + (" go" if len(cut) > 1 else " goes")},
                )
        return self


_COMMON_JOB_FIELDS = frozenset({"name", "kind", "interval", "cron"})
_TABLES_JOB_FIELDS = frozenset(
    {"table", "mysql_table", "pg_table", "key", "columns", "max_samples", "recheck", "older_than"}
)
_CUT_JOB_FIELDS = frozenset({"topic", "legacy_group", "ring_group"})
_STREAM_JOB_FIELDS = frozenset({"run_id", "grace", "until_idle", "compare_topic", "drill_down"})
_JOB_FIELDS = {
    "tables": _TABLES_JOB_FIELDS | _CUT_JOB_FIELDS | {"consistent"},
    "stream": _STREAM_JOB_FIELDS,
    "verify": _TABLES_JOB_FIELDS | _CUT_JOB_FIELDS | _STREAM_JOB_FIELDS,
}


class ScheduleSettings(_Section):
    """``canary schedule``: the jobs, and the time zone their cron lines are read in."""

    timezone: str = "UTC"
    jobs: list[ScheduledJob] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "schedule_timezone", "expected an IANA time zone such as UTC or Europe/Berlin"
            ) from None
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> ScheduleSettings:
        first: dict[str, int] = {}
        for index, job in enumerate(self.jobs):
            if job.name in first:
                raise PydanticCustomError(
                    "schedule_duplicate",
                    "jobs[{first}] and jobs[{index}] are both named '{name}': names must be unique",
                    {"name": job.name, "first": first[job.name], "index": index},
                )
            first[job.name] = index
        return self


class Settings(_Section):
    kafka: KafkaSettings = KafkaSettings()
    mysql: MySQLSettings = MySQLSettings()
    postgres: PostgresSettings = PostgresSettings()
    handler: HandlerSettings = HandlerSettings()
    produce: ProduceSettings = ProduceSettings()
    legacy: LegacySettings = LegacySettings()
    ring: RingSettings = RingSettings()
    diff: DiffSettings = DiffSettings()
    tables: TablesSettings = TablesSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    source: str = Field(default="(defaults)", exclude=True)


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, override and validate the configuration; any problem is a ConfigError."""
    env = os.environ if environ is None else environ
    explicit = path is not None
    path = path or Path(env.get("CANARY_CONFIG", str(DEFAULT_CONFIG)))
    data = _read_toml(path, required=explicit or "CANARY_CONFIG" in env)
    source = str(path)
    dsn_passwords = _apply_environment(data, env)
    try:
        settings = Settings.model_validate({**data, "source": source})
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        origin = _origin_of(key, env, source)
        raise ConfigError(origin, key, _expected(error)) from None
    for section, password in dsn_passwords.items():
        getattr(settings, section)._dsn_password = password
    return settings


def _read_toml(path: Path, *, required: bool) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        if required:
            raise ConfigError(str(path), "-", "file not found") from None
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "-", f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(str(path), "-", f"cannot be read: {exc.strerror}") from None


_DSN_FIELDS = {
    "kafka": {"bootstrap"},
    "mysql": {"host", "port", "user", "database"},
    "postgres": {"host", "port", "user", "database"},
}
_SERVICE_VARIABLES = {
    "CANARY_KAFKA_BOOTSTRAP": "kafka",
    "CANARY_MYSQL_DSN": "mysql",
    "CANARY_PG_DSN": "postgres",
}


def _apply_environment(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """Fold CANARY_* variables into the parsed file; returns passwords found in DSNs."""
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if section not in Settings.model_fields or section == "source":
            raise ConfigError(name, section, "unknown section")
        target = data.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(name, section, "is not a section")
        target[key] = value
    if "CANARY_KAFKA_BOOTSTRAP" in env:
        data.setdefault("kafka", {})["bootstrap"] = env["CANARY_KAFKA_BOOTSTRAP"]
    passwords: dict[str, str] = {}
    for variable, section in (("CANARY_MYSQL_DSN", "mysql"), ("CANARY_PG_DSN", "postgres")):
        if variable in env:
            fields, password = _parse_dsn(variable, env[variable])
            data.setdefault(section, {}).update(fields)
            if password is not None:
                passwords[section] = password
    return passwords


def _parse_dsn(variable: str, dsn: str) -> tuple[dict[str, Any], str | None]:
    parts = urlsplit(dsn)
    if parts.scheme not in {"mysql", "mariadb", "postgres", "postgresql"} or not parts.hostname:
        raise ConfigError(variable, "dsn", "expected scheme://user:password@host:port/database")
    fields: dict[str, Any] = {"host": parts.hostname}
    try:
        if parts.port is not None:
            fields["port"] = parts.port
    except ValueError:
        raise ConfigError(variable, "port", "not a number") from None
    if parts.username:
        fields["user"] = unquote(parts.username)
    if parts.path.strip("/"):
        fields["database"] = parts.path.strip("/")
    password = unquote(parts.password) if parts.password is not None else None
    return fields, password


def _origin_of(key: str, env: Mapping[str, str], source: str) -> str:
    """The variable that set ``key``, or the file when no variable did."""
    section, _, field = key.partition(".")
    if not field:
        prefix = f"{ENV_PREFIX}{section.upper()}__"
        named = sorted(name for name in env if name.startswith(prefix))
        return named[0] if named else source
    variable = f"{ENV_PREFIX}{section.upper()}__{field.upper()}"
    if variable in env:
        return variable
    for service_variable, service_section in _SERVICE_VARIABLES.items():
        if (
            service_section == section
            and field in _DSN_FIELDS[service_section]
            and service_variable in env
        ):
            return service_variable
    return source


def _expected(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    if kind == "extra_forbidden":
        return "unknown key"
    given = error.get("input")
    message = str(error.get("msg", "invalid"))
    if isinstance(given, dict):
        return message
    return f"{message} (got {given!r})"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def masked_view(settings: Settings) -> dict[str, Any]:
    """The resolved configuration as plain data, with secrets replaced by where they come from."""
    view = settings.model_dump(mode="json")
    view["mysql"]["password"] = settings.mysql.password_source()
    view["postgres"]["password"] = settings.postgres.password_source()
    view["ring"]["effective_workers"] = settings.ring.worker_count()
    return view
