"""Alert delivery: retried until the receiver takes it, never blocking the sender."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import orjson

from canary.diff.alerts import AlertSender


class Receiver(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    bodies: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.answers.pop(0) if self.answers else 200
        if status == 200:
            self.bodies.append(orjson.loads(body))
        self.send_response(status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(answers: list[int]) -> tuple[HTTPServer, str]:
    Receiver.answers, Receiver.bodies = list(answers), []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/hook"


def test_a_failing_receiver_is_retried_until_it_takes_the_alert() -> None:
    server, url = serve([500, 503])
    outcomes: list[bool] = []
    sender = AlertSender(url, outcomes.append, sleep=lambda _: None)
    sender.send({"kind": "canary.alert", "state": "fail"})
    sender.close()
    server.shutdown()
    assert Receiver.bodies == [{"kind": "canary.alert", "state": "fail"}]
    assert outcomes == [True]
    assert (sender.sent, sender.failed) == (1, 0)


def test_a_receiver_that_never_answers_well_is_counted_and_never_blocks() -> None:
    server, url = serve([500] * 10)
    outcomes: list[bool] = []
    sender = AlertSender(url, outcomes.append, attempts=3, sleep=lambda _: None)
    started = time.monotonic()
    for _ in range(3):
        sender.send({"kind": "canary.alert"})
    queued_in = time.monotonic() - started
    sender.close()
    server.shutdown()
    assert queued_in < 0.1
    assert outcomes == [False, False, False]
    assert Receiver.bodies == []


def test_an_unreachable_receiver_fails_without_an_exception() -> None:
    outcomes: list[bool] = []
    sender = AlertSender(
        "http://127.0.0.1:9/none", outcomes.append, attempts=2, timeout_s=1, sleep=lambda _: None
    )
    sender.send({"kind": "canary.alert"})
    sender.close()
    assert outcomes == [False]
