"""Everything a path publishes after its database commit: compare events and dead letters.

Each message is produced with a callback that fires once Kafka has acknowledged it; only
then is the source message complete and its offset committable. A message Kafka refuses
is remembered as ``failure``, and the path stops rather than commit past it.
"""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import KafkaError, Message

from canary.core.events import PATHS, PathName, SourceCoord, encode_trusted
from canary.core.message import SourceMessage
from canary.kafka.producer import CheckedProducer

Done = Callable[[], None]


class Outbox:
    """Publishes compare events and dead letters for one path of one run."""

    def __init__(
        self,
        producer: CheckedProducer,
        *,
        run_id: str,
        path: PathName,
        compare_topic: str,
        dlq_topic: str,
    ) -> None:
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        self._producer = producer
        self._run = run_id
        self._path: PathName = path
        self._compare_topic = compare_topic
        self._dlq_topic = dlq_topic
        self.failure: str | None = None
        self.published = 0
        self.dead_lettered = 0

    def _callback(self, done: Done) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is None:
                done()
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
        self.published += 1

    def dead_letter(
        self, message: SourceMessage, reason: str, error: BaseException, done: Done
    ) -> None:
        headers = [
            ("canary.reason", reason.encode()),
            ("canary.error", type(error).__name__.encode()),
            ("canary.src.topic", (message.topic() or "").encode()),
            ("canary.src.partition", str(message.partition()).encode()),
            ("canary.src.offset", str(message.offset()).encode()),
            ("canary.path", self._path.encode()),
            ("canary.run", self._run.encode()),
        ]
        self._producer.produce(
            self._dlq_topic,
            message.value(),
            key=message.key(),
            headers=headers,
            on_delivery=self._callback(done),
        )
        self.dead_lettered += 1

    def serve(self, timeout: float = 0) -> None:
        """Run delivery callbacks that are due."""
        self._producer.poll(timeout)

    def drain(self, timeout: float = 60.0) -> None:
        """Wait until everything queued is acknowledged (or failed)."""
        self._producer.flush(timeout)
