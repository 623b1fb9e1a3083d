"""progressDeadline: a candidate never ready, losing readiness or restarting repeatedly while
it takes traffic triggers onFailure with the health reason in words."""

from __future__ import annotations

from dataclasses import dataclass, field

from backends.base import Phase, VersionHealth
from console.engine.deadline import RESTART_LIMIT
from console.engine.state import EngineState
from console.plan.model import OnFailure, PauseStep, SetWeightStep
from tests.core.engine_kit import Sim, World, canary_plan, metrics_spec, rolling_plan

STEPS = (SetWeightStep(20), PauseStep(600.0), SetWeightStep(50), PauseStep(None))


@dataclass
class Restarting(World):
    """A world whose versions report restart counts and a reason."""

    restarts: dict[str, int] = field(default_factory=dict)

    def health(self) -> dict[str, VersionHealth]:
        out = {}
        for v, n in self.total.items():
            r = self.restarts.get(v, 0)
            why = (f"CrashLoopBackOff: courses-{v}-0 exit 1",) if r else ()
            out[v] = VersionHealth(v, self.ready(v), n, restarts=r, reasons=why)
        return out


def _sim(world: World | None = None, deadline: float = 30.0, **analysis: object) -> Sim:
    plan = canary_plan(steps=STEPS, analysis=metrics_spec(**analysis), progress_deadline=deadline)
    sim = Sim(plan, world or Restarting())
    sim.start()
    return sim


def _breach(sim: Sim) -> str:
    (msg,) = sim.messages("breach")
    return msg


def test_a_candidate_never_ready_rolls_back_after_the_deadline() -> None:
    world = Restarting(readiness={"v1": "all", "v2": "none"})
    sim = _sim(world)
    sim.run(29)
    assert not sim.rec.phase.terminal and "breach" not in sim.kinds()
    sim.run_until(lambda s: s.rec.phase.terminal, limit=10)
    assert sim.rec.phase is Phase.ROLLED_BACK
    msg = _breach(sim)
    assert "v2 is not healthy after progressDeadline 30s: v2 0/3 ready" in msg, msg
    assert "v2 is not healthy after progressDeadline" in sim.rec.message


def test_a_candidate_ready_in_time_goes_on() -> None:
    world = Restarting(readiness={"v1": "all", "v2": "none"})
    sim = _sim(world)
    sim.run(20)
    world.readiness["v2"] = "all"
    sim.run(60)
    assert sim.rec.phase is Phase.PROGRESSING and "breach" not in sim.kinds()
    assert world.weights.get("v2") == 20


def test_losing_readiness_while_exposed_rolls_back_with_the_reason() -> None:
    sim = _sim()
    sim.run(10)
    assert sim.world.weights.get("v2") == 20
    sim.world.readiness["v2"] = "partial"
    sim.run_until(lambda s: s.rec.phase.terminal, limit=60)
    assert sim.rec.phase is Phase.ROLLED_BACK
    msg = _breach(sim)
    assert "v2 lost readiness while taking traffic" in msg and "v2 2/3 ready" in msg, msg
    assert sim.world.weights.get("v2", 0) == 0


def test_restarting_repeatedly_while_exposed_rolls_back_at_once() -> None:
    world = Restarting(restarts={"v2": 1})  # restarted once before: not counted
    sim = _sim(world, deadline=600.0)
    sim.run(10)
    world.restarts["v2"] = 3
    sim.tick()
    assert "breach" not in sim.kinds()
    world.restarts["v2"] = 4
    sim.run_until(lambda s: s.rec.phase.terminal, limit=10)
    msg = _breach(sim)
    assert "v2 restarted 3 times while taking traffic" in msg, msg
    assert "CrashLoopBackOff: courses-v2-0 exit 1" in msg


def test_on_failure_pause_holds_and_resume_gives_a_whole_deadline() -> None:
    world = Restarting(readiness={"v1": "all", "v2": "none"})
    sim = _sim(world, on_failure=OnFailure.PAUSE)
    sim.run_until(lambda s: s.rec.phase is Phase.PAUSED, limit=40)
    assert EngineState.of_record(sim.rec).pause_kind == "breach"
    assert "not healthy after progressDeadline" in sim.rec.message
    sim.run(100)  # held: nothing more happens
    assert len(sim.messages("breach")) == 1
    sim.command("resume")
    sim.run(25)
    assert sim.rec.phase is not Phase.PAUSED
    sim.run_until(lambda s: s.rec.phase is Phase.PAUSED, limit=10)
    assert len(sim.messages("breach")) == 2


def test_old_records_without_the_keys_read_and_store_unchanged() -> None:
    d = {"sub": "steps", "counters": {"failures": 0}}
    assert "unhealthy_since" not in EngineState.from_dict(d).to_dict()


def _rolling(world: World, deadline: float = 30.0) -> Sim:
    plan = rolling_plan(analysis=metrics_spec(), progress_deadline=deadline)
    sim = Sim(plan, world)
    sim.start()
    return sim


def test_a_rolling_batch_that_never_gets_ready_rolls_back_after_the_deadline() -> None:
    world = Restarting(total={"v1": 3, "v2": 0}, readiness={"v1": "all", "v2": "none"})
    sim = _rolling(world)
    sim.run(25)
    assert not sim.rec.phase.terminal and "breach" not in sim.kinds()
    sim.run_until(lambda s: s.rec.phase.terminal, limit=30)
    assert sim.rec.phase is Phase.ROLLED_BACK
    assert "v2 is not healthy after progressDeadline 30s" in _breach(sim)
    assert world.ready("v1") == 3  # the stable keeps (or gets back) every instance


def test_rolling_batches_that_get_ready_within_the_deadline_complete() -> None:
    world = Restarting(total={"v1": 3, "v2": 0}, readiness={"v1": "all", "v2": "none"})
    sim = _rolling(world, deadline=30.0)
    for _ in range(12):  # each batch takes 20 s to get ready: slow, but within 30 s
        sim.run(20)
        world.readiness["v2"] = "all"
        sim.run(3)
        if sim.rec.phase.terminal:
            break
        world.readiness["v2"] = "none"
    sim.run_until(lambda s: s.rec.phase.terminal, limit=120)
    assert sim.rec.phase is Phase.COMPLETED and "breach" not in sim.kinds()


@dataclass
class Counted(Restarting):
    """A world where the test says how many of a version's instances are ready."""

    ready_now: dict[str, int] = field(default_factory=dict)

    def ready(self, v: str) -> int:
        if v in self.ready_now:
            return min(self.ready_now[v], self.total.get(v, 0))
        return super().ready(v)


def test_progress_starts_the_deadline_again() -> None:
    # One more candidate instance ready every 20 s: never all ready for 60 s, longer than
    # the 30 s deadline, but progressing all along (a Deployment's deadline would not fire).
    world = Counted(ready_now={"v2": 0})
    sim = _sim(world, deadline=30.0)
    for n in (1, 2, 3):
        sim.run(20)
        assert "breach" not in sim.kinds(), sim.messages("breach")
        world.ready_now["v2"] = n
    sim.run(40)
    assert sim.rec.phase is Phase.PROGRESSING and "breach" not in sim.kinds()
    assert world.weights.get("v2") == 20


def test_no_progress_for_the_deadline_still_fails() -> None:
    world = Counted(ready_now={"v2": 1})  # one of three ready, and no more
    sim = _sim(world, deadline=30.0)
    sim.run_until(lambda s: s.rec.phase.terminal, limit=40)
    assert sim.rec.phase is Phase.ROLLED_BACK
    assert "v2 1/3 ready" in _breach(sim)


def test_restarts_while_new_rolling_instances_start_do_not_add_up() -> None:
    world = Restarting(total={"v1": 3, "v2": 0}, readiness={"v1": "all", "v2": "partial"})
    sim = _rolling(world, deadline=600.0)
    for n in range(1, 8):  # each new instance restarts once while starting, then is ready
        world.readiness["v2"] = "partial"
        world.restarts["v2"] = n
        sim.run(3)
        world.readiness["v2"] = "all"
        sim.run(3)
        if sim.rec.phase.terminal:
            break
    sim.run_until(lambda s: s.rec.phase.terminal, limit=120)
    assert sim.rec.phase is Phase.COMPLETED and "breach" not in sim.kinds()
    assert world.restarts["v2"] >= RESTART_LIMIT  # enough to roll back if they added up
