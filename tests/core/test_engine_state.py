"""EngineState reads and writes record.engine under the stored short keys, exactly."""

from __future__ import annotations

from typing import Any

import pytest

from backends.base import Phase, RolloutRecord, Strategy
from console.engine.state import EngineState, RollingProgress
from console.plan.model import BlueGreenSpec, RollingSpec
from tests.core.engine_kit import (
    Sim,
    World,
    bluegreen_plan,
    canary_plan,
    metrics_spec,
    rolling_plan,
)
from tests.core.test_engine_rolling_native import OneDeployment

ROLLING = {
    "stable_start": 3,
    "stable_ready_start": 2,
    "target": 4,
    "batch": 2,
    "unavailable": 1,
    "batches": 2,
    "s": 1,
    "s_end": 0,
    "c": 2,
    "c_next": 4,
    "c_scaled": 4,
}


def round_trip(d: dict[str, Any]) -> dict[str, Any]:
    return EngineState.from_dict(d).to_dict()


def test_rolling_fields_have_readable_names_over_the_short_keys() -> None:
    r = RollingProgress.from_dict(ROLLING)
    assert (r.stable_at_start, r.stable_ready_at_start, r.target) == (3, 2, 4)
    assert (r.batch_size, r.max_unavailable, r.batch_count) == (2, 1, 2)
    assert (r.stable_scaled_to, r.stable_after_batch) == (1, 0)
    assert (r.candidate_counted, r.candidate_next, r.candidate_scaled_to) == (2, 4, 4)
    r.stable_scaled_to = 0
    assert r.to_dict() == {**ROLLING, "s": 0}


def test_waive_is_a_step_index_for_canary_and_true_for_rolling() -> None:
    canary = EngineState.from_dict({"waive": 0})
    assert canary.canary.waived_step == 0 and not canary.gate_waived
    rolling = EngineState.from_dict({"waive": True})
    assert rolling.gate_waived and rolling.canary.waived_step is None
    assert round_trip({"waive": 0}) == {"waive": 0}
    assert round_trip({"waive": True}) == {"waive": True}


@pytest.mark.parametrize(
    "stored",
    [
        {},
        {"ready_since": None},
        {"ready_since": 12.5},
        {"notices": {}},
        {"analysis": {}},
        {"analysis": {"last_at": 3.0}},
        {"analysis": {"stage": "canary", "last_at": 3.0, "last": None}},
        {"custom": {}},
        {"rolling": {**ROLLING, "native": False}},
        {"rolling": {**ROLLING, "c_scaled": None}},
        {"rolling": {**ROLLING, "native": True, "started": True, "held": False}},
    ],
)
def test_absent_null_and_empty_stay_as_they_were(stored: dict[str, Any]) -> None:
    assert round_trip(stored) == stored


def test_keys_this_version_does_not_know_are_kept() -> None:
    stored = {"sub": "steps", "from_a_later_version": {"x": [1, 2]}}
    state = EngineState.from_dict(stored)
    assert state.extra == {"from_a_later_version": {"x": [1, 2]}}
    assert state.to_dict() == stored


def test_the_engine_reads_broken_rolling_progress_loudly_and_views_read_it_as_none() -> None:
    stored = {"sub": "batch", "rolling": {"s": 1}}
    with pytest.raises(KeyError):
        EngineState.from_dict(stored)
    record = RolloutRecord(
        "courses", Strategy.ROLLING, "v1", "v2", Phase.PROGRESSING, {}, engine=stored
    )
    assert EngineState.of_record(record) == EngineState()


def test_readers_outside_the_engine_see_the_pause_kind_and_stage() -> None:
    record = RolloutRecord(
        "courses",
        Strategy.CANARY,
        "v1",
        "v2",
        Phase.PAUSED,
        {},
        engine={"pause": {"kind": "gate"}, "analysis": {"stage": "canary"}},
    )
    state = EngineState.of_record(record)
    assert state.pause_kind == "gate" and state.stage == "canary"


def _sims() -> list[Sim]:
    strict = metrics_spec(failure_limit=0)
    bg = BlueGreenSpec(preview_analysis=strict, preview_duration=5.0, auto_promote=3.0)
    batches = RollingSpec(max_surge=1, max_unavailable=1, min_ready=2.0)
    native = RollingSpec(max_surge=1, max_unavailable=0, min_ready=2.0, pause_between_batches=9)
    return [
        Sim(canary_plan(analysis=strict)),
        Sim(bluegreen_plan(bluegreen=bg), World(total={"v1": 2, "v2": 0})),
        Sim(rolling_plan(batches, analysis=strict)),
        Sim(rolling_plan(native, analysis=strict), OneDeployment()),
    ]


@pytest.mark.parametrize("index", range(4))
def test_every_record_the_engine_writes_round_trips(index: int) -> None:
    """Through a whole rollout with a pause, a breach, a retry and a promote."""
    sim = _sims()[index]
    sim.start()
    sim.run(2)
    sim.command("pause", reason="look")
    sim.run(3)
    sim.command("resume")
    sim.world.metrics_mode = "fail"
    sim.run_until(lambda s: s.rec.phase.terminal, limit=60)
    sim.world.metrics_mode = "pass"
    sim.command("retry")
    for _ in range(200):
        if sim.rec.phase.terminal:
            break
        sim.command("promote") if sim.rec.phase is Phase.PAUSED else sim.tick()
    assert sim.rec.phase is Phase.COMPLETED, sim.rec.message
    assert sim.rec.engine["retries"] == 1
    assert {"pause", "breach", "rollback", "started"} <= set(sim.kinds())
    for stored in (dict(t.record.engine) for t in sim.transitions):
        assert round_trip(stored) == stored
