"""What each path has done in a drill, read from its compare events as they arrive.

The compare event (CONTRACTS §4) is published once a row is durably committed, and its
``at`` is the commit time in epoch milliseconds: the drill's clock for progress, read
from the public contract rather than from either path's internals. The tally also counts
distinct source coordinates and redeliveries per path on its own, independently of
``canary diff stream``.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PATHS = ("legacy", "ring")


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"chaos-read-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "log_level": 2,
        }
    )


def ensure_topics(bootstrap: str, topics: dict[str, int], timeout: float = 60.0) -> None:
    """Create each topic with its partition count (replication 1); existing ones stay."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2})
    futures = admin.create_topics(
        [NewTopic(name, partitions, 1) for name, partitions in topics.items()],
        request_timeout=timeout,
    )
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not isinstance(error, KafkaError) or error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"creating topic {name} on {bootstrap}: {exc}") from exc


def delete_topics(bootstrap: str, topics: list[str], timeout: float = 30.0) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2})
    for future in admin.delete_topics(topics, request_timeout=timeout).values():
        future.result(timeout=timeout)


def high_watermarks(bootstrap: str, topic: str, timeout: float = 30.0) -> dict[int, int]:
    """Each partition's high watermark: the offset the next message will get."""
    consumer = _consumer(bootstrap)
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
        if metadata.error is not None:
            raise RuntimeError(f"topic {topic} on {bootstrap}: {metadata.error}")
        return {
            partition: consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout
            )[1]
            for partition in metadata.partitions
        }
    finally:
        consumer.close()


def published(bootstrap: str, topic: str) -> int:
    """Messages in ``topic`` (a fresh topic: every partition starts at offset 0)."""
    return sum(high_watermarks(bootstrap, topic).values())


Parsed = tuple[str, str, str, int, int, float]  # run, path, topic, partition, offset, at (s)


def _parse(value: bytes | None) -> Parsed | None:
    """The fields the drill reads from a version-1 compare event, or None."""
    try:
        event: Any = orjson.loads(value or b"")
        if event["v"] != 1:
            return None
        src = event["src"]
        return (
            str(event["run"]),
            str(event["path"]),
            str(src["t"]),
            int(src["p"]),
            int(src["o"]),
            float(event["at"]) / 1000.0,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


class _PathTally:
    """Distinct coordinates of one path: one byte per offset of each source partition."""

    def __init__(self) -> None:
        self.seen: dict[int, bytearray] = {}
        self.distinct = 0
        self.duplicates = 0
        self.at: list[float] = []  # commit times, epoch seconds, in arrival order
        self.last_at = 0.0

    def add(self, partition: int, offset: int, at: float) -> None:
        marks = self.seen.setdefault(partition, bytearray())
        if offset >= len(marks):
            marks.extend(bytes(max(offset + 1 - len(marks), len(marks))))
        if marks[offset]:
            self.duplicates += 1
        else:
            marks[offset] = 1
            self.distinct += 1
        self.at.append(at)
        self.last_at = max(self.last_at, at)


class CompareTally:
    """Tails a run's compare topic from the beginning in a thread until ``stop``."""

    def __init__(self, bootstrap: str, compare_topic: str, run_id: str, source_topic: str):
        self.bootstrap = bootstrap
        self.compare_topic = compare_topic
        self.run_id = run_id
        self.source_topic = source_topic
        self.foreign = 0  # events that parse but name another run, topic or path
        self.invalid = 0  # events that do not parse as version 1
        self._paths = {path: _PathTally() for path in PATHS}
        self._next: dict[int, int] = {}  # per compare partition: next offset to read
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="compare-tally", daemon=True)

    def start(self) -> CompareTally:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(30)

    # --- reading -------------------------------------------------------------------------

    def _run(self) -> None:
        consumer = _consumer(self.bootstrap)
        try:
            metadata = consumer.list_topics(self.compare_topic, timeout=30).topics
            partitions = sorted(metadata[self.compare_topic].partitions)
            consumer.assign(
                [TopicPartition(self.compare_topic, p, OFFSET_BEGINNING) for p in partitions]
            )
            while not self._stopping.is_set():
                for message in consumer.consume(num_messages=1000, timeout=0.2):
                    error = message.error()
                    if error is not None:
                        if error.fatal():
                            raise KafkaException(error)
                        continue  # transient, e.g. the broker restarting: librdkafka retries
                    self._take(message.partition() or 0, message.offset() or 0, message.value())
        except BaseException as exc:  # noqa: BLE001 - handed to the drill's thread by check()
            self._failure = exc
        finally:
            consumer.close()

    def _take(self, partition: int, offset: int, value: bytes | None) -> None:
        event = _parse(value)
        with self._lock:
            self._next[partition] = offset + 1
            if event is None:
                self.invalid += 1
                return
            run, path, topic, source_partition, source_offset, commit = event
            if run != self.run_id or path not in PATHS or topic != self.source_topic:
                self.foreign += 1
            else:
                self._paths[path].add(source_partition, source_offset, commit)

    def check(self) -> None:
        if self._failure is not None:
            raise RuntimeError(f"reading {self.compare_topic} failed") from self._failure

    # --- what the drill asks -------------------------------------------------------------

    def distinct(self, path: str) -> int:
        with self._lock:
            return self._paths[path].distinct

    def duplicates(self, path: str) -> int:
        with self._lock:
            return self._paths[path].duplicates

    def last_at(self, path: str) -> float:
        """The latest commit time (epoch seconds) of the path's events so far; 0 for none."""
        with self._lock:
            return self._paths[path].last_at

    def first_after(self, path: str, moment: float) -> float | None:
        """The earliest commit time after ``moment`` (epoch seconds), or None."""
        with self._lock:
            later = [at for at in self._paths[path].at if at > moment]
        return min(later) if later else None

    def catch_up(self, timeout: float = 60.0) -> None:
        """Return once everything now in the compare topic has been read."""
        highs = high_watermarks(self.bootstrap, self.compare_topic)
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            with self._lock:
                behind = {p: h for p, h in highs.items() if h > self._next.get(p, 0)}
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.compare_topic}: not read up to {behind} after {timeout:.0f} s"
                )
            time.sleep(0.1)
