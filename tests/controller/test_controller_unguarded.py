"""Unguarded rollouts: `rollout status` rows and exit codes, and one `unguarded` webhook per
stretch whoever notices it (status --check, a controller taking over, a standby)."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.base import Environment, Phase, RolloutRecord, Strategy
from backends.local.store import FileStateStore
from console.commands import status
from console.commands.exits import EXIT_OK, EXIT_UNGUARDED
from console.driver import unguarded
from console.driver.controller import Controller
from console.driver.loop import Driver
from console.driver.notify import close_plan_notifiers
from console.driver.presence import claim
from tests.controller.fakes_controller import LONG_STEPS, World, plan
from tests.support.waits import eventually
from tests.support.webhook import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        close_plan_notifiers(wait=2.0)
        r.close()


def _record(
    service: str, hook: str, phase: Phase = Phase.PROGRESSING, age: float = 60.0
) -> RolloutRecord:
    now = time.time()
    return RolloutRecord(
        service=service,
        strategy=Strategy.CANARY,
        stable="v1",
        candidate="v2",
        phase=phase,
        plan={"service": service, "webhooks": [hook]},
        weights={"v1": 80, "v2": 20} if not phase.terminal else {"v1": 0, "v2": 100},
        started_at=now - age,
        updated_at=now - age,
    )


@pytest.fixture
def env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> Iterator[Environment]:
    world = World(tmp_path, ("courses", "grades"))
    store = FileStateStore(tmp_path / "state")  # the real clock: status reads time.time()
    store.save(_record("courses", receiver.url), 0)  # left 60 s ago, v2 at 20 %
    store.save(_record("grades", receiver.url, Phase.COMPLETED), 0)
    world.traffic.weights["courses"] = {"v1": 80, "v2": 20}
    e = Environment("fake", world.traffic, world.metrics, store)
    monkeypatch.setattr("console.config.environments.open_for_reading", lambda name=None: (e, ""))
    yield e


def _status(**kw: object) -> int:
    args = {"env": None, "service": None, "json": False, "check": False, **kw}
    return status.run(argparse.Namespace(**args))


def test_table_and_json_say_unguarded_and_check_exits_5(
    env: Environment, capsys: pytest.CaptureFixture[str], receiver: Receiver
) -> None:
    assert _status() == EXIT_OK  # without --check: shown, never an error
    out, err = capsys.readouterr()
    row = next(line for line in out.splitlines() if line.startswith("courses"))
    rec = env.store.load("courses")  # type: ignore[union-attr]
    assert rec is not None
    since = time.strftime("%H:%M:%S", time.localtime(rec.updated_at + 10.0))
    assert f"UNGUARDED since {since}" in row
    assert "UNGUARDED: courses" in err and "rollout controller" in err
    grades = next(line for line in out.splitlines() if line.startswith("grades"))
    assert "UNGUARDED" not in grades  # finished: nothing to guard
    assert receiver.kinds() == []  # plain status sends nothing

    assert _status(json=True) == EXIT_OK
    body = json.loads(capsys.readouterr().out)
    rows = {r["service"]: r for r in body["services"]}
    assert rows["courses"]["guarded"] is False and rows["courses"]["driver"] is None
    assert rows["courses"]["unguarded_since"] == pytest.approx(rec.updated_at + 10.0)
    assert rows["grades"]["guarded"] is True
    assert body["controller"] is None

    assert _status(check=True) == EXIT_UNGUARDED
    assert _status(check=True, json=True) == EXIT_UNGUARDED
    assert eventually(lambda: receiver.kinds() == ["unguarded"], timeout=5)
    time.sleep(0.3)
    assert receiver.kinds() == ["unguarded"]  # the second --check found the marker
    marked = env.store.load("courses")  # type: ignore[union-attr]
    assert marked is not None and marked.updated_at == rec.updated_at  # since stays put
    assert [e.kind for e in marked.events] == ["unguarded"]


def test_a_live_driver_makes_it_guarded_and_check_exits_0(
    env: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    assert env.store is not None
    assert env.store.acquire_lease("courses", "ci@runner:42:ab", 10.0)
    assert _status(check=True, json=True) == EXIT_OK
    rows = {r["service"]: r for r in json.loads(capsys.readouterr().out)["services"]}
    assert rows["courses"]["guarded"] is True and rows["courses"]["driver"] == "ci@runner"
    assert rows["courses"]["unguarded_since"] is None


def test_concurrent_reporters_send_one_webhook(env: Environment, receiver: Receiver) -> None:
    assert env.store is not None
    rec = env.store.load("courses")
    assert rec is not None
    now = time.time()
    guard = unguarded.check(env.store, rec, now)
    assert not guard.guarded
    won: list[object] = []
    barrier = threading.Barrier(4)

    def reporter(i: int) -> None:
        barrier.wait()
        won.append(unguarded.report(env.store, rec, guard, now, reporter=f"r{i}@h:1:aa"))  # type: ignore[arg-type]

    threads = [threading.Thread(target=reporter, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sum(1 for w in won if w is not None) == 1
    assert eventually(lambda: receiver.kinds() == ["unguarded"], timeout=5)


def test_a_controller_taking_over_a_long_gap_reports_it_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    world = World(tmp_path, ("courses",))
    hooked = plan("courses", steps=LONG_STEPS, extra=f"notify:\n  webhooks: [{receiver.url}]")
    d = Driver(world.env(), "courses", holder="auto@ci:1:aa", clock=world.clock)
    d.begin(hooked)  # then `rollout auto` dies without releasing its lease
    world.clock.advance(120)
    c = Controller(world.env(), holder="ctl@sim:1:aa", clock=world.clock, workers=0)
    for _ in range(3):
        c.pass_once()
        world.clock.advance(1)
    rec = world.store.load("courses")
    assert rec is not None
    assert [e.kind for e in rec.events].count("unguarded") == 1
    assert c.driving() == ["courses"]
    assert eventually(lambda: "unguarded" in receiver.kinds(), timeout=5)


def test_a_quick_handover_is_not_reported(tmp_path: Path) -> None:
    world = World(tmp_path, ("courses",))
    d = Driver(world.env(), "courses", holder="auto@ci:1:aa", clock=world.clock)
    d.begin(plan("courses", steps=LONG_STEPS))
    world.clock.advance(10.5)  # the lease just ran out: a standby takes over now
    c = Controller(world.env(), holder="ctl@sim:1:aa", clock=world.clock, workers=0)
    c.pass_once()
    assert c.driving() == ["courses"]
    rec = world.store.load("courses")
    assert rec is not None and "unguarded" not in [e.kind for e in rec.events]


def test_a_standby_reports_what_a_wedged_active_controller_does_not_drive(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, ("courses",))
    d = Driver(world.env(), "courses", holder="auto@ci:1:aa", clock=world.clock)
    d.begin(plan("courses", steps=LONG_STEPS))
    standby = Controller(world.env(), holder="ctl-b@sim:1:bb", clock=world.clock, workers=0)
    for _ in range(30):
        world.clock.advance(1)
        # The active controller keeps its key but never ticks the rollout (wedged).
        assert claim(world.store, "ctl-a@sim:1:aa", 10.0)
        standby.pass_once()
    assert not standby.active and standby.driving() == []
    rec = world.store.load("courses")
    assert rec is not None and [e.kind for e in rec.events].count("unguarded") == 1
