"""Everything a path publishes after its database commit: compare events and dead letters.

Each message is produced with a callback that fires once Kafka has acknowledged it; only
then is the source message complete and its offset committable. A broker that is away is
waited for (the producer's messages never time out: the path's ``--max-outage`` decides
how long is too long). A message Kafka refuses is remembered as ``failure``, and the path
stops rather than commit past it — except a dead letter too large for its topic, which
goes again as a marker: its coordinate, the reason, its size and its headers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import orjson
from confluent_kafka import KafkaError, KafkaException, Message

from canary.core.events import PATHS, PathName, SourceCoord, encode_trusted
from canary.core.message import SourceMessage
from canary.errors import DeliveryError
from canary.kafka.producer import CheckedProducer

Done = Callable[[], None]
# Below the producer's and the broker's default limits (1,000,000 / 1,048,588 bytes),
# with room for the headers.
MAX_DEAD_LETTER_BYTES = 900_000
_TOO_LARGE = (KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE)


def producer(bootstrap: str) -> CheckedProducer:
    """A producer for a path, patient with a broker that is away. Its queue is bounded
    (64 MiB), so during a long outage producing blocks, the batches in hand wait, and
    the path's memory stays bounded instead of queueing without end.

    Not idempotent: an idempotent producer must win its producer id back from the
    transaction coordinator after a broker restart, and was seen to stall there with
    every compare event held. The diff needs neither their order nor their uniqueness
    (a repeated event is counted as a duplicate), only that each one arrives.
    """
    return CheckedProducer(
        bootstrap,
        linger_ms=2,
        idempotent=False,
        extra={
            "message.timeout.ms": 0,
            "queue.buffering.max.kbytes": 65_536,
            "queue.buffering.max.messages": 200_000,
        },
    )


class KafkaPublisher:
    """Publishes compare events and dead letters for one path of one run
    (canary.paths.ports.Publisher)."""

    def __init__(
        self,
        producer: CheckedProducer,
        *,
        run_id: str,
        path: PathName,
        compare_topic: str,
        dlq_topic: str,
        max_dead_letter_bytes: int = MAX_DEAD_LETTER_BYTES,
    ) -> None:
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        self._producer = producer
        self._run = run_id
        self._path: PathName = path
        self._compare_topic = compare_topic
        self._dlq_topic = dlq_topic
        self._max_dead_letter = max_dead_letter_bytes
        self.failure: str | None = None
        # Ring workers dead-letter from several threads at once.
        self._lock = threading.Lock()
        self.dead_lettered = 0

    def _callback(
        self, done: Done, too_large: Callable[[], None] | None = None
    ) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is None:
                done()
            elif too_large is not None and error.code() in _TOO_LARGE:
                too_large()
            elif self.failure is None:
                self.failure = f"{message.topic()}: {error.str()}"

        return on_delivery

    def compare(self, key: str, src: SourceCoord, checksum: str, at_ms: float, done: Done) -> None:
        value = encode_trusted(self._run, self._path, key, src, checksum, at_ms)
        self._producer.produce(
            self._compare_topic,
            value,
            key=key.encode(),
            on_delivery=self._callback(done),
        )

    def dead_letter(
        self, message: SourceMessage, reason: str, error: BaseException, done: Done
    ) -> None:
        headers = [
            ("canary.reason", reason[:4000].encode()),
            ("canary.error", type(error).__name__.encode()),
            ("canary.src.topic", (message.topic() or "").encode()),
            ("canary.src.partition", str(message.partition()).encode()),
            ("canary.src.offset", str(message.offset()).encode()),
            ("canary.path", self._path.encode()),
            ("canary.run", self._run.encode()),
        ]
        key, value = message.key(), message.value()
        size = len(key or b"") + len(value or b"")
        every = [*headers, *_source_headers(message)]
        with self._lock:
            self.dead_lettered += 1
        # librdkafka counts the headers against the limit too.
        if size + sum(len(n) + len(v) for n, v in every) > self._max_dead_letter:
            self._marker(message, headers, size, done)
            return
        try:
            self._producer.produce(
                self._dlq_topic,
                value,
                key=key,
                headers=every,
                on_delivery=self._callback(
                    done, lambda: self._marker(message, headers, size, done)
                ),
            )
        except KafkaException as exc:
            refused = exc.args[0] if exc.args else None
            if not isinstance(refused, KafkaError) or refused.code() not in _TOO_LARGE:
                raise DeliveryError(f"{self._dlq_topic}: {exc}") from exc
            self._marker(message, headers, size, done)

    def _marker(
        self, message: SourceMessage, headers: list[tuple[str, bytes]], size: int, done: Done
    ) -> None:
        """The dead letter without its body, for a message the topic cannot hold."""
        body = orjson.dumps(
            {
                "canary.marker": "body too large for the dead-letter topic",
                "size": size,
                "src": {"t": message.topic(), "p": message.partition(), "o": message.offset()},
                "headers": [
                    [name[:256], value[:1024].decode("utf-8", "replace")]
                    for name, value in _source_headers(message)
                ][:100],
            }
        )
        self._producer.produce(
            self._dlq_topic,
            body,
            key=(message.key() or b"")[:1024] or None,
            headers=[
                *headers,
                ("canary.marker", b"too-large"),
                ("canary.size", str(size).encode()),
            ],
            on_delivery=self._callback(done),
        )

    def serve(self, timeout: float = 0) -> None:
        """Run delivery callbacks that are due."""
        self._producer.poll(timeout)

    def drain(self, timeout: float = 60.0) -> int:
        """Wait until everything queued is acknowledged (or failed); returns how many
        messages are still waiting for a broker after ``timeout``."""
        return self._producer.flush_quietly(timeout)


def _source_headers(message: SourceMessage) -> list[tuple[str, bytes]]:
    headers = getattr(message, "headers", None)
    found = headers() if callable(headers) else None
    return [(str(name), bytes(value or b"")) for name, value in found or []][:100]
