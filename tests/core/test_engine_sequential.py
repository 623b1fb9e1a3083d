"""The engine with ``test: sequential`` metrics: counts fed once per measurement, a sequential
failure rolls back at once, an undecided test holds the step without counting toward
inconclusiveLimit, a step passes only once the test says "within the limit"."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from backends.base import MetricSample, Observation, Phase, RolloutRecord, TrafficSplit
from console.analysis.sequential import SequentialTest
from console.engine.state import AnalysisState, EngineState
from console.plan.model import AnalysisSpec, MetricSpec, OnFailure, PauseStep, SetWeightStep
from tests.core.engine_kit import Sim, World, canary_plan


@dataclass
class Traffic(World):
    """A world whose metrics follow the split: ``rps`` requests a second shared by weight,
    each version failing ``errors[version]`` of its requests (expected counts, no noise)."""

    rps: float = 200.0
    window: float = 1.0
    errors: dict[str, float] = field(default_factory=lambda: {"v1": 0.01, "v2": 0.01})

    def observe(self, now: float) -> Observation:
        split = TrafficSplit(weights=dict(self.weights))
        metrics = {}
        for v in (self.stable, self.candidate):
            n = self.rps * self.window * self.weights.get(v, 0) / 100.0
            x = n * self.errors.get(v, 0.0)
            ratio = x / n if n else None
            metrics[v] = MetricSample(
                v, now, self.window, n, n / self.window, ratio, 0.01, 0.02, 0.03, failures=x
            )
        return Observation(at=now, health=self.health(), split=split, metrics=metrics)


def seq_spec(**kw: object) -> AnalysisSpec:
    metric = MetricSpec(
        "error-rate", baseline="stable", max_increase=0.02, test="sequential", alpha=0.01
    )
    base: dict[str, object] = dict(
        interval=1.0, min_requests=20, failure_limit=3, inconclusive_limit=1, metrics=(metric,)
    )
    base.update(kw)
    return AnalysisSpec(**base)  # type: ignore[arg-type]


STEPS = (SetWeightStep(10), PauseStep(5.0), SetWeightStep(50), PauseStep(5.0))


def _sim(errors: dict[str, float], rps: float = 200.0, **kw: object) -> Sim:
    world = Traffic(errors=errors, rps=rps)
    sim = Sim(canary_plan(steps=STEPS, analysis=seq_spec(**kw)), world)
    sim.start()
    return sim


def test_equal_versions_complete_and_waiting_for_evidence_never_pauses() -> None:
    sim = _sim({"v1": 0.02, "v2": 0.02})
    sim.run_until(lambda s: s.rec.phase.terminal, limit=600)
    assert sim.rec.phase is Phase.COMPLETED, sim.rec.message
    # inconclusiveLimit is 1: an undecided test held the steps without pausing.
    assert "pause" not in sim.kinds() and "breach" not in sim.kinds()
    assert any(m.startswith("collecting evidence:") for m in sim.messages("analysis"))


def test_a_worse_candidate_rolls_back_at_the_first_sequential_failure() -> None:
    sim = _sim({"v1": 0.01, "v2": 0.2})
    sim.run_until(lambda s: s.rec.phase.terminal, limit=120)
    assert sim.rec.phase is Phase.ROLLED_BACK
    (breach,) = [e for t in sim.transitions for e in t.events if e.kind == "breach"]
    # failureLimit 3 does not delay it; the statistic and the interval are in the reason.
    assert "(sequential test)" in breach.message
    assert "e " in breach.message and ">= 100" in breach.message
    assert "difference" in breach.message
    assert breach.data["sequential"]["error-rate"]["outcome"] == "regression"
    assert breach.data["sequential"]["error-rate"]["e_value"] >= 100


def test_a_fleet_wide_incident_does_not_blame_the_candidate() -> None:
    # 30 % of requests fail on both: within +0.02 takes many requests to show, hence the rate.
    sim = _sim({"v1": 0.3, "v2": 0.3}, rps=3000.0)
    sim.run_until(lambda s: s.rec.phase.terminal, limit=600)
    assert sim.rec.phase is Phase.COMPLETED
    assert "breach" not in sim.kinds()


def test_on_failure_pause_pauses_on_a_sequential_failure() -> None:
    sim = _sim({"v1": 0.01, "v2": 0.3}, on_failure=OnFailure.PAUSE)
    sim.run_until(lambda s: s.rec.phase is Phase.PAUSED, limit=120)
    assert EngineState.of_record(sim.rec).pause_kind == "breach"


def _tests(rec: RolloutRecord) -> dict[str, SequentialTest]:
    a = EngineState.of_record(rec).analysis
    assert a is not None
    return a.tests


def test_the_state_is_in_the_record_and_survives_a_reload() -> None:
    sim = _sim({"v1": 0.02, "v2": 0.02})
    sim.run(6)
    stored = sim.rec.engine["analysis"]["seq"]
    assert set(stored["tests"]) == {"error-rate"}
    back = RolloutRecord.from_dict(sim.rec.to_dict())
    assert _tests(back) == _tests(sim.rec)
    assert _tests(back)["error-rate"].intervals >= 4


def test_plans_without_a_sequential_metric_store_no_test_state() -> None:
    sim = Sim(canary_plan(steps=STEPS), Traffic())
    sim.start()
    sim.run(8)
    assert "seq" not in sim.rec.engine.get("analysis", {})
    assert AnalysisState.from_dict({"stage": "canary"}).to_dict() == {
        "stage": "canary",
        "last": None,
    }


@settings(max_examples=25, deadline=None)
@given(
    window=st.sampled_from([0.5, 1.0, 2.0, 3.0, 5.0]),
    interval=st.sampled_from([1.0, 2.0, 3.0]),
    dt=st.sampled_from([0.5, 1.0, 1.5]),
)
def test_no_request_is_counted_twice(window: float, interval: float, dt: float) -> None:
    """Whatever the window, interval and tick, the test never counts more candidate requests
    than the candidate served since its exposure (windows tile time, pro rata on overlap)."""
    world = Traffic(errors={"v1": 0.02, "v2": 0.02}, window=window)
    steps = (SetWeightStep(20), PauseStep(None))
    sim = Sim(canary_plan(steps=steps, analysis=seq_spec(interval=interval)), world)
    sim.start()
    exposed_at = sim.now if world.weights.get("v2") else None
    for _ in range(40):
        sim.tick(dt)
        if exposed_at is None and world.weights.get("v2"):
            exposed_at = sim.now  # the split was set at this tick
    assert exposed_at is not None
    test = _tests(sim.rec)["error-rate"]
    served = world.rps * 0.2 * (sim.now - exposed_at)
    assert 0 < test.totals[0] <= served + 1e-6


@dataclass
class Latency(Traffic):
    """Traffic whose latency histogram puts ``slow[version]`` of requests above 0.5 s."""

    slow: dict[str, float] = field(default_factory=lambda: {"v1": 0.01, "v2": 0.01})

    def observe(self, now: float) -> Observation:
        obs = super().observe(now)
        assert obs.metrics is not None
        metrics = {}
        for v, s in obs.metrics.items():
            n = s.requests or 0.0
            fast = n * (1.0 - self.slow.get(v, 0.0))
            buckets = ((0.1, fast * 0.9), (0.5, fast), (1.0, n), (math.inf, n))
            metrics[v] = replace(s, latency_buckets=buckets)
        return replace(obs, metrics=metrics)


def _slow_sim(slow: dict[str, float]) -> Sim:
    metric = MetricSpec(
        "slow-requests", baseline="stable", max_ratio=1.5, test="sequential", slower_than=0.5
    )
    plan = canary_plan(steps=STEPS, analysis=seq_spec(metrics=(metric,)))
    sim = Sim(plan, Latency(errors={"v1": 0.0, "v2": 0.0}, rps=1000.0, slow=slow))
    sim.start()
    return sim


def test_slow_requests_from_the_histogram_roll_back_a_slower_candidate() -> None:
    sim = _slow_sim({"v1": 0.01, "v2": 0.2})
    sim.run_until(lambda s: s.rec.phase.terminal, limit=60)
    assert sim.rec.phase is Phase.ROLLED_BACK
    (breach,) = sim.messages("breach")
    assert breach.startswith("slow-requests v2 0.2 vs v1 0.01") and "ratio " in breach


def test_slow_requests_at_the_same_share_complete() -> None:
    sim = _slow_sim({"v1": 0.05, "v2": 0.05})
    sim.run_until(lambda s: s.rec.phase.terminal, limit=600)
    assert sim.rec.phase is Phase.COMPLETED
