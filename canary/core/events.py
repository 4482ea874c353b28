"""The compare event, schema version 1: what each path publishes for every row it commits.

Kafka key: the business key in UTF-8, so both paths' events for one key share a
partition. Kafka value: one compact JSON object, fields in this order::

    {"v":1,"run":"r1","path":"legacy","key":"order-42",
     "src":{"t":"orders","p":3,"o":1234,"ts":1700000000000},
     "sum":"<32 lowercase hex>","at":1700000000012.5}

``src.ts`` is the source message's timestamp and ``at`` the moment the row's transaction
committed, both epoch milliseconds; ``at - src.ts`` is the record's latency on its path.
``sum`` is ``canary.core.checksum.row_checksum`` of the row that was written.

Readers ignore unknown fields, in the event and in ``src``, so later versions can add
optional ones. Anything else that does not match version 1 exactly raises
``InvalidEvent``, which the stream diff counts as ``invalid`` without stopping. Decoding
runs once per event at hundreds of thousands of events per second, so it checks exact
types directly instead of going through a validation library; JSON ``true`` is not an
integer and ``1.0`` is not a version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeAlias

import msgspec
import orjson

from canary.errors import InvalidEvent

__all__ = [
    "PATHS",
    "VERSION",
    "CompareEvent",
    "EventFields",
    "PathName",
    "SourceCoord",
    "decode_event",
    "decode_fields",
    "decode_wire",
    "encode_event",
    "encode_trusted",
    "event_key",
]

PathName: TypeAlias = Literal["legacy", "ring"]
PATHS: Final[tuple[PathName, PathName]] = ("legacy", "ring")
VERSION: Final = 1

_HEX_DIGITS: Final = "0123456789abcdef"
MAX_PARTITION: Final = 2**31 - 1  # a Kafka partition number is a signed 32-bit int


@dataclass(frozen=True, slots=True)
class SourceCoord:
    """A source message's coordinate (topic, partition, offset) and timestamp in epoch ms."""

    t: str
    p: int
    o: int
    ts: int


@dataclass(frozen=True, slots=True)
class CompareEvent:
    """One path's record that it durably wrote the row for one source message."""

    run: str
    path: PathName
    key: str
    src: SourceCoord
    sum: str
    at: float
    v: int = VERSION

    @property
    def latency_ms(self) -> float:
        """Milliseconds from the source message's timestamp to this path's commit."""
        return self.at - self.src.ts


def encode_event(ev: CompareEvent) -> bytes:
    """Return the Kafka value for ``ev``: compact JSON with exactly the version 1 fields.

    Raises ``InvalidEvent`` for an event that readers would reject, so that a path never
    publishes one.
    """
    obj = _as_object(ev.run, ev.path, ev.key, ev.src, ev.sum, ev.at, ev.v)
    _from_object(obj)
    try:
        return orjson.dumps(obj)
    except orjson.JSONEncodeError as exc:
        raise InvalidEvent(f"cannot encode event: {exc}") from exc


def encode_trusted(
    run: str, path: PathName, key: str, src: SourceCoord, digest: str, at: float
) -> bytes:
    """``encode_event`` without the checks, for a publisher whose values are valid by
    construction (a sum from ``row_checksum``, a coordinate from Kafka, a validated run
    and path): it runs once per record on the paths' hot loop."""
    return orjson.dumps(_as_object(run, path, key, src, digest, at, VERSION))


def _as_object(
    run: str, path: str, key: str, src: SourceCoord, digest: str, at: float, v: int
) -> dict[str, Any]:
    return {
        "v": v,
        "run": run,
        "path": path,
        "key": key,
        "src": {"t": src.t, "p": src.p, "o": src.o, "ts": src.ts},
        "sum": digest,
        "at": at,
    }


def event_key(ev: CompareEvent) -> bytes:
    """Return the Kafka key for ``ev``: its business key in UTF-8."""
    return ev.key.encode()


def decode_event(raw: bytes | None) -> CompareEvent:
    """Parse and validate one Kafka value; raise ``InvalidEvent`` saying what is wrong."""
    run, path, key, t, p, o, ts, digest, at = decode_fields(raw)
    coord = _new(SourceCoord)
    _set_t(coord, t)
    _set_p(coord, p)
    _set_o(coord, o)
    _set_ts(coord, ts)
    event = _new(CompareEvent)
    _set_run(event, run)
    _set_path(event, path)
    _set_key(event, key)
    _set_src(event, coord)
    _set_sum(event, digest)
    _set_at(event, at)
    _set_v(event, VERSION)
    return event


# run, path, key, src.t, src.p, src.o, src.ts, sum, at
EventFields: TypeAlias = tuple[str, PathName, str, str, int, int, int, str, float]


def decode_fields(raw: bytes | None) -> EventFields:
    """``decode_event`` as a plain tuple: the same checks, no objects built. The stream
    diff folds hundreds of thousands of events per second through this."""
    if raw is None:
        raise InvalidEvent("no value (a tombstone is not an event)")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc}") from exc
    if type(obj) is not dict:
        raise InvalidEvent(f"not a JSON object but {_describe(obj)}")
    return _from_object(obj)


def _from_object(obj: dict[str, Any]) -> EventFields:
    # One pass of exact-type checks with no messages; _explain() works out what was
    # wrong only for the rare event that fails them.
    try:
        v = obj["v"]
        run = obj["run"]
        path = obj["path"]
        key = obj["key"]
        digest = obj["sum"]
        at = obj["at"]
        src = obj["src"]
        t = src["t"]
        p = src["p"]
        o = src["o"]
        ts = src["ts"]
    except (KeyError, TypeError):
        raise _explain(obj) from None
    if (
        type(v) is not int
        or v != VERSION
        or type(run) is not str
        or path not in PATHS
        or type(key) is not str
        or type(digest) is not str
        or len(digest) != 32
        # strip() leaves nothing only when every character is a lowercase hex digit.
        or digest.strip(_HEX_DIGITS)
        or type(t) is not str
        or type(p) is not int
        or not 0 <= p <= MAX_PARTITION
        or type(o) is not int
        or o < 0
        or type(ts) is not int
    ):
        raise _explain(obj)
    kind = type(at)
    if kind is int:
        at = float(at)
    elif kind is not float or not math.isfinite(at):
        raise _explain(obj)
    return (run, path, key, t, p, o, ts, digest, at)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class WireSource(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    t: str
    p: Annotated[int, msgspec.Meta(ge=0, le=MAX_PARTITION)]
    # Bounded to int64 because msgspec decodes any integer, where orjson gives a float
    # past 2**64 (rejected); 2**63 to 2**64 - 1 are left to the slow path.
    o: Annotated[int, msgspec.Meta(ge=0, le=_INT64_MAX)]
    ts: Annotated[int, msgspec.Meta(ge=_INT64_MIN, le=_INT64_MAX)]


class WireEvent(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """A version 1 event as msgspec decodes it: the same rules as ``decode_fields``
    (exact JSON types), checked in C. ``gc=False``: these objects hold no references
    to containers, and hundreds of thousands of them a second must not wake the cycle
    collector.

    msgspec skips an unknown field without checking it (invalid UTF-8, a number out of
    range, nesting past orjson's limit), so unknown fields are refused here and such an
    event, which canary never writes, is decided by ``decode_fields``."""

    v: Literal[1]
    run: str
    path: Literal["legacy", "ring"]
    key: str
    src: WireSource
    sum: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}\Z")]  # "$" allows "\n"
    at: float


_WIRE = msgspec.json.Decoder(WireEvent)
WireError = (msgspec.ValidationError, msgspec.DecodeError, TypeError)
# msgspec raises RecursionError for deep nesting, which orjson may accept (or reject)
_FAST_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, RecursionError)


def decode_wire(raw: bytes) -> WireEvent:
    """The fast decoder of the stream diff: accepts exactly what ``decode_fields``
    accepts, and raises one of ``WireError`` for the rest (``decode_fields`` says why).

    What msgspec refuses (an invalid event, or a valid one it is stricter about: unknown
    fields, integers past int64, a field given twice and invalid the first time) goes
    to ``decode_fields``: only for such rare events is the slow path taken."""
    try:
        return _WIRE.decode(raw)
    except _FAST_ERRORS as exc:
        fast = exc
    try:
        run, path, key, t, p, o, ts, digest, at = decode_fields(raw)
    except InvalidEvent:
        if isinstance(fast, RecursionError):
            raise msgspec.DecodeError(str(fast)) from None
        raise fast from None
    return WireEvent(VERSION, run, path, key, WireSource(t, p, o, ts), digest, at)


# Every value is checked by now, and a frozen dataclass's __init__ goes through
# object.__setattr__ once per field, which would double the cost of a decode; so the
# decoder fills the slots directly. The round-trip tests compare every field.
_new = object.__new__
_set_t, _set_p, _set_o, _set_ts = (
    vars(SourceCoord)[name].__set__ for name in ("t", "p", "o", "ts")
)
_set_run, _set_path, _set_key, _set_src, _set_sum, _set_at, _set_v = (
    vars(CompareEvent)[name].__set__ for name in ("run", "path", "key", "src", "sum", "at", "v")
)

_STRING: Final = ((str,), "a string")
_INTEGER: Final = ((int,), "an integer")
_NUMBER: Final = ((int, float), "a number")
_OBJECT: Final = ((dict,), "an object")
_EVENT_FIELDS: Final = (
    ("run", _STRING),
    ("path", _STRING),
    ("key", _STRING),
    ("src", _OBJECT),
    ("sum", _STRING),
    ("at", _NUMBER),
)
_SOURCE_FIELDS: Final = (("t", _STRING), ("p", _INTEGER), ("o", _INTEGER), ("ts", _INTEGER))


def _explain(obj: dict[str, Any]) -> InvalidEvent:
    """Say what is wrong with an object that the fast checks rejected."""
    # Version first: a future version may change any other field.
    problem = (
        _version_problem(obj)
        or _type_problem(obj, _EVENT_FIELDS, "")
        or _type_problem(obj["src"], _SOURCE_FIELDS, "src.")
        or _value_problem(obj)
    )
    # Without a problem found, the fast checks and this walk disagree; that is still an
    # invalid event rather than a crash of the diff.
    return InvalidEvent(problem or "invalid event")


def _version_problem(obj: dict[str, Any]) -> str | None:
    if "v" not in obj:
        return "missing field 'v'"
    v = obj["v"]
    if type(v) is not int or v != VERSION:
        return f"unsupported version v={_describe(v)}, expected {VERSION}"
    return None


def _type_problem(
    obj: dict[str, Any], fields: tuple[tuple[str, tuple[tuple[type, ...], str]], ...], prefix: str
) -> str | None:
    for name, (kinds, expected) in fields:
        if name not in obj:
            return f"missing field '{prefix}{name}'"
        value = obj[name]
        if type(value) not in kinds:
            return f"field '{prefix}{name}' must be {expected}, got {_describe(value)}"
    return None


def _value_problem(obj: dict[str, Any]) -> str | None:
    """Check the values of an object whose fields all have the right types."""
    src = obj["src"]
    problems = (
        (obj["path"] not in PATHS, f"field 'path' must be 'legacy' or 'ring', got {obj['path']!r}"),
        (
            len(obj["sum"]) != 32 or bool(obj["sum"].strip(_HEX_DIGITS)),
            f"field 'sum' must be 32 lowercase hex chars, got {obj['sum'][:40]!r}",
        ),
        (src["p"] < 0, f"field 'src.p' must not be negative, got {src['p']}"),
        (
            src["p"] > MAX_PARTITION,
            f"field 'src.p' must be a partition number (at most {MAX_PARTITION}), got {src['p']}",
        ),
        (src["o"] < 0, f"field 'src.o' must not be negative, got {src['o']}"),
        (not math.isfinite(obj["at"]), f"field 'at' must be finite, got {obj['at']!r}"),
    )
    return next((message for failed, message in problems if failed), None)


def _describe(value: object) -> str:
    """Name a decoded JSON value for an error message, with a short excerpt of it."""
    if value is None or isinstance(value, bool):
        return orjson.dumps(value).decode()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
