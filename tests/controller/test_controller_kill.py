"""The controller killed at a random instant of a rollout, a fault injected, a new one started.

In-process and cheap, so it runs many times: the real file store (its fsync skipped for
speed; its locking and compare-and-swap are what matter here), fake traffic and metrics,
a fake clock. The kill is a ``Killed`` raised before a random store or backend call of the
controller's "process": mid-tick, between a save and its actions, during a handover. Holders
look remote (another user@host), so the new controller waits out the lease TTL like a
standby on another machine would: the worst case.

Every time: the candidate's traffic is back on the stable within lease TTL + restart + one
interval of the kill, the faulty rollout ends RolledBack, the healthy one beside it is not
harmed, and no record or audit line is lost.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from backends.base import Phase
from console.driver.controller import Controller
from console.driver.loop import Driver
from tests.controller.fakes_controller import LONG_STEPS, Fuse, FusedStore, Killed, World, plan

TTL = 10.0
INTERVAL = 1.0  # the controller's tick and the plan's analysis interval
STEP = 0.25  # fake-clock step between passes
ITERATIONS = 60


def _controller(world: World, fuse: Fuse, name: str) -> Controller:
    world.traffic.fuse = fuse  # this "process" is the one calling the backend now
    return Controller(
        world.env(FusedStore(world.store, fuse)),
        holder=f"{name}@sim:1:aa",
        clock=world.clock,
        lease_ttl=TTL,
        interval=INTERVAL,
        workers=0,
    )


@pytest.mark.parametrize("seed", range(ITERATIONS))
def test_killed_controller_the_next_one_reverts_in_time(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    rnd = random.Random(seed)
    world = World(tmp_path, ("courses", "grades"))
    for service in ("courses", "grades"):
        d = Driver(world.env(), service, holder="starter@ci:1:aa", clock=world.clock)
        d.begin(plan(service, steps=LONG_STEPS))
        d.close()

    # The first controller drives both, and is killed before a random call of its own.
    first = _controller(world, Fuse(at=rnd.randint(1, 500)), "ctl-1")
    killed = False
    for _ in range(400):
        world.clock.advance(STEP)
        try:
            first.pass_once()
        except Killed:
            killed = True
            break
    assert killed
    kill_at = world.clock()
    before = {s: world.store.load(s) for s in ("courses", "grades")}
    audit_before = {s: len(world.store.read_audit(s)) for s in ("courses", "grades")}
    assert all(r is not None and not r.phase.terminal for r in before.values())
    world.metrics.errors[("courses", "v2")] = 0.3  # the fault, while nobody drives

    # Restarted (or a standby) after a random delay.
    restart = rnd.choice([0.0, 0.5, 1.0, 2.0, 5.0, 12.0])
    world.clock.advance(restart)
    second = _controller(world, Fuse(), "ctl-2")
    reverted_at = None
    for _ in range(int((TTL + restart + 10) / STEP)):
        second.pass_once()
        if world.traffic.weights["courses"] == {"v1": 100, "v2": 0}:
            reverted_at = world.clock()
            break
        world.clock.advance(STEP)
    assert reverted_at is not None, "never reverted"
    assert reverted_at - kill_at <= TTL + restart + INTERVAL + STEP, (
        f"reverted {reverted_at - kill_at:.2f} s after the kill (restart {restart} s)"
    )

    for _ in range(8):  # a few more ticks: the rollback is recorded, grades goes on
        world.clock.advance(INTERVAL)
        second.pass_once()
    after = {s: world.store.load(s) for s in ("courses", "grades")}
    courses, grades = after["courses"], after["grades"]
    assert courses is not None and courses.phase is Phase.ROLLED_BACK
    assert grades is not None and grades.phase is not Phase.ROLLED_BACK
    for s in ("courses", "grades"):
        old, new = before[s], after[s]
        assert old is not None and new is not None
        assert new.revision >= old.revision and new.started_at == old.started_at
        audit = world.store.read_audit(s)
        assert len(audit) >= audit_before[s]  # nothing lost, every line readable
    assert second.driving() == ["grades"]  # courses finished and was let go
