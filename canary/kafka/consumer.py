"""Consumer construction for both paths, the group member they drive (the
``ConsumerControl`` port), and translation of consumer errors.

While the broker is away, librdkafka reconnects by itself and ``consume`` returns
nothing; commits and offset queries that cannot reach it raise ``TransientFault``.
Only a fatal client error (a fenced static member, say) ends a run.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from canary.core.message import SourceMessage
from canary.errors import ProtocolUnsupported, ServiceUnavailable, TransientFault
from canary.kafka.client import SERVICE, base_config, describe

log = logging.getLogger(__name__)
Rebalance = Callable[[Consumer, list[TopicPartition]], None]
Partition = tuple[str, int]
QUERY_TIMEOUT_S = 10.0
# More rejoins than this within the window: the id is really someone else's.
MAX_REJOINS = 5
REJOIN_WINDOW_S = 60.0
# Errors of a commit or an offset query that pass once the broker or the group
# coordinator is back.
_TRANSIENT = (
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TIMED_OUT,
    KafkaError._WAIT_COORD,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.NETWORK_EXCEPTION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
)


class FatalErrors:
    """librdkafka's error callback: remembers the first fatal error (a fenced static
    member, say), which otherwise never reaches ``consume``."""

    def __init__(self) -> None:
        self.first: KafkaError | None = None

    def __call__(self, error: KafkaError) -> None:
        if (error.fatal() or error.code() == KafkaError._FATAL) and self.first is None:
            self.first = error

    def check(self, bootstrap: str) -> None:
        if self.first is None:
            return
        if self.first.code() in _UNSUPPORTED:
            raise ProtocolUnsupported(SERVICE, bootstrap, f"fatal: {self.first.str()}")
        raise ServiceUnavailable(SERVICE, bootstrap, f"fatal: {self.first.str()}")


_UNSUPPORTED = (KafkaError.UNSUPPORTED_VERSION, KafkaError._UNSUPPORTED_FEATURE)


def build(
    bootstrap: str,
    group: str,
    extra: dict[str, Any] | None = None,
    fatal: FatalErrors | None = None,
) -> Consumer:
    """A consumer that stores offsets only when told: nothing is committed before it is
    durable. A group with no committed position starts from the earliest offset."""
    callbacks = {"error_cb": fatal} if fatal is not None else {}
    return Consumer(
        {
            **base_config(bootstrap),
            **callbacks,
            "group.id": group,
            "enable.auto.offset.store": False,
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 1000,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            **(extra or {}),
        }
    )


# For readers of a whole topic (the diffs, the watchers). The local queue is counted
# per partition, so a large one costs its size times the partitions. A small one keeps a
# reader fed only if the fetcher refills it at once: by default it backs off 1 s each
# time the queue is full, which left a reader waiting at a quarter of its rate.
# Measured on 20 M compare events: these read 207,000 events/s at 62 MB of RSS, where
# 4 MiB fetches and a 16 MiB queue read 208,000 at 140 MB.
BULK_READ: dict[str, Any] = {
    "max.partition.fetch.bytes": 1 << 20,
    "fetch.max.bytes": 8 << 20,
    "queued.max.messages.kbytes": 2 << 10,
    "fetch.queue.backoff.ms": 5,
}


def classic_settings(strategy: str, session_timeout_ms: int = 10_000) -> dict[str, Any]:
    return {
        "group.protocol": "classic",
        "partition.assignment.strategy": strategy,
        "session.timeout.ms": session_timeout_ms,
        "heartbeat.interval.ms": max(500, session_timeout_ms // 5),
    }


def consume(consumer: Consumer, bootstrap: str, count: int, timeout: float) -> list[Message]:
    """Up to ``count`` good messages, as soon as there is at least one.

    librdkafka's batch call waits until it has ``count`` messages or the timeout passes,
    which under a light load adds the whole timeout to every record's latency. So: take
    what is already fetched; if nothing is, wait for one message, then take the rest
    that is ready. Fatal errors raise; transient ones are skipped.
    """
    try:
        batch: list[Message] = consumer.consume(num_messages=count, timeout=0)
        if not batch:
            batch = consumer.consume(num_messages=1, timeout=timeout)
            if batch and count > 1:
                batch += consumer.consume(num_messages=count - 1, timeout=0)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and not error.fatal():
            return []  # librdkafka retries by itself; the next call may have messages
        raise ServiceUnavailable(SERVICE, bootstrap, describe(exc)) from exc
    if any(message.error() is not None for message in batch):
        return [message for message in batch if _usable(message, bootstrap)]
    return batch


def _usable(message: Message, bootstrap: str) -> bool:
    error = message.error()
    if error is None:
        return True
    # librdkafka hands a fatal error over as a message whose code is _FATAL (and whose
    # fatal() may still say False).
    if error.fatal() or error.code() == KafkaError._FATAL:
        raise ServiceUnavailable(SERVICE, bootstrap, error.str())
    # Transient (a topic not created yet, a partition moving): librdkafka retries itself.
    return False


def store(consumer: Consumer, committable: dict[tuple[str, int], int]) -> None:
    """Store the committable offsets; the next (auto or explicit) commit sends them."""
    if committable:
        offsets = [TopicPartition(t, p, o) for (t, p), o in committable.items()]
        try:
            consumer.store_offsets(offsets=offsets)
        except KafkaException as exc:
            # A partition revoked a moment ago cannot be stored; its new owner resumes
            # from the last commit, which is never ahead of durable work.
            error = exc.args[0] if exc.args else None
            if not isinstance(error, KafkaError) or error.code() != KafkaError._STATE:
                raise


def commit(consumer: Consumer, offsets: Sequence[TopicPartition] | None = None) -> None:
    """Commit ``offsets`` (or the stored ones) synchronously; nothing to commit is fine."""
    try:
        if offsets is None:
            consumer.commit(asynchronous=False)
        elif offsets:
            consumer.commit(offsets=list(offsets), asynchronous=False)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() in (
            KafkaError._NO_OFFSET,
            KafkaError.UNKNOWN_MEMBER_ID,
            KafkaError.ILLEGAL_GENERATION,
            KafkaError.REBALANCE_IN_PROGRESS,
            KafkaError._STATE,
        ):
            return  # nothing to commit, or the partitions moved on: their owner commits
        if isinstance(error, KafkaError) and error.code() in _TRANSIENT:
            raise TransientFault(SERVICE, "the group coordinator", describe(exc)) from exc
        # Not committing loses no data (the work is durable; it is re-read), but the run
        # must say the group is unusable rather than end in a traceback.
        raise ServiceUnavailable(SERVICE, "the group coordinator", describe(exc)) from exc


class Listener(Protocol):
    """canary.paths.ports.RebalanceListener, restated so this adapter needs no path."""

    def on_assign(self, partitions: list[Partition]) -> Mapping[Partition, int]: ...
    def on_revoke(self, partitions: list[Partition]) -> None: ...
    def on_lost(self, partitions: list[Partition]) -> None: ...


class GroupConsumer:
    """A member of ``group`` (canary.paths.ports.ConsumerControl) over librdkafka.

    A static member can be fenced by *itself*: after a broker restart librdkafka rejoins
    under the same ``group.instance.id`` with a new member id, and a request still made
    under the old one is refused as "fenced by another consumer with the same
    group.instance.id", which librdkafka treats as fatal. The id belongs to this process
    alone (``canary.paths.membership`` holds it with a lock), so the fencer can only be
    an earlier session of this member: the adapter hands the partitions in hand to
    ``on_lost``, builds a new client and joins again, and the run goes on.
    """

    def __init__(self, bootstrap: str, group: str, extra: dict[str, Any]) -> None:
        self._bootstrap = bootstrap
        self._group = group
        self._extra = extra
        self._static = bool(extra.get("group.instance.id"))
        self._incremental = extra.get("group.protocol") == "consumer" or (
            extra.get("partition.assignment.strategy") == "cooperative-sticky"
        )
        self._topic = ""
        self._listener: Listener | None = None
        self._owned: set[Partition] = set()
        self._fatal_seen = False
        self._rejoins: list[float] = []
        self._admin: AdminClient | None = None
        self._fatal = FatalErrors()
        self._consumer = build(bootstrap, group, extra, self._fatal)

    def subscribe(self, topic: str, listener: Listener) -> None:
        self._topic, self._listener = topic, listener
        self._subscribe()

    def _subscribe(self) -> None:
        listener = self._listener
        assert listener is not None
        owned = self._owned

        def on_assign(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            named = [(tp.topic, tp.partition) for tp in partitions]
            positions = listener.on_assign(named)
            owned.update(named)
            for tp in partitions:
                position = positions.get((tp.topic, tp.partition))
                if position is not None:
                    tp.offset = position
            if self._incremental:
                consumer.incremental_assign(partitions)
            else:
                consumer.assign(partitions)

        def on_revoke(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            named = [(tp.topic, tp.partition) for tp in partitions]
            listener.on_revoke(named)
            owned.difference_update(named)
            if self._incremental:
                consumer.incremental_unassign(partitions)
            else:
                consumer.unassign()

        def on_lost(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            named = [(tp.topic, tp.partition) for tp in partitions]
            listener.on_lost(named)
            owned.difference_update(named)

        self._consumer.subscribe(
            [self._topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost
        )

    def _fenced(self) -> bool:
        """A static member whose client hit a fatal error: for a consumer that is the
        fencing of its instance id (the error itself does not always reach error_cb)."""
        first = self._fatal.first
        if first is not None and (
            first.code() == KafkaError.FENCED_INSTANCE_ID or "fenced" in first.str().lower()
        ):
            self._fatal_seen = True
        return self._static and self._fatal_seen

    def _note_fatal(self, detail: str) -> None:
        if "fatal" in detail.lower() or "fenced" in detail.lower():
            self._fatal_seen = True

    def _rejoin(self) -> None:
        log.warning(
            "%s: this member was fenced by an earlier session of itself (%s); "
            "joining again with a new client",
            self._group,
            self._fatal.first.str() if self._fatal.first else "fenced",
        )
        if self._listener is not None and self._owned:
            self._listener.on_lost(sorted(self._owned))
        self._owned.clear()
        now = time.monotonic()
        self._rejoins = [t for t in self._rejoins if now - t < REJOIN_WINDOW_S] + [now]
        if len(self._rejoins) > MAX_REJOINS:
            raise ServiceUnavailable(
                SERVICE,
                self._bootstrap,
                f"fenced {len(self._rejoins)} times in {REJOIN_WINDOW_S:g} s: another "
                f"consumer of group {self._group} uses group.instance.id "
                f"{self._extra.get('group.instance.id')}; give each member its own",
            )
        with contextlib.suppress(KafkaException, RuntimeError):
            self._consumer.close()
        self._fatal_seen = False
        self._fatal = FatalErrors()
        self._consumer = build(self._bootstrap, self._group, self._extra, self._fatal)
        self._subscribe()

    def consume(self, count: int, timeout: float) -> list[SourceMessage]:
        if self._fenced():
            self._rejoin()
            return []
        self._fatal.check(self._bootstrap)
        try:
            return list(consume(self._consumer, self._bootstrap, count, timeout))
        except ServiceUnavailable as exc:
            if exc.service != SERVICE:
                raise  # a database error from inside a rebalance callback
            self._note_fatal(exc.detail)
            if self._fenced():
                self._rejoin()
                return []
            raise

    def pause(self, partitions: Sequence[Partition]) -> None:
        if partitions:
            self._consumer.pause([TopicPartition(t, p) for t, p in partitions])

    def resume(self, partitions: Sequence[Partition]) -> None:
        if partitions:
            self._consumer.resume([TopicPartition(t, p) for t, p in partitions])

    def store(self, committable: Mapping[Partition, int]) -> None:
        try:
            store(self._consumer, dict(committable))
        except KafkaException as exc:
            self._note_fatal(str(exc))
            if not self._fenced():
                raise  # else: the next consume joins again, and storing resumes then

    def commit(self, offsets: Mapping[Partition, int] | None = None) -> None:
        try:
            if offsets is None:
                commit(self._consumer)
            else:
                commit(self._consumer, [TopicPartition(t, p, o) for (t, p), o in offsets.items()])
        except ServiceUnavailable as exc:
            self._note_fatal(exc.detail)
            if self._fenced():
                # The next consume joins again; until then nothing can be committed.
                raise TransientFault(SERVICE, self._bootstrap, exc.detail) from exc
            raise

    def _spans(self, partitions: list[Partition]) -> dict[Partition, tuple[int, int]]:
        """(earliest, end) of each partition, in two requests on an admin connection of
        its own: the consumer's connection may sit in a fetch long-poll for up to half a
        second per query."""
        if self._admin is None:
            self._admin = AdminClient(base_config(self._bootstrap))
        found: dict[Partition, list[int]] = {p: [0, 0] for p in partitions}
        try:
            specs = (OffsetSpec.earliest(), OffsetSpec.latest())  # type: ignore[no-untyped-call]
            for index, spec in enumerate(specs):
                futures = self._admin.list_offsets(
                    {TopicPartition(*p): spec for p in partitions},
                    request_timeout=QUERY_TIMEOUT_S,
                )
                for tp, future in futures.items():
                    found[(tp.topic, tp.partition)][index] = int(future.result().offset)
        except KafkaException as exc:
            raise TransientFault(SERVICE, self._bootstrap, describe(exc)) from exc
        return {p: (low, high) for p, (low, high) in found.items()}

    def end_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, tuple[int, int]]:
        return self._spans(list(partitions))

    def positions(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        """The next offset ``consume`` returns of each partition, where known."""
        if not partitions:
            return {}
        try:
            found = self._consumer.position([TopicPartition(t, p) for t, p in partitions])
        except KafkaException as exc:
            raise TransientFault(SERVICE, self._bootstrap, describe(exc)) from exc
        return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset >= 0}

    def lag(self, topic: str) -> dict[Partition, int]:
        try:
            metadata = self._consumer.list_topics(topic, timeout=QUERY_TIMEOUT_S)
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                raise TransientFault(SERVICE, self._bootstrap, f"no metadata for {topic}")
            partitions = [TopicPartition(topic, p) for p in sorted(found.partitions)]
            committed = self._consumer.committed(partitions, timeout=QUERY_TIMEOUT_S)
        except KafkaException as exc:
            raise TransientFault(SERVICE, self._bootstrap, describe(exc)) from exc
        spans = self._spans([(tp.topic, tp.partition) for tp in committed])
        lag: dict[Partition, int] = {}
        for tp in committed:
            low, high = spans[(tp.topic, tp.partition)]
            position = tp.offset if tp.offset >= 0 else low
            # Beyond the end (a topic created again) or before the start (retention):
            # the commit says nothing about what is left to read.
            if position > high or position < low:
                position = low
            lag[(tp.topic, tp.partition)] = high - position
        return lag

    def cached_lag(self, positions: Mapping[Partition, int]) -> dict[Partition, int]:
        lag: dict[Partition, int] = {}
        for (topic, partition), position in positions.items():
            try:
                _, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                continue
            if high >= 0:
                lag[(topic, partition)] = max(0, int(high) - position)
        return lag

    def close(self) -> None:
        # A client that hit a fatal error may refuse to close cleanly; it is gone anyway.
        with contextlib.suppress(KafkaException, RuntimeError):
            self._consumer.close()
