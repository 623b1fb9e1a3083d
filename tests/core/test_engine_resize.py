"""Sizing actions that never landed are applied again.

The driver saves the record before it applies the actions, so a driver killed in between
leaves a record that says "v2 scaled to 2" over a backend that never heard of it. The next
observation (taken after the record's last sizing) shows the backend's desired instances,
and the engine re-issues what is missing instead of waiting forever.
"""

from __future__ import annotations

from backends.base import Deploy, Phase, Scale
from console.plan.model import BlueGreenSpec, RollingSpec
from tests.core.engine_kit import Sim, World, bluegreen_plan, rolling_plan


def sizes(sim: Sim) -> list[tuple[str, str, int]]:
    return [
        (type(a).__name__, a.version, a.instances)
        for a in sim.actions()
        if isinstance(a, Deploy | Scale)
    ]


def test_a_lost_first_batch_is_deployed_again_and_the_update_completes() -> None:
    world = World(total={"v1": 3, "v2": 0}, report_desired=True, lose=1)
    sim = Sim(rolling_plan(RollingSpec(min_ready=0.0), analysis=None), world)
    sim.start()
    assert world.total["v2"] == 0  # the Deploy never landed
    sim.tick()
    assert sizes(sim)[:2] == [("Deploy", "v2", 1), ("Deploy", "v2", 1)]
    assert any("re-applying v2 at 1 instances" in m for m in sim.messages("health"))
    sim.run_until(lambda s: s.rec.phase.terminal, limit=40)
    assert sim.rec.phase is Phase.COMPLETED and world.total == {"v1": 0, "v2": 3}


def test_a_lost_stable_scale_back_during_rollback_is_applied_again() -> None:
    world = World(total={"v1": 3, "v2": 0}, report_desired=True)
    sim = Sim(rolling_plan(RollingSpec(min_ready=0.0), analysis=None), world)
    sim.start()
    sim.run(2)
    assert world.total["v1"] < 3
    world.lose = 1
    sim.command("abort")
    assert world.total["v1"] < 3  # the scale back never landed
    sim.run_until(lambda s: s.rec.phase.terminal, limit=20)
    assert sim.rec.phase is Phase.ABORTED
    assert world.total["v1"] == 3 and world.on_one() == "v1"


def test_a_lost_blue_green_preview_pool_is_deployed_again() -> None:
    world = World(total={"v1": 3, "v2": 0}, report_desired=True, lose=1)
    sim = Sim(bluegreen_plan(bluegreen=BlueGreenSpec(auto_promote=0.0)), world)
    sim.start()
    assert world.total["v2"] == 0
    sim.run_until(lambda s: s.rec.phase.terminal, limit=60)
    assert sim.rec.phase is Phase.COMPLETED and world.on_one() == "v2"
    assert sizes(sim).count(("Deploy", "v2", 3)) == 2


def test_a_backend_that_does_not_report_desired_is_not_second_guessed() -> None:
    world = World(total={"v1": 3, "v2": 0}, lose=1)  # desired unknown
    sim = Sim(rolling_plan(RollingSpec(min_ready=0.0), analysis=None), world)
    sim.start()
    sim.run(5)
    assert sizes(sim) == [("Deploy", "v2", 1)]  # waits (and says so) rather than guessing
    assert sim.rec.phase is Phase.PROGRESSING


def test_sizes_that_landed_are_never_reissued() -> None:
    world = World(total={"v1": 3, "v2": 0}, report_desired=True)
    sim = Sim(rolling_plan(RollingSpec(min_ready=0.0), analysis=None), world)
    sim.start()
    sim.run_until(lambda s: s.rec.phase.terminal, limit=40)
    assert sim.rec.phase is Phase.COMPLETED
    assert not any("re-applying" in m for m in sim.messages())
