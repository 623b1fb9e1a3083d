"""Driver ticks with a fake clock, in-memory traffic/metrics and the real file store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backends.base import (
    BackendUnavailable,
    CommandKind,
    Environment,
    Event,
    Phase,
    RolloutRecord,
)
from backends.local.store import FileStateStore
from console.driver.loop import Driver, DriverError
from console.driver.send import ControlError, send_command
from console.plan.load import parse_plan
from console.plan.model import Plan
from tests.support.clock import Clock
from tests.support.fakes import FakeMetrics, FakeTraffic

PLAN = """\
service: courses
strategy: canary
candidate: {candidate}
steps:
  - setWeight: 50
  - pause: 2s
  - setWeight: 80
analysis:
  interval: 1s
  minRequests: 5
  failureLimit: 0
  metrics:
    - {{name: error-rate, max: 0.05}}
"""


def _plan(candidate: str = "v2", text: str = PLAN) -> Plan:
    return parse_plan(text.format(candidate=candidate), "fast.yaml")


class World:
    def __init__(self, tmp: Path) -> None:
        self.clock = Clock()
        self.traffic = FakeTraffic()
        self.metrics = FakeMetrics(self.clock)
        self.store = FileStateStore(tmp, clock=self.clock)
        self.env = Environment("fake", self.traffic, self.metrics, self.store)
        self.events: list[Event] = []

    def driver(self, holder: str = "alice@lap:1:aa", **kw: object) -> Driver:
        return Driver(
            self.env,
            "courses",
            holder=holder,
            clock=self.clock,
            on_event=self.events.append,
            **kw,  # type: ignore[arg-type]
        )

    def run_ticks(self, d: Driver, n: int = 40) -> RolloutRecord:
        rec = d.record
        for _ in range(n):
            self.clock.advance(1.0)
            rec = d.tick() or rec
            if rec is not None and rec.phase.terminal:
                break
        assert rec is not None
        return rec


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_canary_completes_and_every_decision_is_audited(world: World) -> None:
    d = world.driver()
    rec = d.begin(_plan())
    assert d.driving and rec.revision == 1
    rec = world.run_ticks(d)
    assert rec.phase is Phase.COMPLETED
    assert world.traffic.weights == {"v1": 0, "v2": 100}
    splits = [c[1] for c in world.traffic.calls if c[0] == "set_split"]
    assert [s["v2"] for s in splits] == [50, 80, 100]
    audit = world.store.read_audit("courses")
    assert [a.action for a in audit if a.action == "set-split"] == ["set-split"] * 3
    assert all(a.user == "alice" and a.host == "lap" for a in audit)
    kinds = [e.kind for e in world.events]
    assert kinds.index("weight") < kinds.index("completed")
    d.close()
    assert world.store.lease("courses") is None


def test_breach_rolls_back_and_names_metric_value_threshold(world: World) -> None:
    d = world.driver()
    d.begin(_plan())
    world.metrics.errors["v2"] = 0.5
    rec = world.run_ticks(d)
    assert rec.phase is Phase.ROLLED_BACK
    assert world.traffic.weights == {"v1": 100, "v2": 0}
    breach = next(e for e in world.events if e.kind == "breach")
    assert "error-rate" in breach.message
    assert "0.5" in breach.message and "0.05" in breach.message
    assert any(a.action == "rollback" for a in world.store.read_audit("courses"))


def test_record_is_saved_before_actions_and_a_failed_split_is_redone(world: World) -> None:
    d = world.driver()
    world.traffic.fail_set_split = 1
    rec = d.begin(_plan())
    assert world.store.load("courses") == rec
    assert rec.weights == {"v1": 50, "v2": 50}
    # the record says 50/50 although the backend refused: it was saved first
    assert world.traffic.weights == {"v1": 100, "v2": 0}
    assert any("could not apply SetSplit" in e.message for e in world.events)
    world.clock.advance(1.0)
    d.tick()
    assert world.traffic.weights == {"v1": 50, "v2": 50}


def test_a_conflicting_write_is_reloaded_and_the_tick_redone(world: World) -> None:
    d = world.driver()
    d.begin(_plan())
    real_save = world.store.save
    raced = []

    def racing_save(record: RolloutRecord, expected: int) -> RolloutRecord:
        if not raced:
            raced.append(True)
            cur = world.store.load("courses")
            assert cur is not None
            real_save(cur, cur.revision)  # someone else writes first
        return real_save(record, expected)

    world.store.save = racing_save  # type: ignore[method-assign]
    world.clock.advance(1.0)
    rec = d.tick()
    assert raced and rec is not None and rec.revision == 3


def test_resume_after_a_crash_continues_from_the_recorded_step(world: World) -> None:
    a = world.driver("alice@lap:1:aa")
    a.begin(_plan())
    for _ in range(3):
        world.clock.advance(1.0)
        a.tick()
    at = world.store.load("courses")
    assert at is not None and at.step_index >= 1 and not at.phase.terminal
    # "a" dies without releasing the lease; "b" must wait for it to expire.
    b = world.driver("bob@ci:2:bb")
    assert b.tick() is None
    world.clock.advance(11.0)
    resumed = b.begin(_plan())
    assert b.driving and resumed.step_index == at.step_index
    assert any(a.action == "resume-driver" for a in world.store.read_audit("courses"))
    rec = world.run_ticks(b)
    assert rec.phase is Phase.COMPLETED


def test_other_candidate_in_progress_is_refused(world: World) -> None:
    a = world.driver()
    a.begin(_plan())
    a.close()
    with pytest.raises(DriverError, match="rollout to v2 is in progress"):
        world.driver("bob@ci:2:bb").begin(_plan("v3"))
    assert world.store.lease("courses") is None  # the refused driver let go


ROLLING = """\
service: courses
strategy: rolling
candidate: {candidate}
analysis: false
"""


def test_another_strategy_in_progress_for_the_same_candidate_is_refused(world: World) -> None:
    a = world.driver()
    a.begin(_plan())
    a.close()
    with pytest.raises(DriverError, match=r"a canary rollout to v2 is in progress .* a rolling"):
        world.driver("bob@ci:2:bb").begin(_plan(text=ROLLING))
    rec = world.store.load("courses")
    assert rec is not None and str(rec.strategy) == "canary"  # untouched


def test_terminal_record_is_replaced_by_a_fresh_start(world: World) -> None:
    d = world.driver()
    d.begin(_plan())
    assert world.run_ticks(d).phase is Phase.COMPLETED
    world.traffic.weights = {"v1": 100, "v2": 0}  # e.g. reset by hand for the next release
    rec = d.begin(_plan())
    assert rec.phase in (Phase.PENDING, Phase.PROGRESSING) and rec.step_index == 0
    assert rec.revision > 1


def test_commands_from_a_viewer_reach_the_driver(world: World) -> None:
    a = world.driver("alice@lap:1:aa")
    a.begin(_plan())
    b = world.driver("bob@ci:2:bb")
    assert b.tick() is None and not b.driving
    msg = send_command(world.env, "courses", CommandKind.PAUSE, reason="checking", user="bob")
    assert "posted" in msg and "alice@lap" in msg
    world.clock.advance(1.0)
    rec = a.tick()
    assert rec is not None and rec.phase is Phase.PAUSED
    msg = send_command(world.env, "courses", CommandKind.PROMOTE_FULL, user="bob")
    world.clock.advance(1.0)
    rec = world.run_ticks(a, 10)
    assert rec.phase is Phase.COMPLETED
    audit = world.store.read_audit("courses")
    assert any(x.user == "bob" and "pause" in x.action for x in audit)


def test_command_without_a_driver_is_applied_at_once(world: World) -> None:
    d = world.driver()
    d.begin(_plan())
    d.close()
    msg = send_command(world.env, "courses", "abort", reason="bad release", user="carol")
    assert msg.startswith("aborted:")
    rec = world.store.load("courses")
    assert rec is not None and rec.phase is Phase.ABORTED
    assert world.traffic.weights == {"v1": 100, "v2": 0}
    assert world.store.lease("courses") is None
    with pytest.raises(ControlError, match="already ended"):
        send_command(world.env, "courses", "promote")
    with pytest.raises(ControlError, match="unknown service 'nope'"):
        send_command(world.env, "nope", "pause")


def test_backend_errors_are_observations_not_exceptions(world: World) -> None:
    d = world.driver()
    d.begin(_plan())
    world.metrics.down = True
    world.traffic.down = True
    world.clock.advance(1.0)
    assert d.tick() is not None
    obs = d.last_observation
    assert obs is not None
    assert obs.metrics_error and "metrics are down" in obs.metrics_error
    assert obs.traffic_error and "traffic backend is down" in obs.traffic_error


def test_run_gives_up_when_the_traffic_backend_stays_down(tmp_path: Path) -> None:
    traffic = FakeTraffic()
    store = FileStateStore(tmp_path)
    env = Environment("fake", traffic, FakeMetrics(time.time), store)
    d = Driver(env, "courses", holder="a@h:1:x", tick_interval=0.01, backend_grace=0.05)
    d.begin(_plan())
    traffic.down = True
    with pytest.raises(BackendUnavailable, match="traffic backend is down"):
        d.run(timeout=10)
    d.close()


def test_lease_of_a_dead_process_on_this_host_is_taken_at_once(world: World) -> None:
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(10)
    a = world.driver(f"alice@lap:{dead.pid}:aa")
    a.begin(_plan())  # a's process "dies" here without releasing its lease
    other_host = world.driver("alice@elsewhere:1:bb")
    assert other_host.tick() is None  # a holder on another host is never second-guessed
    b = world.driver("alice@lap:99999999:cc")
    rec = b.begin(_plan())
    assert b.driving and rec.revision >= 1
    lease = world.store.lease("courses")
    assert lease is not None and lease.holder == "alice@lap:99999999:cc"


def test_a_driver_whose_lease_lapsed_stops_driving(world: World) -> None:
    a = world.driver("alice@lap:1:aa")
    a.begin(_plan())
    world.clock.advance(11.0)  # a stalled longer than the TTL
    b = world.driver("bob@ci:2:bb")
    assert b.tick() is not None and b.driving
    rev = world.store.load("courses")
    assert rev is not None
    assert a.tick() is None and not a.driving
    after = world.store.load("courses")
    assert after is not None and after.revision == rev.revision  # a wrote nothing
    assert any(
        e.kind == "lease" and "lost the driver lease to bob@ci" in e.message for e in world.events
    )


def test_a_command_that_does_not_apply_is_refused_and_audited(world: World) -> None:
    d = world.driver()
    d.begin(_plan())
    d.close()
    with pytest.raises(ControlError, match="resume ignored"):
        send_command(world.env, "courses", "resume", user="dave", reason="go on")
    last = world.store.read_audit("courses")[-1]
    assert last.action == "resume" and last.user == "dave" and last.data["applied"] is False
    assert "resume ignored" in last.reason and "go on" in last.reason


GATE_PLAN = """\
service: courses
strategy: canary
candidate: {candidate}
steps:
  - setWeight: 20
  - pause: {{}}
  - setWeight: 80
"""


def test_a_refused_command_gets_the_same_answer_with_or_without_a_driver(world: World) -> None:
    a = world.driver()
    a.begin(_plan(text=GATE_PLAN))
    with pytest.raises(ControlError, match="resume ignored: rollout is Progressing"):
        send_command(world.env, "courses", "resume", user="bob")
    for _ in range(10):
        world.clock.advance(1.0)
        rec = a.tick()
        if rec is not None and rec.phase is Phase.PAUSED:
            break
    assert rec is not None and rec.phase is Phase.PAUSED and a.driving
    gate = r"courses waits at a manual gate \(.*\): use `rollout promote courses`"
    with pytest.raises(ControlError, match=gate):
        send_command(world.env, "courses", "resume", user="bob")
    with pytest.raises(ControlError, match="pause ignored: already paused"):
        send_command(world.env, "courses", "pause", user="bob")
    assert world.store.take_commands("courses") == []  # nothing posted for the driver
    refused = [x for x in world.store.read_audit("courses") if x.data.get("applied") is False]
    assert [x.action for x in refused] == ["resume", "resume", "pause"]
    a.close()
    with pytest.raises(ControlError, match=gate):
        send_command(world.env, "courses", "resume", user="bob")


def test_the_drivers_own_events_reach_the_record_for_other_consoles(world: World) -> None:
    world.traffic.fail_set_split = 1
    d = world.driver()
    d.begin(_plan())
    world.run_ticks(d, 3)
    rec = world.store.load("courses")
    assert rec is not None
    failed = [e for e in rec.events if e.kind == "driver" and "could not apply" in e.message]
    assert len(failed) == 1 and "set_split refused (injected)" in failed[0].message
    # Written once, not again on every later save.
    world.run_ticks(d, 5)
    rec = world.store.load("courses")
    assert rec is not None
    assert sum("could not apply" in e.message for e in rec.events) == 1
