"""Records saved mid-rollout by an earlier engine (fixtures/records/, made at commit 2f4c716)
load unchanged and go on: each is stepped by today's engine against the simulated world it
was saved with, and must end as that rollout should."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backends.base import (
    HoldRollout,
    Phase,
    Retire,
    RollingUpdate,
    RolloutRecord,
    Scale,
    SetMatch,
    SetMirror,
    SetSplit,
)
from console.engine.state import EngineState
from console.plan.model import Plan
from tests.core.engine_kit import Sim, World
from tests.core.test_engine_rolling_native import OneDeployment, holds

RECORDS = Path(__file__).parent / "fixtures" / "records"
NAMES = sorted(p.stem for p in RECORDS.glob("*.json"))


def load(name: str) -> tuple[dict[str, Any], Sim]:
    """The saved document and a simulation that goes on from it."""
    doc = json.loads((RECORDS / f"{name}.json").read_text())
    w = dict(doc["world"])
    kind = w.pop("kind")
    w["mirror"] = tuple(w["mirror"])
    world: World
    if kind == "one-deployment":
        world = OneDeployment()
        for key, value in w.items():
            setattr(world, key, value)
    else:
        world = World(**w)
    record = RolloutRecord.from_dict(doc["record"])
    sim = Sim(Plan.from_dict(record.plan), world, now=float(doc["now"]))
    sim.record = record
    return doc, sim


def finish(sim: Sim, limit: int = 200) -> None:
    """Run until the rollout ends, promoting at every manual gate."""
    for _ in range(limit):
        if sim.rec.phase.terminal:
            return
        if (
            sim.rec.phase is Phase.PAUSED
            and (sim.rec.engine.get("pause") or {}).get("kind") == "gate"
        ):
            sim.command("promote")
        else:
            sim.tick()
    raise AssertionError(f"not finished in {limit} ticks: {sim.rec.phase} {sim.rec.message}")


def test_every_fixture_is_here() -> None:
    assert len(NAMES) == 18, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_a_saved_record_loads_unchanged(name: str) -> None:
    doc, sim = load(name)
    assert sim.rec.to_dict() == doc["record"]


@pytest.mark.parametrize("name", NAMES)
def test_the_typed_bookkeeping_reads_and_writes_the_saved_engine_dict_exactly(name: str) -> None:
    doc, _ = load(name)
    stored = doc["record"]["engine"]
    assert EngineState.from_dict(stored).to_dict() == stored
    assert EngineState.from_dict(stored).extra == {}  # every key is known by name


@pytest.mark.parametrize("name", NAMES)
def test_a_step_without_news_keeps_what_it_does_not_change(name: str) -> None:
    """One tick with no observation: nothing is measured, nothing moves on health."""
    doc, sim = load(name)
    t = sim.tick(observe=False)
    assert t.record.stable == doc["record"]["stable"]
    assert t.record.candidate == doc["record"]["candidate"]
    assert t.record.plan == doc["record"]["plan"]
    before = doc["record"]["engine"]
    after = dict(t.record.engine)
    assert after.get("counters") == before.get("counters")
    assert after.get("analysis", {}).get("last") == before.get("analysis", {}).get("last")
    if doc["record"]["phase"] == "Completed":
        assert after == before


def test_canary_mid_analysis_goes_on_to_the_gate_and_completes() -> None:
    _, sim = load("canary-mid-analysis")
    assert sim.rec.engine["counters"]["inconclusive_in_a_row"] == 1
    sim.tick(2)  # the next measurement (due at +5 after the last) passes
    assert sim.rec.engine["counters"]["inconclusive_in_a_row"] == 0
    assert sim.rec.step_index == 1
    sim.run_until(lambda s: s.rec.phase is Phase.PAUSED, limit=60)
    assert sim.rec.step_index == 3 and sim.rec.engine["pause"]["kind"] == "gate"
    finish(sim)
    assert sim.rec.phase is Phase.COMPLETED
    assert sim.world.weights == {"v1": 0, "v2": 100}
    assert sim.splits() == [{"v1": 50, "v2": 50}, {"v1": 0, "v2": 100}]


def test_canary_deploying_waits_for_the_candidate_then_routes_and_steps() -> None:
    _, sim = load("canary-deploying")
    sim.tick()
    assert sim.rec.phase is Phase.PENDING and sim.actions() == []
    sim.world.readiness["v2"] = "all"
    t = sim.tick()
    assert t.record.phase is Phase.PROGRESSING
    kinds = [type(a) for a in t.actions]
    assert kinds == [SetMatch, SetMirror, SetSplit]
    finish(sim)
    assert sim.rec.phase is Phase.COMPLETED
    assert sim.world.match_version is None and sim.world.mirror == (None, 0)


def test_canary_with_match_and_mirror_clears_them_when_done() -> None:
    _, sim = load("canary-match-mirror")
    assert sim.world.match_version == "v2" and sim.world.mirror == ("v2", 20)
    finish(sim)
    assert sim.rec.phase is Phase.COMPLETED
    assert sim.world.match_version is None and sim.world.mirror == (None, 0)


def test_canary_promoted_step_leaves_once_health_allows_without_evidence() -> None:
    _, sim = load("canary-promoted-waiting-health")
    assert sim.rec.step_index == 2
    sim.tick()
    assert sim.rec.step_index == 2 and sim.world.weights == {"v1": 90, "v2": 10}
    sim.world.readiness["v2"] = "all"
    sim.tick()
    # The split is set, and the waived step is left at once: the manual gate follows.
    assert sim.world.weights == {"v1": 50, "v2": 50}
    assert sim.rec.step_index == 3 and sim.rec.phase is Phase.PAUSED
    finish(sim)
    assert sim.rec.phase is Phase.COMPLETED


def test_canary_retried_keeps_its_retry_count_and_completes() -> None:
    _, sim = load("canary-retried")
    finish(sim)
    assert sim.rec.phase is Phase.COMPLETED and sim.rec.engine["retries"] == 1


def test_canary_user_pause_freezes_the_timed_step_until_resumed() -> None:
    _, sim = load("canary-user-paused")
    pause = sim.rec.engine["pause"]
    left = sim.rec.step_started_at + 30.0 - pause["at"]
    assert left > 1
    sim.run(20)
    assert sim.rec.phase is Phase.PAUSED and sim.rec.step_index == 1
    sim.command("resume")
    resumed = sim.now
    sim.run_until(lambda s: s.rec.step_index == 2, limit=100)
    assert sim.now == resumed + left
    finish(sim)
    assert sim.rec.phase is Phase.COMPLETED


def test_canary_metrics_error_pause_ends_when_metrics_return() -> None:
    _, sim = load("canary-paused-metrics-error")
    sim.run(3)
    assert sim.rec.phase is Phase.PAUSED
    sim.world.metrics_mode = "pass"
    sim.run_until(lambda s: s.rec.phase is not Phase.PAUSED, limit=10)
    assert any("metrics source reachable again" in m for m in sim.messages("resume"))
    finish(sim)
    assert sim.rec.phase is Phase.COMPLETED


def test_canary_rolled_back_can_be_retried() -> None:
    _, sim = load("canary-rolled-back")
    sim.world.metrics_mode = "pass"
    t = sim.command("retry")
    assert t.record.phase is Phase.PROGRESSING and t.record.engine["retries"] == 1
    assert t.record.engine["counters"]["failures"] == 0
    finish(sim)
    assert sim.rec.phase is Phase.COMPLETED


def test_canary_rollback_waiting_finishes_once_the_stable_is_ready() -> None:
    _, sim = load("canary-rollback-waiting")
    sim.tick()
    assert sim.rec.phase is Phase.PROGRESSING and sim.actions() == []
    sim.world.readiness["v1"] = "all"
    t = sim.tick()
    assert t.actions == (SetSplit({"v1": 100, "v2": 0}),)
    assert t.record.phase is Phase.ROLLED_BACK
    assert "rollback" not in t.record.engine


def test_canary_promote_full_completes_once_the_candidate_is_ready() -> None:
    _, sim = load("canary-promote-full-waiting")
    sim.world.readiness["v2"] = "all"
    t = sim.tick()
    assert t.actions == (SetSplit({"v1": 0, "v2": 100}),)
    assert t.record.phase is Phase.COMPLETED and "promoted fully" in t.record.message


def test_bluegreen_preview_waits_for_promote_then_switches_and_retires() -> None:
    _, sim = load("bluegreen-preview")
    sim.run_until(lambda s: s.rec.phase is Phase.PAUSED, limit=30)
    assert sim.rec.engine["sub"] == "await" and sim.world.weights == {"v1": 100}
    t = sim.command("promote")
    assert t.actions[0] == SetSplit({"v1": 0, "v2": 100})
    assert t.record.engine["promoted"] is True
    finish(sim)
    assert sim.rec.phase is Phase.COMPLETED and sim.world.total["v1"] == 0
    assert Retire("v1") in sim.actions()


def test_bluegreen_promoted_early_switches_once_the_pool_is_ready() -> None:
    _, sim = load("bluegreen-promoted-early")
    sim.world.readiness["v2"] = "all"
    sim.tick()
    assert sim.world.weights == {"v1": 0, "v2": 100}
    assert sim.rec.engine["sub"] == "post"
    finish(sim)
    assert sim.rec.phase is Phase.COMPLETED


def test_bluegreen_post_retires_the_stable_after_the_delay() -> None:
    _, sim = load("bluegreen-post")
    left = sim.rec.step_started_at + 60.0 - sim.now
    sim.run(left - 1)
    assert sim.rec.phase is Phase.PROGRESSING
    sim.tick()
    assert sim.rec.phase is Phase.COMPLETED and sim.transitions[-1].actions == (Retire("v1"),)


def test_rolling_mid_batch_goes_on_when_instances_are_ready() -> None:
    _, sim = load("rolling-mid-batch")
    sim.run(3)
    assert sim.rec.engine["sub"] == "wait-ready" and sim.rec.step_index == 1
    sim.world.readiness["v2"] = "all"
    finish(sim)
    assert sim.rec.phase is Phase.COMPLETED
    assert sim.world.total == {"v1": 0, "v2": 3}
    assert sim.world.weights == {"v1": 0, "v2": 100}


def test_rolling_promoted_skips_the_pause_between_batches() -> None:
    _, sim = load("rolling-promoted-min-ready")
    sim.run_until(lambda s: s.rec.step_index == 1, limit=60)
    done = sim.now
    sim.run_until(lambda s: ("v2", 2) in scales(s), limit=60)
    assert sim.now - done < 60  # pauseBetweenBatches is 60 s: the promote waived it


def scales(sim: Sim) -> list[tuple[str, int]]:
    return [(a.version, a.instances) for a in sim.actions() if isinstance(a, Scale)]


def test_rolling_rolled_back_retries_with_the_sizes_it_had() -> None:
    _, sim = load("rolling-rolled-back")
    assert sim.world.total == {"v1": 3, "v2": 0}
    sim.world.metrics_mode = "pass"
    t = sim.command("retry")
    assert t.record.engine["rolling"]["stable_start"] == 3
    finish(sim)
    assert sim.rec.phase is Phase.COMPLETED and sim.world.total == {"v1": 0, "v2": 3}


def test_native_rolling_held_is_released_after_the_gate_and_completes() -> None:
    _, sim = load("native-rolling-held")
    world = sim.world
    assert isinstance(world, OneDeployment) and world.paused
    sim.run_until(lambda s: not world.paused, limit=60)
    assert holds(world) == [False]
    finish(sim)
    assert sim.rec.phase is Phase.COMPLETED
    assert world.total == {"v1": 0, "v2": 3} and world.template == "v2"
    assert not any(isinstance(a, RollingUpdate) for a in world.applied)
    assert [type(a) for a in world.applied].count(HoldRollout) >= 2
