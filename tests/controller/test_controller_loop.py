"""The controller in-process: the real file store, fake traffic and metrics, a fake clock.

Passes run inline (``workers=0``) so every step is deterministic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from backends.base import CommandKind, Phase
from console.driver.controller import Controller
from console.driver.controller_metrics import ControllerMetrics
from console.driver.loop import Driver
from console.driver.presence import CONTROLLER_KEY, controller_running
from console.driver.send import send_command
from tests.controller.fakes_controller import LONG_STEPS, World, plan

TTL = 10.0


def start(world: World, service: str, **kw: Any) -> None:
    """What `rollout start` does: begin with a driver, then hand the lease back."""
    d = Driver(world.env(), service, holder="starter@ci:1:aa", clock=world.clock)
    d.begin(plan(service, **kw))
    d.close()


def controller(world: World, name: str = "ctl-a", **kw: Any) -> Controller:
    logs: list[dict] = []
    c = Controller(
        world.env(kw.pop("store", None)),
        holder=f"{name}@sim:1:aa",
        clock=world.clock,
        lease_ttl=TTL,
        log=logs.append,
        workers=0,
        **kw,
    )
    c.logs = logs  # type: ignore[attr-defined]
    return c


def run(world: World, *ctls: Controller, seconds: float, step: float = 0.5) -> None:
    for _ in range(int(seconds / step)):
        world.clock.advance(step)
        for c in ctls:
            c.pass_once()


def phase(world: World, service: str) -> Phase:
    rec = world.store.load(service)
    assert rec is not None
    return rec.phase


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path, ("courses", "grades", "enrollments"))


def test_drives_a_started_rollout_to_the_end_and_frees_its_lease(world: World) -> None:
    c = controller(world)
    start(world, "courses")
    assert world.traffic.weights["courses"] == {"v1": 80, "v2": 20}  # the start applied it
    run(world, c, seconds=20)
    assert phase(world, "courses") is Phase.COMPLETED
    assert world.traffic.weights["courses"] == {"v1": 0, "v2": 100}
    assert world.store.lease("courses") is None  # finished: not held
    assert controller_running(world.store, world.clock()) == "ctl-a@sim:1:aa"
    audit = world.store.read_audit("courses")
    # `start` applied the first step; from the take-over on, the controller did everything.
    actions = [e.action for e in audit]
    assert actions[:3] == ["start", "set-split", "take-over"]
    assert {e.data.get("driver") for e in audit[:2]} == {"starter@ci:1:aa"}
    assert {e.data.get("driver") for e in audit[2:]} == {"ctl-a@sim:1:aa"}


def test_rollouts_started_later_are_picked_up(world: World) -> None:
    c = controller(world)
    run(world, c, seconds=2)
    start(world, "grades")
    run(world, c, seconds=1)
    start(world, "enrollments")
    run(world, c, seconds=20)
    assert phase(world, "grades") is Phase.COMPLETED
    assert phase(world, "enrollments") is Phase.COMPLETED


def test_a_breach_rolls_back_with_no_terminal_open(world: World) -> None:
    c = controller(world)
    start(world, "courses", steps=LONG_STEPS)
    run(world, c, seconds=3)
    world.metrics.errors[("courses", "v2")] = 0.3
    run(world, c, seconds=2)
    assert phase(world, "courses") is Phase.ROLLED_BACK
    assert world.traffic.weights["courses"] == {"v1": 100, "v2": 0}
    kinds = [line["kind"] for line in c.logs]  # type: ignore[attr-defined]
    assert "breach" in kinds and "rollback" in kinds


def test_a_corrupt_record_or_a_dead_backend_does_not_stop_the_others(world: World) -> None:
    c = controller(world)
    for s in ("courses", "grades", "enrollments"):
        start(world, s)
    (world.directory / "courses.json").write_text('{"service": "courses", "phase": ')
    world.traffic.down.add("enrollments")
    run(world, c, seconds=20)
    assert phase(world, "grades") is Phase.COMPLETED
    errors = [x for x in c.logs if x["level"] == "error"]  # type: ignore[attr-defined]
    by_service = {x["service"] for x in errors}
    assert by_service == {"courses", "enrollments"}
    # Each trouble is logged when it starts, not every second.
    assert len(errors) <= 4
    assert "move it aside" in next(x["message"] for x in errors if x["service"] == "courses")
    world.traffic.down.clear()
    run(world, c, seconds=20)
    assert phase(world, "enrollments") is Phase.COMPLETED
    assert any(x["kind"] == "recovered" for x in c.logs)  # type: ignore[attr-defined]


def test_operator_commands_are_applied_on_the_next_pass(world: World) -> None:
    c = controller(world)
    start(world, "courses", steps=LONG_STEPS)
    run(world, c, seconds=2)
    reply = send_command(world.env(), "courses", CommandKind.PAUSE, user="bob")
    assert "will apply it" in reply  # posted: the controller holds the lease
    world.clock.advance(1.0)  # one tick interval
    c.pass_once()
    assert phase(world, "courses") is Phase.PAUSED
    send_command(world.env(), "courses", CommandKind.ABORT, user="bob")
    world.clock.advance(1.0)
    c.pass_once()
    assert phase(world, "courses") is Phase.ABORTED
    assert world.traffic.weights["courses"] == {"v1": 100, "v2": 0}


def test_a_retry_of_a_finished_rollout_is_driven_again(world: World) -> None:
    c = controller(world)
    start(world, "courses")
    world.metrics.errors[("courses", "v2")] = 0.5
    run(world, c, seconds=3)
    assert phase(world, "courses") is Phase.ROLLED_BACK
    world.metrics.errors.clear()
    send_command(world.env(), "courses", CommandKind.RETRY, user="bob")
    run(world, c, seconds=20)
    assert phase(world, "courses") is Phase.COMPLETED


def test_close_hands_every_lease_back_at_once(world: World) -> None:
    c = controller(world)
    for s in ("courses", "grades"):
        start(world, s, steps=LONG_STEPS)
    run(world, c, seconds=2)
    assert c.driving() == ["courses", "grades"]
    c.close(reason="SIGTERM")
    assert world.store.lease("courses") is None and world.store.lease("grades") is None
    assert world.store.lease(CONTROLLER_KEY) is None
    stops = [e for e in world.store.read_audit("courses") if e.action == "stop-driver"]
    assert stops and "SIGTERM" in stops[-1].reason
    # A standby becomes active on its very next pass: no TTL to wait out.
    b = controller(world, "ctl-b")
    b.pass_once()
    assert b.active and b.driving() == ["courses", "grades"]


def test_two_controllers_drive_each_rollout_exactly_once(world: World) -> None:
    a, b = controller(world, "ctl-a"), controller(world, "ctl-b")
    for s in ("courses", "grades", "enrollments"):
        start(world, s, steps=LONG_STEPS)
    for _ in range(20):
        world.clock.advance(0.5)
        a.pass_once()
        b.pass_once()
        # Never both: each rollout's lease has one holder, and only the active one drives.
        assert not (set(a.driving()) & set(b.driving()))
        assert b.driving() == [] and a.active and not b.active
    # The active one dies (no close): the standby takes over once the TTL ran out.
    run(world, b, seconds=TTL + 1.5)
    assert b.active and b.driving() == ["courses", "enrollments", "grades"]
    for s in ("courses", "grades", "enrollments"):
        drivers = [e.data.get("driver") for e in world.store.read_audit(s)][2:]  # after start
        cut = drivers.index("ctl-b@sim:1:aa")
        assert set(drivers[:cut]) == {"ctl-a@sim:1:aa"}
        assert set(drivers[cut:]) == {"ctl-b@sim:1:aa"}


def test_a_rollout_another_driver_holds_is_watched_then_taken_over(world: World) -> None:
    c = controller(world)
    console = Driver(world.env(), "courses", holder="alice@lap:console:7", clock=world.clock)
    console.begin(plan("courses", steps=LONG_STEPS))
    for _ in range(6):
        world.clock.advance(0.5)
        console.tick()
        c.pass_once()
    assert c.driving() == []  # the console drives it
    console.close()  # the console quits
    world.clock.advance(1.0)  # within one tick interval
    c.pass_once()
    assert c.driving() == ["courses"]
    assert any(e.action == "take-over" for e in world.store.read_audit("courses"))


def test_metrics_count_ticks_decisions_and_takeovers(world: World) -> None:
    metrics = ControllerMetrics()
    c = controller(world, metrics=metrics)
    start(world, "courses")
    run(world, c, seconds=20)
    families = {f.name: f for f in text_string_to_metric_families(metrics.text().decode())}
    value = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    ticks = value[("rollout_controller_ticks_total", ())]
    assert ticks >= 5  # 2 s + 2 s of pauses, a tick a second
    assert value[("rollout_controller_lease_takeovers_total", ())] == 1
    assert value[("rollout_controller_decisions_total", (("kind", "completed"),))] == 1
    assert value[("rollout_controller_active", ())] == 1
    assert value[("rollout_controller_rollouts_driven", ())] == 0  # finished, released
    assert value[("rollout_controller_tick_duration_seconds_count", ())] == ticks


def test_a_takeover_that_rolls_back_in_its_first_tick_is_counted(world: World) -> None:
    metrics = ControllerMetrics()
    c = controller(world, metrics=metrics)
    start(world, "courses", steps=LONG_STEPS)
    world.metrics.errors[("courses", "v2")] = 0.5
    world.clock.advance(1.0)
    c.pass_once()
    assert phase(world, "courses") is Phase.ROLLED_BACK
    text = metrics.text().decode()
    assert "rollout_controller_lease_takeovers_total 1.0" in text
    messages = [x["message"] for x in c.logs]  # type: ignore[attr-defined]
    assert "driving courses" in messages
    assert "no longer driving courses (finished)" in messages
