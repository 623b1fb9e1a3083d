"""The engine simulator of engine_kit.py checks itself before the engine tests rely on it."""

from __future__ import annotations

from backends.base import Phase
from tests.core.engine_kit import Sim, canary_plan, check_record


def test_sim_start_keeps_stable_and_records_round_trip() -> None:
    sim = Sim(canary_plan())
    t = sim.start()
    assert t.record.phase in (Phase.PENDING, Phase.PROGRESSING)
    assert sim.world.weights == {"v1": 90, "v2": 10}
    check_record(t.record)
