"""Rolling-update paths of the engine, with an injected clock and a simulated world."""

from __future__ import annotations

from backends.base import Deploy, Observation, Phase, Retire, Scale, SetSplit, TrafficSplit
from console.engine import machine as engine
from console.engine.rolling import proportional
from console.plan.model import RollingSpec
from tests.core.engine_kit import Sim, World, metrics_spec, rolling_plan


def world(stable: int = 3) -> World:
    return World(total={"v1": stable, "v2": 0})


def scales(sim: Sim) -> list[tuple[str, int]]:
    """Every sizing action (Deploy or Scale) as (version, instances)."""
    return [(a.version, a.instances) for a in sim.actions() if isinstance(a, Scale | Deploy)]


def test_proportional_weights_are_integers_summing_to_100() -> None:
    assert proportional("v1", 2, "v2", 1) == {"v1": 67, "v2": 33}
    assert proportional("v1", 0, "v2", 5) == {"v1": 0, "v2": 100}
    assert proportional("v1", 5, "v2", 0) == {"v1": 100, "v2": 0}
    assert proportional("v1", 0, "v2", 0) is None
    for s in range(0, 12):
        for c in range(0, 12):
            w = proportional("v1", s, "v2", c)
            if w is not None:
                assert sum(w.values()) == 100
                assert (w["v1"] == 0 or s > 0) and (w["v2"] == 0 or c > 0)


def test_one_at_a_time_with_analysis_between_batches() -> None:
    sim = Sim(rolling_plan(), world())
    t = sim.start()
    # The candidate does not run yet: the first batch deploys it.
    assert t.actions == (Deploy("v2", 1),) and t.record.phase is Phase.PROGRESSING
    sim.tick()  # v2 1/1 ready, minReady 0: traffic moves, then v1 goes down by one
    assert sim.world.weights == {"v1": 67, "v2": 33}
    assert scales(sim)[-1] == ("v1", 2) and sim.rec.step_index == 1
    sim.run(4)
    assert scales(sim)[-1] == ("v1", 2)  # waiting for a passing measurement
    sim.tick()
    assert scales(sim)[-1] == ("v2", 2)
    sim.run(30)
    assert sim.rec.phase is Phase.COMPLETED
    assert sim.splits() == [{"v1": 67, "v2": 33}, {"v1": 33, "v2": 67}, {"v1": 0, "v2": 100}]
    assert scales(sim) == [("v2", 1), ("v1", 2), ("v2", 2), ("v1", 1), ("v2", 3), ("v1", 0)]
    assert isinstance(sim.actions()[-1], Retire)
    assert "all 3 v2 instances ready; v1 retired" in sim.rec.message


def test_min_ready_is_counted_from_when_the_batch_became_ready() -> None:
    sim = Sim(rolling_plan(RollingSpec(min_ready=5.0), analysis=None), world())
    sim.start()
    sim.run(4)
    assert sim.world.weights == {"v1": 100}
    sim.world.readiness["v2"] = "none"  # flaps: the countdown starts again
    sim.tick()
    sim.world.readiness["v2"] = "all"
    sim.run(5)
    assert sim.world.weights == {"v1": 100}
    sim.tick()
    assert sim.world.weights == {"v1": 67, "v2": 33}


def test_max_unavailable_scales_the_stable_down_first() -> None:
    spec = RollingSpec(max_surge=0, max_unavailable=1, min_ready=0.0)
    sim = Sim(rolling_plan(spec, analysis=None), world())
    t = sim.start()
    assert t.actions == (Scale("v1", 2), Deploy("v2", 1))
    sim.run(10)
    assert sim.rec.phase is Phase.COMPLETED
    # Never more than 3 instances asked for at once.
    counts = {"v1": 3, "v2": 0}
    for v, n in scales(sim):
        counts[v] = n
        assert counts["v1"] + counts["v2"] <= 3


def test_the_stable_keeps_an_instance_until_a_candidate_one_counts() -> None:
    # maxUnavailable as large as the stable: the first batch may not take every stable
    # instance away while all the traffic is still on it.
    for readiness in ("all", "none"):
        spec = RollingSpec(max_surge=0, max_unavailable=3, min_ready=0.0)
        w = world()
        w.readiness["v2"] = readiness
        sim = Sim(rolling_plan(spec, analysis=None), w)
        t = sim.start()
        assert t.actions == (Scale("v1", 1), Deploy("v2", 3))
        sim.run(3)
        if readiness == "none":
            assert w.total == {"v1": 1, "v2": 3} and w.weights == {"v1": 100}
            continue
        assert sim.rec.phase is Phase.COMPLETED
        assert scales(sim) == [("v1", 1), ("v2", 3), ("v1", 0)]
        assert sim.splits() == [{"v1": 0, "v2": 100}]


def test_max_surge_sets_the_batch_size() -> None:
    sim = Sim(rolling_plan(RollingSpec(max_surge=2, min_ready=0.0), analysis=None), world(4))
    sim.start()
    sim.run(5)
    assert sim.rec.phase is Phase.COMPLETED
    assert scales(sim) == [("v2", 2), ("v1", 2), ("v2", 4), ("v1", 0)]
    assert sim.rec.engine["rolling"]["batches"] == 2


def test_instances_can_differ_from_the_stable_count() -> None:
    sim = Sim(rolling_plan(RollingSpec(instances=2, min_ready=0.0), analysis=None), world(3))
    sim.start()
    sim.run(10)
    assert sim.rec.phase is Phase.COMPLETED
    assert sim.world.total == {"v1": 0, "v2": 2}


def test_pause_between_batches_and_promote_skips_it() -> None:
    spec = RollingSpec(min_ready=0.0, pause_between_batches=60.0)
    sim = Sim(rolling_plan(spec, analysis=None), world())
    sim.start()
    sim.tick()
    assert sim.rec.engine["sub"] == "between"
    assert engine.next_tick(sim.rec, sim.plan, sim.now) == sim.now + 5  # heartbeat first
    sim.run(30)
    assert sim.rec.step_index == 1 and scales(sim)[-1] == ("v1", 2)
    sim.command("promote")
    assert scales(sim)[-1] == ("v2", 2)


def test_weights_follow_ready_instances() -> None:
    sim = Sim(rolling_plan(analysis=None), world())
    sim.start()
    sim.run(2)
    assert sim.world.weights == {"v1": 33, "v2": 67}
    sim.world.readiness["v2"] = "none"
    sim.tick()
    assert sim.world.weights == {"v1": 100, "v2": 0}
    sim.world.readiness["v2"] = "all"
    sim.world.readiness["v1"] = "none"
    sim.tick()
    assert sim.world.weights == {"v1": 0, "v2": 100}


def test_breach_rolls_back_stable_up_first_then_candidate_down() -> None:
    sim = Sim(rolling_plan(analysis=metrics_spec(failure_limit=0)), world())
    sim.start()
    sim.tick()
    assert sim.world.weights == {"v1": 67, "v2": 33}
    sim.world.metrics_mode = "fail"
    sim.run(5)
    assert sim.transitions[-1].actions == (Scale("v1", 3),)
    assert sim.rec.phase is Phase.PROGRESSING and "rollback" in sim.rec.engine
    sim.world.readiness["v1"] = "partial"  # the restored instance takes a while
    sim.run(3)
    assert sim.world.weights == {"v1": 67, "v2": 33}
    assert any(m.startswith("rollback waits: v1 has 2/3") for m in sim.messages("health"))
    sim.world.readiness["v1"] = "all"
    t = sim.tick()
    assert t.actions == (SetSplit({"v1": 100, "v2": 0}), Scale("v2", 0))
    assert t.record.phase is Phase.ROLLED_BACK
    assert sim.world.total == {"v1": 3, "v2": 0}


def test_abort_right_after_start_scales_the_candidate_back() -> None:
    sim = Sim(rolling_plan(), world())
    sim.start()
    t = sim.command("abort")
    assert t.actions == (Scale("v2", 0),) and t.record.phase is Phase.ABORTED


def test_promote_full_brings_every_instance_up_before_the_stable_goes() -> None:
    sim = Sim(rolling_plan(RollingSpec(min_ready=0.0)), world(4))
    sim.start()
    sim.tick()
    sim.command("promote-full")
    sim.run(3)
    assert sim.rec.phase is Phase.COMPLETED
    assert scales(sim) == [("v2", 1), ("v1", 3), ("v2", 4), ("v1", 0)]


def test_retry_after_rollback_restarts_from_the_first_batch() -> None:
    sim = Sim(rolling_plan(analysis=metrics_spec(failure_limit=0)), world())
    sim.start()
    sim.tick()
    sim.world.metrics_mode = "fail"
    sim.run_until(lambda s: s.rec.phase.terminal, limit=10)
    assert sim.rec.phase is Phase.ROLLED_BACK
    sim.world.metrics_mode = "pass"
    t = sim.command("retry")
    assert t.actions == (Deploy("v2", 1),)
    assert t.record.step_index == 0 and t.record.engine["rolling"]["stable_start"] == 3


def test_the_update_is_sized_only_from_a_successful_health_read() -> None:
    plan = rolling_plan(analysis=None)
    obs = Observation(
        at=1000.0,
        health={},
        split=TrafficSplit(weights={"v1": 100}),
        traffic_error="health: timed out",
    )
    t = engine.start(plan, obs, 1000.0)
    assert t.actions == () and t.record.engine["sub"] == "size"
    sim = Sim(plan, world(2))
    sim.record = t.record
    t = sim.tick()
    assert t.actions == (Deploy("v2", 1),)
    assert t.record.engine["rolling"]["stable_start"] == 2


def test_flapping_readiness_does_not_starve_analysis() -> None:
    sim = Sim(rolling_plan(analysis=metrics_spec(failure_limit=1, interval=5.0)), world())
    sim.start()
    sim.tick()
    sim.world.metrics_mode = "fail"
    for i in range(12):  # the weights follow v2's readiness every second
        sim.world.readiness["v2"] = "none" if i % 2 else "all"
        sim.tick()
    assert sim.rec.phase is Phase.ROLLED_BACK or "rollback" in sim.rec.engine
    assert sim.rec.step_index == 1  # and no second batch without evidence


def test_abort_before_the_candidate_took_traffic_ends_at_once_with_no_ready_stable() -> None:
    # The first batch is up but not ready: v2 never took weight, so traffic never left v1
    # and the abort has nothing to move, however unready v1 is.
    sim = Sim(rolling_plan(RollingSpec(max_unavailable=1, max_surge=0, min_ready=0.0)), world())
    sim.world.readiness.update(v1="none", v2="none")
    sim.start()
    t = sim.command("abort")
    assert t.record.phase is Phase.ABORTED, t.record.message
    assert t.actions == (Scale("v1", 3), Scale("v2", 0))
    assert "v2 never took traffic" in t.record.message
    assert sim.world.weights == {"v1": 100}


def test_rollback_after_traffic_moved_waits_for_the_stable_and_says_why() -> None:
    sim = Sim(rolling_plan(), world())
    sim.start()
    sim.tick()
    assert sim.world.weights == {"v1": 67, "v2": 33}
    sim.world.readiness["v1"] = "none"
    sim.command("abort")
    sim.run(40)
    assert sim.rec.phase is Phase.PROGRESSING and sim.world.weights == {"v1": 67, "v2": 33}
    waits = [m for m in sim.messages("health") if m.startswith("rollback waits")]
    # Said when it changes (v1 is scaled back to 3), then at most every 30 s.
    said = "rollback waits: v1 has 0/{} ready instances (need 3); v2 keeps 33% until then"
    assert waits == [said.format(2), said.format(3), said.format(3)]
    sim.world.readiness["v1"] = "all"
    assert sim.tick().record.phase is Phase.ABORTED


def test_pause_between_batches_is_not_taken_after_the_last_batch() -> None:
    spec = RollingSpec(max_surge=3, min_ready=0.0, pause_between_batches=60.0)
    sim = Sim(rolling_plan(spec, analysis=None), world())
    sim.start()  # one batch replaces all three instances
    sim.run(3)
    assert sim.rec.phase is Phase.COMPLETED, sim.rec.message
    assert sim.world.weights == {"v1": 0, "v2": 100}


def test_the_last_batch_still_needs_a_passing_measurement() -> None:
    spec = RollingSpec(max_surge=3, min_ready=0.0, pause_between_batches=60.0)
    sim = Sim(rolling_plan(spec), world())  # analysis every 5 s
    sim.start()
    sim.run(3)
    assert sim.rec.engine["sub"] == "between" and sim.rec.phase is Phase.PROGRESSING
    sim.run(15)  # well before the 60 s pause would be over
    assert sim.rec.phase is Phase.COMPLETED, sim.rec.message
