"""The ring path's local checkpoint: round trip, atomic replacement, unreadable files."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from canary.paths import checkpoint
from canary.paths.checkpoint import Checkpoint


def _sample(**changes: object) -> Checkpoint:
    fields: dict[str, object] = {
        "group": "canary-ring",
        "topic": "orders",
        "offsets": {0: 120, 3: 7, 11: 0},
        "counters": {"messages": 127, "rows": 125, "dead_lettered": 2},
    }
    fields.update(changes)
    return Checkpoint(**fields)  # type: ignore[arg-type]


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folder" / "ring.checkpoint.json"
    written = _sample()
    checkpoint.write(path, written)

    read = checkpoint.read(path)

    assert read is not None
    assert read.group == "canary-ring"
    assert read.topic == "orders"
    assert read.offsets == {0: 120, 3: 7, 11: 0}
    assert read.counters == {"messages": 127, "rows": 125, "dead_lettered": 2}
    assert written.written_at > 0
    assert read.written_at == pytest.approx(written.written_at)
    assert read == written
    assert [p.name for p in path.parent.iterdir()] == [path.name], "a temporary file was left"


def test_a_second_write_replaces_the_first(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    checkpoint.write(path, _sample())
    checkpoint.write(path, _sample(offsets={1: 5}, counters={}))
    read = checkpoint.read(path)
    assert read is not None
    assert read.offsets == {1: 5}
    assert read.counters == {}
    assert [p.name for p in tmp_path.iterdir()] == ["cp.json"]


def test_a_failing_replace_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cp.json"
    checkpoint.write(path, _sample())
    before = path.read_bytes()

    def broken_replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        checkpoint.write(path, _sample(offsets={0: 999_999}))
    monkeypatch.undo()

    assert path.read_bytes() == before
    read = checkpoint.read(path)
    assert read is not None
    assert read.offsets == {0: 120, 3: 7, 11: 0}
    assert [p.name for p in tmp_path.iterdir()] == ["cp.json"], "the temporary file was left"


def test_a_failing_write_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash while the new body is being written (here: fsync fails) never touches the
    previous snapshot."""
    path = tmp_path / "cp.json"
    checkpoint.write(path, _sample())
    before = path.read_bytes()

    def broken_fsync(_fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output"):
        checkpoint.write(path, _sample(offsets={0: 1}))
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cp.json"]


def test_a_missing_file_reads_as_none(tmp_path: Path) -> None:
    assert checkpoint.read(tmp_path / "absent.json") is None


def test_a_folder_reads_as_none(tmp_path: Path) -> None:
    assert checkpoint.read(tmp_path) is None


_VALID = orjson.loads(
    b'{"group":"g","topic":"t","offsets":{"0":1},"counters":{"rows":1},"written_at":1.5}'
)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"{not json",
        b'{"group":"g","topic":"t","offs',  # a torn write
        b"[]",
        b"null",
        b"42",
        b'"a string"',
        orjson.dumps({k: v for k, v in _VALID.items() if k != "offsets"}),
        orjson.dumps({k: v for k, v in _VALID.items() if k != "group"}),
        orjson.dumps({**_VALID, "offsets": [1, 2]}),
        orjson.dumps({**_VALID, "offsets": {"zero": 1}}),
        orjson.dumps({**_VALID, "offsets": {"0": "many"}}),
        orjson.dumps({**_VALID, "offsets": {"0": None}}),
        orjson.dumps({**_VALID, "counters": None}),
        orjson.dumps({**_VALID, "written_at": "yesterday"}),
        orjson.dumps({**_VALID, "written_at": None}),
    ],
)
def test_an_unreadable_file_reads_as_none(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "cp.json"
    path.write_bytes(body)
    assert checkpoint.read(path) is None


def test_the_valid_sample_body_reads(tmp_path: Path) -> None:
    """The malformed cases above differ from this one body only in what they break."""
    path = tmp_path / "cp.json"
    path.write_bytes(orjson.dumps(_VALID))
    assert checkpoint.read(path) == Checkpoint("g", "t", {0: 1}, {"rows": 1}, 1.5)


def test_an_unreadable_file_is_overwritten_by_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    path.write_bytes(b"\x00garbage")
    written = _sample()
    checkpoint.write(path, written)
    assert checkpoint.read(path) == written
