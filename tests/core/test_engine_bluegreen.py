"""Blue/green paths of the engine, with an injected clock and a simulated world."""

from __future__ import annotations

import pytest

from backends.base import (
    Deploy,
    MatchRule,
    Observation,
    Phase,
    Retire,
    SetMatch,
    SetSplit,
    TrafficSplit,
)
from console.engine import machine as engine
from console.plan.model import BlueGreenSpec
from tests.core.engine_kit import T0, Sim, World, bluegreen_plan, metrics_spec


def bg(**kw) -> BlueGreenSpec:
    kw.setdefault("scale_down_delay", 30.0)
    kw.setdefault("preview_duration", 10.0)
    return BlueGreenSpec(**kw)


def new_world() -> World:
    # The candidate pool does not exist yet; the stable runs 4 instances.
    return World(total={"v1": 4, "v2": 0})


def test_deploy_preview_wait_for_promote_switch_scale_down() -> None:
    sim = Sim(bluegreen_plan(bluegreen=bg(preview_analysis=metrics_spec())), new_world())
    t = sim.start()
    assert t.actions == (Deploy("v2", 4),)
    assert t.record.phase is Phase.PENDING
    assert "v2 0/0 ready" in t.events[-1].message or t.events[-1].kind == "health"
    sim.world.readiness["v2"] = "partial"
    sim.tick()
    assert sim.rec.engine["sub"] == "starting"
    sim.world.readiness["v2"] = "all"
    sim.tick()
    assert sim.rec.engine["sub"] == "preview" and sim.rec.phase is Phase.PROGRESSING
    start = sim.now
    sim.run(9)
    assert sim.rec.engine["sub"] == "preview"
    sim.run(1)  # 10 s of preview and a passing measurement at +10
    assert sim.now == start + 10
    assert sim.rec.phase is Phase.PAUSED and sim.rec.engine["sub"] == "await"
    assert "waiting for promote" in sim.rec.message
    sim.run(60)
    assert sim.world.weights == {"v1": 100}
    t = sim.command("promote")
    assert t.actions[0] == SetSplit({"v1": 0, "v2": 100})
    assert t.record.engine["promoted"] is True and t.record.engine["sub"] == "post"
    sim.run(29)
    assert sim.rec.phase is Phase.PROGRESSING
    t = sim.tick()
    assert t.actions == (Retire("v1"),)
    assert t.record.phase is Phase.COMPLETED
    assert sim.world.weights == {"v1": 0, "v2": 100}


def test_auto_promote_zero_switches_as_soon_as_preview_passes_without_analysis() -> None:
    sim = Sim(bluegreen_plan(bluegreen=bg(auto_promote=0.0, scale_down_delay=0.0)))
    t = sim.start()
    # The pool of 3 already runs and is ready: deploy, preview, switch, retire in one call.
    assert t.actions == (Deploy("v2", 3), SetSplit({"v1": 0, "v2": 100}), Retire("v1"))
    assert t.record.phase is Phase.COMPLETED


def test_auto_promote_after_a_delay() -> None:
    sim = Sim(bluegreen_plan(bluegreen=bg(auto_promote=20.0)))
    sim.start()
    assert sim.rec.engine["sub"] == "await" and sim.rec.phase is Phase.PROGRESSING
    sim.run(19)
    assert sim.world.weights == {"v1": 100}
    assert engine.next_tick(sim.rec, sim.plan, sim.now) == sim.now + 1
    sim.tick()
    assert sim.world.weights == {"v1": 0, "v2": 100}


def test_auto_promote_message_names_the_switch_time_and_follows_a_pause() -> None:
    sim = Sim(bluegreen_plan(bluegreen=bg(auto_promote=20.0, preview_duration=0.0)))
    sim.start()  # at T0 = 1000 s after the epoch (00:16:40 UTC): switch due at 00:17:00
    assert sim.rec.message == "switching to v2 at 00:17:00 UTC (autoPromote 20s)"
    before = len(sim.transitions)
    sim.run(5)
    assert sim.rec.message == "switching to v2 at 00:17:00 UTC (autoPromote 20s)"
    # The message is stable between ticks (no event, nothing but the time changes)...
    assert all(not t.events for t in sim.transitions[before:])
    sim.command("pause")
    sim.run(10)
    sim.command("resume")
    sim.tick()
    # ...and moves with the deadline when a pause shifts it (10 s paused).
    assert sim.rec.message == "switching to v2 at 00:17:10 UTC (autoPromote 20s)"
    sim.run_until(lambda s: s.world.weights.get("v2") == 100, limit=30)
    assert sim.now == T0 + 5 + 10 + 15


def test_preview_routes_reach_the_pool_and_are_cleared_at_the_switch() -> None:
    rules = (MatchRule(headers={"x-lms-beta": "true"}),)
    sim = Sim(bluegreen_plan(match=rules, bluegreen=bg(auto_promote=5.0)))
    t = sim.start()
    assert SetMatch(rules, "v2") in t.actions
    assert sim.world.match_version == "v2"
    sim.run(5)
    assert sim.world.match_version is None and sim.world.weights == {"v1": 0, "v2": 100}


def test_preview_without_evidence_never_switches_and_pauses() -> None:
    spec = metrics_spec(inconclusive_limit=2)
    sim = Sim(bluegreen_plan(bluegreen=bg(preview_analysis=spec, auto_promote=0.0)))
    sim.world.metrics_mode = "low"  # a preview nobody reaches
    sim.start()
    sim.run(10)
    assert sim.rec.phase is Phase.PAUSED
    assert sim.rec.engine["pause"]["kind"] == "inconclusive"
    sim.run(100)
    assert sim.world.weights == {"v1": 100}


def test_preview_breach_rolls_back_without_a_split() -> None:
    spec = metrics_spec(failure_limit=0)
    sim = Sim(bluegreen_plan(bluegreen=bg(preview_analysis=spec)))
    sim.world.metrics_mode = "fail"
    sim.start()
    sim.run(5)
    assert sim.rec.phase is Phase.ROLLED_BACK
    assert not sim.splits()
    assert "(1/1 failures) -> rolled back: 100% on v1" in sim.rec.message


def test_post_promotion_failure_switches_straight_back() -> None:
    spec = metrics_spec(failure_limit=0)
    sim = Sim(bluegreen_plan(bluegreen=bg(post_promotion_analysis=spec, auto_promote=0.0)))
    sim.start()
    assert sim.world.weights == {"v1": 0, "v2": 100}
    sim.world.metrics_mode = "fail"
    sim.run(5)
    assert sim.rec.phase is Phase.ROLLED_BACK
    assert sim.world.weights == {"v1": 100, "v2": 0}
    assert not any(isinstance(a, Retire) for a in sim.actions())


def test_post_promotion_needs_a_passing_measurement_before_scale_down() -> None:
    spec = metrics_spec(inconclusive_limit=100)
    plan = bluegreen_plan(
        bluegreen=bg(post_promotion_analysis=spec, auto_promote=0.0, scale_down_delay=10.0)
    )
    sim = Sim(plan)
    sim.world.metrics_mode = "missing"
    sim.start()
    sim.run(60)
    assert sim.rec.phase is Phase.PROGRESSING and sim.rec.engine["sub"] == "post"
    sim.world.metrics_mode = "pass"
    sim.run(5)
    assert sim.rec.phase is Phase.COMPLETED


def test_switch_waits_for_a_fully_ready_pool() -> None:
    sim = Sim(bluegreen_plan(bluegreen=bg()))
    sim.start()
    assert sim.rec.phase is Phase.PAUSED
    sim.world.readiness["v2"] = "partial"
    sim.command("promote")
    sim.run(5)
    assert sim.world.weights == {"v1": 100}
    assert any("waiting before" in m for m in sim.messages("health"))
    sim.world.readiness["v2"] = "all"
    sim.tick()
    assert sim.world.weights == {"v1": 0, "v2": 100}


def test_promote_during_preview_skips_it_and_promote_after_switch_retires_now() -> None:
    sim = Sim(bluegreen_plan(bluegreen=bg(preview_analysis=metrics_spec(), preview_duration=300)))
    sim.start()
    assert sim.rec.engine["sub"] == "preview"
    t = sim.command("promote")
    assert SetSplit({"v1": 0, "v2": 100}) in t.actions
    t = sim.command("promote-full")
    assert t.actions == (Retire("v1"),) and t.record.phase is Phase.COMPLETED


def test_abort_after_the_switch_goes_back_to_stable() -> None:
    sim = Sim(bluegreen_plan(bluegreen=bg(auto_promote=0.0)))
    sim.start()
    t = sim.command("abort")
    assert t.actions == (SetSplit({"v1": 100, "v2": 0}),)
    assert t.record.phase is Phase.ABORTED


def test_retry_after_abort_deploys_again() -> None:
    sim = Sim(bluegreen_plan(bluegreen=bg()), new_world())
    sim.start()
    sim.command("abort")
    assert sim.rec.phase is Phase.ABORTED
    t = sim.command("retry")
    assert t.actions == (Deploy("v2", 4),)  # the pool is still there: ready at once
    assert t.record.engine["sub"] == "await" and t.record.phase is Phase.PAUSED


def test_pause_freezes_the_scale_down_delay() -> None:
    sim = Sim(bluegreen_plan(bluegreen=bg(auto_promote=0.0, scale_down_delay=30.0)))
    sim.start()
    sim.run(10)
    sim.command("pause")
    sim.run(100)
    assert sim.rec.phase is Phase.PAUSED
    sim.command("resume")
    sim.run(19)
    assert sim.rec.phase is Phase.PROGRESSING
    sim.tick()
    assert sim.rec.phase is Phase.COMPLETED


@pytest.mark.parametrize("kind", ["resume"])
def test_resume_while_waiting_for_promote_is_refused(kind: str) -> None:
    sim = Sim(bluegreen_plan(bluegreen=bg()))
    sim.start()
    t = sim.command(kind)
    assert t.record.phase is Phase.PAUSED
    assert t.events[0].kind == "command" and "promote to go on" in t.events[0].message


def test_the_pool_is_sized_only_from_a_successful_health_read() -> None:
    plan = bluegreen_plan(bluegreen=bg())
    obs = Observation(
        at=1000.0,
        health={},
        split=TrafficSplit(weights={"v1": 100}),
        traffic_error="health: timed out",
    )
    t = engine.start(plan, obs, 1000.0)
    assert t.actions == ()
    assert any("cannot size the v2 pool yet: health: timed out" in e.message for e in t.events)
    sim = Sim(plan, World(total={"v1": 5, "v2": 0}))
    sim.record = t.record
    t = sim.tick()
    assert t.actions == (Deploy("v2", 5),)
