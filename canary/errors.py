"""The one error tree of canary, and the exit code each error maps to.

    CanaryError                       exit 1 unless a subclass says otherwise
    ├── ConfigError (ValueError)      exit 2: a config file or value is wrong
    ├── UsageError (ValueError)       exit 2: arguments that cannot work together
    ├── ServiceUnavailable (ConnectionError)
    │   │                             exit 3: Kafka, MySQL or PostgreSQL did not answer
    │   ├── TransientFault            the service may come back (connection lost, server
    │   │                             down or restarting, deadlock, timeout): retry
    │   ├── OutageTooLong             a transient fault lasted longer than --max-outage
    │   └── ProtocolUnsupported       the broker does not speak the group protocol asked for
    ├── VerificationFailed            exit 1: divergence beyond the configured thresholds
    ├── InvalidEvent (ValueError)     a compare event that does not parse or validate
    ├── HandlerError (ValueError)     a source message the handler cannot turn into a row
    ├── RowRejected (ValueError)      a row the database refuses and always will (too
    │                                 long, out of range, a constraint): a dead letter
    ├── DeliveryError (RuntimeError)  exit 3: Kafka refused or lost a produced message
    ├── WorkerFailed                  a batch failed in a ring worker process (carries
    │                                 that error's message and exit code)
    ├── KeyOrderError                 a table's rows did not arrive in key order
    │   └── DuplicateKey              exit 2: two rows of one side are one key as compared
    │                                 (one UUID written in two ways)
    └── UnreadableValue               a row value the driver cannot turn into a Python value

Foreign exceptions (confluent_kafka, psycopg, pymysql) are translated into this tree
once, inside the adapters, with ``raise ... from exc``; the paths and the diffs only
ever see these types. The CLI turns any of them into its exit code in one place.
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SERVICE = 3


class CanaryError(Exception):
    """Root of every error canary raises on purpose."""

    exit_code: int = EXIT_FAILED


class ConfigError(CanaryError, ValueError):
    """A configuration file or value is wrong; the message names the file and key."""

    exit_code = EXIT_USAGE

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}")


class UsageError(CanaryError, ValueError):
    """Command-line arguments that cannot work together."""

    exit_code = EXIT_USAGE


class ServiceUnavailable(CanaryError, ConnectionError):
    """A service did not answer; the message names which one and where."""

    exit_code = EXIT_SERVICE

    def __init__(self, service: str, address: str, detail: str = "") -> None:
        self.service = service
        self.address = address
        self.detail = detail
        message = f"{service} is not reachable at {address}"
        if detail:
            message += f": {detail}"
        super().__init__(message)


class TransientFault(ServiceUnavailable):
    """The service failed in a way that passes: retrying the same work later succeeds.

    Raised for a lost connection, a server that is down or restarting, a deadlock or
    serialization failure, a timeout. Whatever was being written was rolled back.
    """


class OutageTooLong(ServiceUnavailable):
    """A transient fault outlasted the run's ``--max-outage``."""


class ProtocolUnsupported(ServiceUnavailable):
    """The broker does not speak the group protocol asked for (KIP-848 before Kafka 4)."""


class VerificationFailed(CanaryError):
    """The comparison found divergence beyond the configured thresholds."""

    exit_code = EXIT_FAILED


class InvalidEvent(CanaryError, ValueError):
    """A compare event that does not parse or does not satisfy schema version 1."""


class HandlerError(CanaryError, ValueError):
    """A source message that the handler cannot turn into a row."""


class RowRejected(CanaryError, ValueError):
    """The database refused a row and would refuse it again: the data, not the server,
    is at fault (too long for its column, out of range, a violated constraint).

    ``reason`` is the database's own message. Raised for a whole batch; the writer's
    caller isolates the row by writing smaller batches.
    """

    def __init__(self, service: str, reason: str) -> None:
        self.service = service
        self.reason = reason
        super().__init__(f"{service} refused the row: {reason}")


class DeliveryError(CanaryError, RuntimeError):
    """Kafka refused or lost a message that canary produced."""

    exit_code = EXIT_SERVICE


class WorkerFailed(CanaryError):
    """A batch failed in a ring worker process; carries that error's message and exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class KeyOrderError(CanaryError):
    """A side's rows did not arrive in strictly increasing key order (a collation or
    uniqueness assumption does not hold); comparing further would invent differences."""


class DuplicateKey(KeyOrderError):
    """Two rows of one side have one key as the diff compares keys (a UUID key stored as
    text in two spellings): their rows cannot be told apart, so the pair cannot be
    compared by that key."""

    exit_code = EXIT_USAGE


class UnreadableValue(CanaryError):
    """A row value the driver cannot turn into a Python value."""
