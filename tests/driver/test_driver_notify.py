"""Notifier against a real HTTP receiver on loopback: order, retries, hangs, no blocking."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from backends.base import Event
from console.driver.notify import Notifier
from tests.support.waits import eventually
from tests.support.webhook import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def _ev(kind: str, msg: str = "") -> Event:
    return Event(at=time.time(), service="courses", kind=kind, message=msg or kind)


def test_notified_events_arrive_in_order_as_slack_json(receiver: Receiver) -> None:
    n = Notifier([receiver.url], timeout=2.0)
    try:
        for kind in ["started", "analysis", "weight", "health", "pause", "breach", "rollback"]:
            n.send(_ev(kind, f"{kind} happened"))
    finally:
        n.close(wait=10)
    assert receiver.kinds() == ["started", "weight", "pause", "breach", "rollback"]
    first = receiver.bodies[0]
    assert first["text"] == "rollout courses: started: started happened"
    assert n.drain_failures() == []
    assert n.sent == 5


def test_receiver_returning_500_is_retried_then_reported(receiver: Receiver) -> None:
    receiver.status = 500
    n = Notifier([receiver.url], timeout=2.0, retries=2, backoff=0.01)
    n.send(_ev("completed"))
    assert eventually(lambda: receiver.attempts >= 3)
    failures: list[Event] = []
    assert eventually(lambda: bool(failures.extend(n.drain_failures()) or failures))
    n.close(wait=5)
    assert receiver.attempts == 3
    assert [f.kind for f in failures] == ["notify-failed"]
    assert "HTTP 500 after 3 attempts" in failures[0].message
    assert "SECRET" not in failures[0].message  # webhook paths are secrets


def test_hanging_receiver_never_blocks_send(receiver: Receiver) -> None:
    receiver.hang = True
    n = Notifier([receiver.url], timeout=0.3, retries=1, backoff=0.01, queue_size=2)
    n.send(_ev("started"))
    assert eventually(receiver.entered.is_set)
    # The receiver is still holding the first request; sends return without waiting and
    # overflow of the bounded queue is dropped and reported, not queued forever.
    for _ in range(5):
        n.send(_ev("weight"))
    assert not receiver.release.is_set()
    failures: list[Event] = []
    assert eventually(
        lambda: (
            bool(failures.extend(n.drain_failures()))
            or any("ReadTimeout" in f.message for f in failures)
        )
    )
    receiver.release.set()
    n.close(wait=5)
    failures.extend(n.drain_failures())
    assert all(f.kind == "notify-failed" for f in failures)
    assert any("queue full" in f.message for f in failures)
    assert any("started not delivered: ReadTimeout" in f.message for f in failures)


def test_unreachable_webhook_becomes_a_failure_event() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now
    n = Notifier([f"http://127.0.0.1:{port}/x"], timeout=0.5, retries=0)
    n.send(_ev("rollback"))
    failures: list[Event] = []
    assert eventually(lambda: bool(failures.extend(n.drain_failures()) or failures))
    n.close(wait=2)
    assert "rollback not delivered: ConnectError" in failures[0].message


def test_a_bad_webhook_does_not_hold_up_the_healthy_one(receiver: Receiver) -> None:
    import socket

    hanging, failing = Receiver(), Receiver()
    hanging.hang = True
    failing.status = 500
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}/hooks/dead"
    s.close()
    urls = [receiver.url, hanging.url, failing.url, dead]
    n = Notifier(urls, timeout=1.0, retries=1, backoff=0.01)
    kinds = ["started", "weight", "pause", "weight", "completed"]
    try:
        for kind in kinds:
            n.send(_ev(kind))
        # The healthy receiver gets every event while the hanging one still holds the first.
        assert eventually(lambda: len(receiver.bodies) == len(kinds), timeout=5)
        assert not hanging.release.is_set()
    finally:
        n.close(wait=1)
        hanging.close()
        failing.close()
    assert receiver.kinds() == kinds
    failures = n.drain_failures()
    assert not any(f"#1 ({receiver.url.rsplit('/', 1)[0]}/…)" in f.message for f in failures)
    # Failure lines tell the webhooks apart by number and path, with the last segment hidden.
    port = failing.url.split(":")[2].split("/")[0]
    assert any(
        f"webhook #3 (http://127.0.0.1:{port}/hooks/T000/…): started not delivered: HTTP 500"
        in f.message
        for f in failures
    )
    assert any("webhook #4" in f.message and "ConnectError" in f.message for f in failures)
    assert all("SECRET" not in f.message and "dead" not in f.message for f in failures)
