"""Rolling update done by the workload's own controller (one Deployment per service).

``OneDeployment`` is a World whose two versions are the old and new pods of a single
Deployment: a small controller (one surge batch per observation, never below
``replicas - maxUnavailable`` available) moves them unless ``spec.paused``, and the engine
only sees a ``RolloutStatus`` beside the per-version health.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from backends.base import (
    Deploy,
    HoldRollout,
    Observation,
    Phase,
    RollingUpdate,
    RolloutStatus,
    Scale,
    SetSplit,
    TrafficSplit,
    UndoRollout,
)
from console.engine.machine import Transition
from console.plan.model import RollingSpec
from tests.core.engine_kit import Sim, World, metrics_spec, rolling_plan


@dataclass
class OneDeployment(World):
    template: str = "v1"
    replicas: int = 3
    surge: int = 1
    unavailable: int = 0
    paused: bool = False
    revision: int = 1
    frozen: bool = False  # the controller is stuck (no progress at all)
    down: bool = False  # the API server does not answer
    lose: int = 0  # the next this many actions never land (the driver died before applying)
    applied: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.total = {"v1": self.replicas, "v2": 0}

    def reconcile(self) -> None:
        """One step of the Deployment controller."""
        if self.paused or self.frozen:
            return
        new = self.template
        old = [v for v in self.total if v != new]
        for v in old:  # unready old pods go first: they serve nothing
            self.total[v] = min(self.total[v], self.ready(v)) if self.total[v] else 0
        room = self.replicas + self.surge - sum(self.total.values())
        if self.total.get(new, 0) < self.replicas and room > 0:
            self.total[new] = self.total.get(new, 0) + min(room, self.replicas - self.total[new])
        available = self.ready(new) + sum(self.ready(v) for v in old)
        removable = max(0, available - (self.replicas - self.unavailable))
        for v in old:
            cut = min(self.total[v], removable)
            self.total[v] -= cut
            removable -= cut
        if self.total.get(new, 0) > self.replicas:
            self.total[new] = self.replicas

    def observe(self, now: float) -> Observation:
        if self.down:
            return Observation(at=now, health={}, traffic_error="connection refused")
        self.reconcile()
        obs = super().observe(now)
        ready = {v: self.ready(v) for v in self.total}
        split = TrafficSplit(
            weights={v: round(100 * r / max(1, sum(ready.values()))) for v, r in ready.items()},
            approximate=True,
        )
        status = RolloutStatus(
            version=self.template,
            revision=self.revision,
            desired=self.replicas,
            updated=self.total.get(self.template, 0),
            ready=sum(ready.values()),
            paused=self.paused,
        )
        return Observation(
            at=obs.at,
            health=obs.health,
            split=split,
            metrics=obs.metrics,
            custom=obs.custom,
            metrics_error=obs.metrics_error,
            rollout=status,
        )

    def apply(self, t: Transition, obs: Observation | None, strategy: Any) -> None:
        for a in t.actions:
            assert not isinstance(a, SetSplit | Scale | Deploy), f"{a} on a native rollout"
            self.applied.append(a)
            if self.lose > 0:
                self.lose -= 1
                continue
            if isinstance(a, RollingUpdate):
                self.template, self.replicas = a.version, a.instances
                self.surge, self.unavailable = a.max_surge, a.max_unavailable
                self.paused, self.revision = False, self.revision + 1
                self.total.setdefault(a.version, 0)
            elif isinstance(a, HoldRollout):
                self.paused = a.hold
            elif isinstance(a, UndoRollout):
                self.template, self.paused, self.revision = a.version, False, self.revision + 1


def holds(world: OneDeployment) -> list[bool]:
    return [a.hold for a in world.applied if isinstance(a, HoldRollout)]


def plan(**kw: Any) -> Any:
    return rolling_plan(RollingSpec(max_surge=1, max_unavailable=0, min_ready=0.0), **kw)


def test_the_controller_rolls_and_the_engine_holds_it_between_batches_for_analysis() -> None:
    world = OneDeployment()
    sim = Sim(plan(), world)
    t = sim.start()
    assert t.actions == (RollingUpdate("v2", 3, max_surge=1, max_unavailable=0, min_ready=0.0),)
    assert t.record.engine["rolling"]["native"] is True
    assert t.record.phase is Phase.PROGRESSING
    sim.tick()  # one v2 pod ready: the batch counts, the controller is held for analysis
    assert holds(world) == [True] and world.paused
    assert sim.rec.engine["sub"] == "between" and world.total == {"v1": 2, "v2": 1}
    sim.run(4)
    assert world.total == {"v1": 2, "v2": 1}  # held: nothing moves
    sim.run_until(lambda s: s.rec.phase.terminal, limit=60)
    assert sim.rec.phase is Phase.COMPLETED, sim.rec.message
    assert world.total == {"v1": 0, "v2": 3} and world.template == "v2"
    assert holds(world) == [True, False, True, False]  # two boundaries between three batches
    assert dict(sim.rec.weights) == {"v1": 0, "v2": 100}
    assert "all 3 v2 pods ready; no v1 pod left" in sim.rec.message


def test_without_analysis_or_pauses_the_controller_is_never_held() -> None:
    world = OneDeployment()
    sim = Sim(plan(analysis=None), world)
    sim.start()
    sim.run_until(lambda s: s.rec.phase.terminal, limit=20)
    assert sim.rec.phase is Phase.COMPLETED
    assert holds(world) == [] and [type(a) for a in world.applied] == [RollingUpdate]


def test_the_recorded_split_follows_ready_pods_without_any_split_action() -> None:
    world = OneDeployment()
    sim = Sim(plan(analysis=None), world)
    sim.start()
    sim.run_until(lambda s: s.rec.phase.terminal, limit=20)
    seen = [e.data["weights"] for e in sim.rec.events if e.kind == "weight"]
    assert seen[0] == {"v1": 67, "v2": 33} and seen[-1] == {"v1": 0, "v2": 100}
    cand = [w["v2"] for w in seen]
    assert cand == sorted(cand)


def test_a_breach_undoes_the_deployment_and_waits_for_the_stable() -> None:
    world = OneDeployment()
    world.metrics_mode = "fail"
    sim = Sim(plan(), world)
    sim.start()
    sim.run_until(lambda s: s.rec.phase.terminal, limit=30)
    assert sim.rec.phase is Phase.ROLLED_BACK, sim.rec.message
    undo = [a for a in world.applied if isinstance(a, UndoRollout)]
    assert undo == [UndoRollout("v1")]
    assert world.total == {"v1": 3, "v2": 0} and world.template == "v1"
    assert dict(sim.rec.weights) == {"v1": 100, "v2": 0}
    assert "Deployment back on v1, 3 pods ready" in sim.rec.message


def test_abort_waits_until_no_candidate_pod_is_left() -> None:
    world = OneDeployment()
    sim = Sim(plan(analysis=None), world)
    sim.start()
    sim.tick()
    assert world.total["v2"] >= 1
    world.frozen = True  # the controller has not acted on the undo yet
    sim.command("abort")
    assert world.applied[-1] == UndoRollout("v1")
    sim.run(3)
    assert sim.rec.phase is Phase.PROGRESSING and "rolling back" in sim.rec.message
    assert any("rollback waits: v1 has 2/2 ready" in m for m in sim.messages("health"))
    world.frozen = False
    sim.run_until(lambda s: s.rec.phase.terminal, limit=10)
    assert sim.rec.phase is Phase.ABORTED and world.total == {"v1": 3, "v2": 0}
    assert sum(isinstance(a, UndoRollout) for a in world.applied) == 1


def test_abort_before_the_update_could_be_sized_touches_nothing() -> None:
    world = OneDeployment()
    world.down = True  # health cannot be read: nothing may be sized or started
    sim = Sim(plan(analysis=None), world)
    sim.start()
    sim.run(3)
    assert world.applied == [] and sim.rec.phase is Phase.PENDING
    sim.command("abort")
    assert sim.rec.phase is Phase.ABORTED and world.applied == []


def test_a_person_pausing_holds_the_controller_and_resume_releases_it() -> None:
    world = OneDeployment()
    sim = Sim(plan(analysis=None), world)
    sim.start()
    sim.command("pause")
    assert sim.rec.phase is Phase.PAUSED and world.paused and holds(world) == [True]
    before = dict(world.total)
    sim.run(5)
    assert world.total == before
    sim.command("resume")
    assert holds(world) == [True, False] and not world.paused
    sim.run_until(lambda s: s.rec.phase.terminal, limit=20)
    assert sim.rec.phase is Phase.COMPLETED


def test_spec_paused_flipped_behind_the_engine_is_put_back() -> None:
    world = OneDeployment()
    sim = Sim(plan(analysis=None), world)
    sim.start()
    world.paused = True  # someone ran `kubectl rollout pause`
    sim.tick()
    assert holds(world) == [False] and not world.paused
    sim.run_until(lambda s: s.rec.phase.terminal, limit=20)
    assert sim.rec.phase is Phase.COMPLETED


def test_promote_full_lets_the_controller_finish_without_holding() -> None:
    world = OneDeployment()
    sim = Sim(plan(), world)
    sim.start()
    sim.tick()
    assert world.paused
    sim.command("promote-full")
    sim.run_until(lambda s: s.rec.phase.terminal, limit=20)
    assert sim.rec.phase is Phase.COMPLETED
    assert holds(world) == [True, False]


def test_a_candidate_that_never_gets_ready_keeps_the_stable_serving() -> None:
    world = OneDeployment()
    world.readiness["v2"] = "none"
    sim = Sim(plan(), world)
    sim.start()
    sim.run(20)
    assert sim.rec.phase is Phase.PROGRESSING
    assert world.total == {"v1": 3, "v2": 1}  # maxUnavailable 0: no stable pod goes
    assert any("waiting for 1 ready v2 pods" in m for m in sim.messages("health"))
    sim.command("abort")
    sim.run_until(lambda s: s.rec.phase.terminal, limit=10)
    assert sim.rec.phase is Phase.ABORTED and world.total == {"v1": 3, "v2": 0}


def test_retry_after_a_rollback_starts_the_update_again() -> None:
    world = OneDeployment()
    world.metrics_mode = "fail"
    sim = Sim(plan(), world)
    sim.start()
    sim.run_until(lambda s: s.rec.phase.terminal, limit=30)
    world.metrics_mode = "pass"
    sim.command("retry")
    sim.run_until(lambda s: s.rec.phase.terminal, limit=60)
    assert sim.rec.phase is Phase.COMPLETED and world.total == {"v1": 0, "v2": 3}
    assert sum(isinstance(a, RollingUpdate) for a in world.applied) == 2


@settings(max_examples=60, deadline=None)
@given(
    replicas=st.integers(1, 6),
    surge=st.integers(0, 3),
    unavailable=st.integers(0, 3),
    analysis=st.booleans(),
    pause=st.sampled_from([0.0, 3.0]),
)
def test_any_sizes_complete_on_the_candidate_with_every_pod_ready(
    replicas: int, surge: int, unavailable: int, analysis: bool, pause: float
) -> None:
    if surge == 0 and unavailable == 0:
        surge = 1  # Kubernetes refuses both 0; so does the plan
    world = OneDeployment(replicas=replicas)
    world.__post_init__()
    spec = RollingSpec(
        max_surge=surge, max_unavailable=unavailable, min_ready=0.0, pause_between_batches=pause
    )
    sim = Sim(rolling_plan(spec, analysis=metrics_spec() if analysis else None), world)
    sim.check = False
    sim.start()
    sim.run_until(lambda s: s.rec.phase.terminal, limit=300)
    assert sim.rec.phase is Phase.COMPLETED, sim.rec.message
    assert world.total == {"v1": 0, "v2": replicas} and not world.paused
    h = holds(world)
    assert h == [True, False] * (len(h) // 2)  # every hold released, in order


def test_an_update_that_never_landed_is_applied_again() -> None:
    world = OneDeployment()
    world.lose = 1  # saved as started, never applied
    sim = Sim(plan(analysis=None), world)
    sim.start()
    assert world.template == "v1"
    sim.tick()
    assert [type(a) for a in world.applied] == [RollingUpdate, RollingUpdate]
    assert world.template == "v2"
    assert any("re-applying the rolling update to v2" in m for m in sim.messages())
    sim.run_until(lambda s: s.rec.phase.terminal, limit=20)
    assert sim.rec.phase is Phase.COMPLETED
    assert sum(isinstance(a, RollingUpdate) for a in world.applied) == 2


def test_an_undo_that_never_landed_is_applied_again() -> None:
    world = OneDeployment()
    sim = Sim(plan(analysis=None), world)
    sim.start()
    sim.tick()
    world.lose = 1
    sim.command("abort")
    assert world.template == "v2"
    sim.run_until(lambda s: s.rec.phase.terminal, limit=20)
    assert sim.rec.phase is Phase.ABORTED and world.template == "v1"
    assert [a for a in world.applied if isinstance(a, UndoRollout)] == [UndoRollout("v1")] * 2
    assert world.total == {"v1": 3, "v2": 0}
