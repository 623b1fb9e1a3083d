"""Operator commands are applied exactly once, even across a driver that dies.

The driver reads commands without removing them, saves the record that applied them (with
their keys in ``commands_done``), and only then takes them off the queue. A driver killed
before the save leaves them for the next driver; one killed after the save but before the
acknowledgement leaves them too, and the next driver sees they were applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends.base import (
    BackendUnavailable,
    Command,
    CommandKind,
    Environment,
    Phase,
    RolloutRecord,
)
from backends.local.store import FileStateStore
from console.driver.loop import Driver
from console.plan.load import parse_plan
from tests.support.clock import Clock
from tests.support.fakes import FakeMetrics, FakeTraffic

PLAN = """\
service: courses
strategy: canary
candidate: v2
steps:
  - setWeight: 20
  - pause: {}
  - setWeight: 40
  - pause: {}
  - setWeight: 60
analysis: false
"""


class Flaky(FileStateStore):
    """The real file store; ``fail_save``/``fail_ack`` make the next call fail, as a driver
    killed at that instant would leave things."""

    fail_save = 0
    fail_ack = 0

    def save(self, record: RolloutRecord, expected_revision: int) -> RolloutRecord:
        if self.fail_save > 0:
            self.fail_save -= 1
            raise BackendUnavailable("killed before the save")
        return super().save(record, expected_revision)

    def ack_commands(self, service: str, keys: Any) -> None:
        if self.fail_ack > 0:
            self.fail_ack -= 1
            raise BackendUnavailable("killed before the acknowledgement")
        super().ack_commands(service, keys)


@pytest.fixture
def world(tmp_path: Path) -> tuple[Clock, Flaky, Environment]:
    clock = Clock()
    store = Flaky(tmp_path, clock=clock)
    env = Environment("fake", FakeTraffic(), FakeMetrics(clock), store)
    return clock, store, env


def post(store: FileStateStore, kind: str, at: float, id_: str) -> Command:
    cmd = Command(CommandKind(kind), "courses", user="carol", host="desk", at=at, id=id_)
    store.post_command(cmd)
    return cmd


def driver(env: Environment, clock: Clock, holder: str) -> Driver:
    return Driver(env, "courses", holder=holder, clock=clock, lease_ttl=5.0)


def test_a_driver_killed_before_saving_leaves_the_command_for_the_next(world: Any) -> None:
    clock, store, env = world
    first = driver(env, clock, "alice@lap:1:aa")
    first.begin(parse_plan(PLAN.format("1h", "1h"), "p.yaml"))
    post(store, "promote", clock(), "p1")
    store.fail_save = 1
    clock.advance(1.0)
    first.tick()  # read the promote, could not save: it dies here
    assert [c.id for c in store.peek_commands("courses")] == ["p1"]
    clock.advance(6.0)  # its lease runs out
    second = driver(env, clock, "bob@ci:2:bb")
    rec = second.tick()
    assert (
        rec is not None and rec.step_index == 3
    )  # the promote left the first 1 h pause for the second
    assert store.peek_commands("courses") == []
    assert "p1" in rec.commands_done


def test_a_command_saved_but_not_acknowledged_is_not_applied_twice(world: Any) -> None:
    clock, store, env = world
    first = driver(env, clock, "alice@lap:1:aa")
    first.begin(parse_plan(PLAN.format("1h", "1h"), "p.yaml"))
    post(store, "promote", clock(), "p1")
    store.fail_ack = 1
    clock.advance(1.0)
    rec = first.tick()  # applied and saved; the acknowledgement is lost: it dies here
    assert rec is not None and rec.step_index == 3
    assert [c.id for c in store.peek_commands("courses")] == ["p1"]  # redelivered...
    clock.advance(6.0)
    second = driver(env, clock, "bob@ci:2:bb")
    rec = second.tick()
    assert rec is not None and rec.step_index == 3  # ...but not applied again
    assert store.peek_commands("courses") == []
    promotes = [a for a in store.read_audit("courses") if a.action == "promote"]
    assert len(promotes) == 1


def test_commands_done_is_bounded_and_survives_ticks_without_commands(world: Any) -> None:
    clock, store, env = world
    d = driver(env, clock, "alice@lap:1:aa")
    d.begin(parse_plan(PLAN.format("1h", "1h"), "p.yaml"))
    for i in range(3):
        post(store, "pause" if i % 2 == 0 else "resume", clock() + i, f"c{i}")
    clock.advance(1.0)
    rec = d.tick()
    assert rec is not None and list(rec.commands_done) == ["c0", "c1", "c2"]
    for _ in range(3):
        clock.advance(1.0)
        rec = d.tick()
    assert rec is not None and list(rec.commands_done) == ["c0", "c1", "c2"]
    loaded = store.load("courses")
    assert loaded is not None and loaded.commands_done == rec.commands_done
    assert loaded.phase is Phase.PAUSED
