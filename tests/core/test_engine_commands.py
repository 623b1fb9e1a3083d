"""Every command in every phase: applied (audited, by the operator) or refused with an event
saying why, never an exception; and abort from every live state ends with 100% stable."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backends.base import CommandKind, Phase
from console.plan.model import BlueGreenSpec, PauseStep, RollingSpec, SetWeightStep
from tests.core.engine_kit import (
    Sim,
    World,
    bluegreen_plan,
    canary_plan,
    check_record,
    cmd,
    metrics_spec,
    rolling_plan,
)


def canary_pending() -> Sim:
    sim = Sim(canary_plan(), World(readiness={"v1": "all", "v2": "partial"}))
    sim.start()
    return sim


def canary_weight() -> Sim:
    sim = Sim(canary_plan())
    sim.start()
    return sim


def canary_timed_pause() -> Sim:
    sim = canary_weight()
    sim.run(5)
    assert sim.rec.step_index == 1
    return sim


def canary_gate() -> Sim:
    sim = Sim(canary_plan((SetWeightStep(10), PauseStep(None), SetWeightStep(50))))
    sim.start()
    sim.run(5)
    assert sim.rec.engine["pause"]["kind"] == "gate"
    return sim


def canary_user_paused() -> Sim:
    sim = canary_weight()
    sim.command("pause")
    return sim


def canary_inconclusive_paused() -> Sim:
    sim = Sim(canary_plan(analysis=metrics_spec(inconclusive_limit=1)))
    sim.world.metrics_mode = "low"
    sim.start()
    sim.run(5)
    assert sim.rec.engine["pause"]["kind"] == "inconclusive"
    return sim


def canary_rolling_back() -> Sim:
    sim = canary_weight()
    sim.world.readiness["v1"] = "none"
    sim.command("abort")
    assert "rollback" in sim.rec.engine
    return sim


def canary_final_waiting() -> Sim:
    sim = canary_weight()
    sim.world.readiness["v2"] = "partial"
    sim.command("promote-full")
    assert sim.rec.engine["sub"] == "final"
    return sim


def canary_completed() -> Sim:
    sim = Sim(canary_plan((SetWeightStep(100),)))
    sim.start()
    sim.run(5)
    return sim


def canary_rolled_back() -> Sim:
    sim = Sim(canary_plan(analysis=metrics_spec(failure_limit=0)))
    sim.start()
    sim.world.metrics_mode = "fail"
    sim.run(5)
    return sim


def canary_aborted() -> Sim:
    sim = canary_weight()
    sim.command("abort")
    return sim


def bg_starting() -> Sim:
    sim = Sim(bluegreen_plan(), World(total={"v1": 2, "v2": 0}, readiness={"v2": "none"}))
    sim.start()
    assert sim.rec.engine["sub"] == "starting"
    return sim


def bg_preview() -> Sim:
    sim = Sim(bluegreen_plan(bluegreen=BlueGreenSpec(preview_analysis=metrics_spec())))
    sim.start()
    assert sim.rec.engine["sub"] == "preview"
    return sim


def bg_await() -> Sim:
    sim = Sim(bluegreen_plan())
    sim.start()
    assert sim.rec.engine["sub"] == "await" and sim.rec.phase is Phase.PAUSED
    return sim


def bg_post() -> Sim:
    sim = Sim(bluegreen_plan(bluegreen=BlueGreenSpec(auto_promote=0.0)))
    sim.start()
    assert sim.rec.engine["sub"] == "post"
    return sim


def bg_completed() -> Sim:
    sim = Sim(bluegreen_plan(bluegreen=BlueGreenSpec(auto_promote=0.0, scale_down_delay=0.0)))
    sim.start()
    return sim


def rolling_wait_ready() -> Sim:
    sim = Sim(rolling_plan(RollingSpec(min_ready=30.0)), World(total={"v1": 3, "v2": 0}))
    sim.start()
    sim.tick()
    assert sim.rec.engine["sub"] == "wait-ready"
    return sim


def rolling_between() -> Sim:
    sim = Sim(rolling_plan(), World(total={"v1": 3, "v2": 0}))
    sim.start()
    sim.tick()
    assert sim.rec.engine["sub"] == "between"
    return sim


def rolling_rolling_back() -> Sim:
    sim = rolling_between()
    sim.world.readiness["v1"] = "partial"
    sim.command("abort")
    sim.tick()
    assert "rollback" in sim.rec.engine
    return sim


def rolling_completed() -> Sim:
    sim = Sim(rolling_plan(analysis=None), World(total={"v1": 1, "v2": 0}))
    sim.start()
    sim.run(3)
    assert sim.rec.phase is Phase.COMPLETED
    return sim


A, X = "applied", "ignored"
# situation -> expected outcome for promote, promote-full, pause, resume, abort, retry
MATRIX: dict[str, tuple[Callable[[], Sim], tuple[str, str, str, str, str, str]]] = {
    "canary pending": (canary_pending, (X, A, A, X, A, X)),
    "canary weight step": (canary_weight, (A, A, A, X, A, X)),
    "canary timed pause": (canary_timed_pause, (A, A, A, X, A, X)),
    "canary manual gate": (canary_gate, (A, A, X, X, A, X)),
    "canary user paused": (canary_user_paused, (A, A, X, A, A, X)),
    "canary inconclusive paused": (canary_inconclusive_paused, (A, A, X, A, A, X)),
    "canary rolling back": (canary_rolling_back, (X, X, X, X, X, X)),
    "canary final waiting": (canary_final_waiting, (X, A, A, X, A, X)),
    "canary completed": (canary_completed, (X, X, X, X, X, X)),
    "canary rolled back": (canary_rolled_back, (X, X, X, X, X, A)),
    "canary aborted": (canary_aborted, (X, X, X, X, X, A)),
    "bluegreen starting": (bg_starting, (A, A, A, X, A, X)),
    "bluegreen preview": (bg_preview, (A, A, A, X, A, X)),
    "bluegreen await promote": (bg_await, (A, A, X, X, A, X)),
    "bluegreen post": (bg_post, (A, A, A, X, A, X)),
    "bluegreen completed": (bg_completed, (X, X, X, X, X, X)),
    "rolling wait ready": (rolling_wait_ready, (A, A, A, X, A, X)),
    "rolling between batches": (rolling_between, (A, A, A, X, A, X)),
    "rolling rolling back": (rolling_rolling_back, (X, X, X, X, X, X)),
    "rolling completed": (rolling_completed, (X, X, X, X, X, X)),
}
KINDS = [str(k) for k in CommandKind]


@pytest.mark.parametrize("situation", list(MATRIX))
def test_every_command_in_every_phase(situation: str) -> None:
    make, expected = MATRIX[situation]
    for kind, outcome in zip(KINDS, expected, strict=True):
        sim = make()
        before = sim.rec
        t = sim.tick(0.0, cmd(kind, user="carol", host="ops"))
        check_record(t.record)
        if outcome == A:
            assert [a.actor for a in t.audit][:1] == ["carol@ops"], (situation, kind, t.events)
            assert t.audit[0].action == kind and t.audit[0].user == "carol"
            assert not any(e.kind == "command" for e in t.events), (situation, kind)
        else:
            refusals = [e for e in t.events if e.kind == "command"]
            assert len(refusals) == 1, (situation, kind, t.events)
            assert refusals[0].message.startswith(f"{kind} ignored: "), refusals[0].message
            assert not any(a.actor == "carol@ops" for a in t.audit)
            if before.phase.terminal:
                assert t.actions == () and t.record.phase is before.phase


@pytest.mark.parametrize("situation", list(MATRIX))
def test_abort_from_every_state_ends_on_the_stable(situation: str) -> None:
    make, _ = MATRIX[situation]
    sim = make()
    live = not sim.rec.phase.terminal
    sim.tick(0.0, cmd("abort"))
    sim.world.readiness.update(v1="all", v2="all")
    for _ in range(5):
        if sim.rec.phase.terminal:
            break
        sim.tick()
    if live:
        assert sim.rec.phase in (Phase.ABORTED, Phase.ROLLED_BACK)
        assert sim.world.on_one() == "v1"
        assert sim.world.match_version is None and sim.world.mirror == (None, 0)
    else:
        assert sim.world.on_one() in ("v1", "v2")
