"""strategy: flag in the engine: steps of percent of users, analysis per variant, rollback to
the flag's default variant, with the simulated world of tests/core/engine_kit.py (variants
stand where versions stand: the driver maps them onto the FlagBackend)."""

from __future__ import annotations

from backends.base import Deploy, Phase, SetSplit, Strategy
from console.engine import machine as engine
from console.plan.load import parse_plan
from console.plan.model import Plan
from tests.core.engine_kit import Sim, World

PLAN = """
service: grades
strategy: flag
flag: new-gradebook
variant: on
steps:
  - setWeight: 20
  - pause: 10s
  - setWeight: 50
analysis:
  interval: 5s
  failureLimit: 1
  metrics:
    - name: error-rate
      max: 0.05
"""


def flag_plan(text: str = PLAN) -> Plan:
    return parse_plan(text, "flag.yaml")


def flag_world(**kw: object) -> World:
    return World(
        stable="off",
        candidate="on",
        total={"off": 2, "on": 2},
        readiness={"off": "all", "on": "all"},
        weights={"off": 100},
        **kw,  # type: ignore[arg-type]
    )


def test_healthy_flag_rollout_steps_through_percents_and_makes_the_variant_the_default() -> None:
    sim = Sim(flag_plan(), flag_world())
    t = sim.start()
    assert t.record.strategy is Strategy.FLAG
    assert (t.record.stable, t.record.candidate) == ("off", "on")
    assert "flag new-gradebook of grades: off -> on" in t.events[0].message
    assert t.actions == (SetSplit({"off": 80, "on": 20}),)
    sim.run_until(lambda s: s.rec.phase.terminal, limit=200)
    assert sim.rec.phase is Phase.COMPLETED
    assert sim.splits() == [{"off": 80, "on": 20}, {"off": 50, "on": 50}, {"off": 0, "on": 100}]
    assert "on is the default variant for every user" in sim.rec.message
    assert not any(isinstance(a, Deploy) for a in sim.actions())  # nothing to deploy


def test_faulty_variant_rolls_back_to_the_default_variant_with_the_reason_in_words() -> None:
    world = flag_world()
    world.metrics_mode = "fail"
    sim = Sim(flag_plan(), world)
    sim.start()
    sim.run_until(lambda s: s.rec.phase.terminal, limit=100)
    assert sim.rec.phase is Phase.ROLLED_BACK
    assert sim.world.weights == {"off": 100, "on": 0}
    assert "error-rate" in sim.rec.message
    assert "flag new-gradebook back to its default variant off for every user" in sim.rec.message
    assert any(m.endswith("-> rolling back") for m in sim.messages("breach"))


def test_abort_sets_the_flag_back_to_its_default_at_once() -> None:
    sim = Sim(flag_plan(), flag_world())
    sim.start()
    sim.run(3)
    t = sim.command("abort", reason="users complain")
    assert t.record.phase is Phase.ABORTED
    assert t.actions == (SetSplit({"off": 100, "on": 0}),)
    assert "users complain" in t.record.message and "back to its default variant off" in (
        t.record.message
    )


def test_waits_while_the_flag_lacks_the_variant() -> None:
    world = flag_world()
    world.total = {"off": 2}
    sim = Sim(flag_plan(), world)
    t = sim.start()
    assert t.actions == () and t.record.phase is Phase.PENDING
    assert "flag new-gradebook has no variant on" in t.record.message


def test_manual_gate_and_promote_work_as_in_a_canary() -> None:
    text = PLAN.replace("  - pause: 10s\n", "  - pause: {}\n")
    sim = Sim(flag_plan(text), flag_world())
    sim.start()
    sim.run_until(lambda s: s.rec.phase is Phase.PAUSED, limit=50)
    assert "waiting for promote" in sim.rec.message
    sim.command("promote")
    sim.run_until(lambda s: s.rec.phase.terminal, limit=50)
    assert sim.rec.phase is Phase.COMPLETED


def test_next_tick_counts_down_a_pause() -> None:
    sim = Sim(flag_plan(), flag_world())
    sim.start()
    sim.run_until(lambda s: s.rec.step_index == 1, limit=50)
    due = engine.next_tick(sim.rec, sim.plan, sim.now)
    assert due <= sim.rec.step_started_at + 10


def test_every_analysis_option_applies_per_variant_including_the_sequential_test() -> None:
    text = PLAN.replace(
        "    - name: error-rate\n      max: 0.05\n",
        "    - {name: error-rate, baseline: stable, maxRatio: 2, test: sequential}\n"
        "    - {name: latency-p99, max: 400ms}\n",
    )
    world = flag_world()
    world.metrics_mode = "fail"
    sim = Sim(flag_plan(text), world)
    sim.start()
    sim.run_until(lambda s: s.rec.phase.terminal, limit=100)
    assert sim.rec.phase is Phase.ROLLED_BACK
    assert "back to its default variant off" in sim.rec.message
    # The sequential test counted the variants' requests, and its failure breached.
    assert "error-rate" in sim.rec.engine["analysis"]["seq"]["tests"]
    assert "sequential test" in sim.rec.message
