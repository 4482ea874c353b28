"""The one error tree of canary, and the exit code each error maps to.

    CanaryError                       exit 1 unless a subclass says otherwise
    ├── ConfigError (ValueError)      exit 2: a config file or value is wrong
    ├── UsageError (ValueError)       exit 2: arguments that cannot work together
    ├── ServiceUnavailable (ConnectionError)
    │                                 exit 3: Kafka, MySQL or PostgreSQL did not answer
    ├── VerificationFailed            exit 1: divergence beyond the configured thresholds
    ├── InvalidEvent (ValueError)     a compare event that does not parse or validate
    ├── HandlerError (ValueError)     a source message the handler cannot turn into a row
    └── DeliveryError (RuntimeError)  exit 3: Kafka refused or lost a produced message

Foreign exceptions (confluent_kafka, psycopg, pymysql) are translated into this tree
once, at the adapter boundary, with ``raise ... from exc``.
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


class VerificationFailed(CanaryError):
    """The comparison found divergence beyond the configured thresholds."""

    exit_code = EXIT_FAILED


class InvalidEvent(CanaryError, ValueError):
    """A compare event that does not parse or does not satisfy schema version 1."""


class HandlerError(CanaryError, ValueError):
    """A source message that the handler cannot turn into a row."""


class DeliveryError(CanaryError, RuntimeError):
    """Kafka refused or lost a message that canary produced."""

    exit_code = EXIT_SERVICE
