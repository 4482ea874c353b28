"""Connections for long-running writers: a server that cannot be reached now is a
TransientFault (the caller waits and retries), never a crash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from canary.errors import ServiceUnavailable, TransientFault

C = TypeVar("C")


class Reconnecting(Generic[C]):
    """Calls ``open`` for each new connection; its ServiceUnavailable becomes transient."""

    def __init__(self, service: str, address: str, open_connection: Callable[[], C]) -> None:
        self.service = service
        self.address = address
        self._open = open_connection

    def __call__(self) -> C:
        try:
            return self._open()
        except ServiceUnavailable as exc:
            raise TransientFault(self.service, self.address, exc.detail) from exc
