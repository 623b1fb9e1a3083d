"""strategy: experiment in the engine: a fixed split, totals read from one window reaching
back to the start, the sequential stop, and the report at the end."""

from __future__ import annotations

from dataclasses import dataclass, field

from backends.base import MetricSample, Observation, Phase, SetSplit, TrafficSplit, VersionHealth
from console.engine import experiment as engine_experiment
from console.engine import machine as engine
from console.plan.load import parse_plan
from console.plan.model import Plan
from tests.core.engine_kit import T0, cmd

PLAN = """
service: enrollments
strategy: experiment
flag: checkout-flow
arms:
  - {name: off, weight: 50}
  - {name: on, weight: 50}
duration: 60s
metric: {name: error-rate}
minRequests: 50
interval: 5s
"""


@dataclass
class Arms:
    """Per arm: requests per second and failure share; totals since the split was set."""

    rate: dict[str, float] = field(default_factory=lambda: {"off": 20.0, "on": 20.0})
    fail: dict[str, float] = field(default_factory=lambda: {"off": 0.05, "on": 0.01})
    weights: dict[str, int] = field(default_factory=lambda: {"off": 100})
    started: float | None = None

    def observe(self, now: float, record_engine: dict | None = None) -> Observation:
        health = {v: VersionHealth(v, 2, 2) for v in self.rate}
        metrics = {}
        window = engine_experiment.window(record_engine or {}, T0, now) or 30.0
        for v, r in self.rate.items():
            n = r * window * self.weights.get(v, 0) / 100
            f = round(n * self.fail[v])
            metrics[v] = MetricSample(
                v,
                now,
                window,
                n,
                n / window,
                f / n if n else None,
                0.01,
                0.02,
                0.03,
                failures=float(f),
            )
        return Observation(
            at=now, health=health, split=TrafficSplit(dict(self.weights)), metrics=metrics
        )


def run(plan: Plan, arms: Arms, limit: int = 200, abort_at: int | None = None):
    now = T0
    t = engine.start(plan, arms.observe(now), now)
    trans = [t]
    for i in range(limit):
        for a in t.actions:
            if isinstance(a, SetSplit):
                arms.weights = {k: v for k, v in a.weights.items() if v}
        if t.record.phase.terminal:
            break
        now += 1.0
        command = cmd("abort", reason="stop it") if abort_at == i else None
        t = engine.step(t.record, plan, arms.observe(now, t.record.engine), command, now)
        trans.append(t)
    return t, trans


def test_experiment_runs_its_duration_then_reports_and_puts_everyone_on_the_control() -> None:
    plan = parse_plan(PLAN, "x.yaml")
    t, trans = run(plan, Arms())
    assert t.record.phase is Phase.COMPLETED
    splits = [dict(a.weights) for tr in trans for a in tr.actions if isinstance(a, SetSplit)]
    assert splits == [{"off": 50, "on": 50}, {"off": 100, "on": 0}]
    report = t.record.engine["experiment"]["report"]
    assert report["decision"] == "adopt" and report["winner"] == "on"
    assert "on is better than off on error-rate" in t.record.message
    by_arm = {a["arm"]: a for a in report["arms"]}
    # 60 s at 10 requests/s per arm: the totals of one window over the whole experiment.
    assert by_arm["off"]["requests"] == by_arm["on"]["requests"] == 600
    assert (
        by_arm["off"]["value"]["low"]
        <= by_arm["off"]["value"]["value"]
        <= by_arm["off"]["value"]["high"]
    )
    ended = t.record.engine["experiment"]["report"]["ended_at"]
    assert ended - report["started_at"] >= 60


def test_sequential_test_stops_early_when_it_decides() -> None:
    plan = parse_plan(
        PLAN.replace("duration: 60s", "duration: 10m").replace(
            "metric: {name: error-rate}", "metric: {name: error-rate, test: sequential}"
        ),
        "x.yaml",
    )
    arms = Arms(fail={"off": 0.2, "on": 0.01})
    t, _ = run(plan, arms, limit=700)
    report = t.record.engine["experiment"]["report"]
    assert report["ended_by"] == "sequential test"
    assert report["ended_at"] - report["started_at"] < 600
    assert report["winner"] == "on"


def test_no_difference_keeps_the_control() -> None:
    plan = parse_plan(PLAN, "x.yaml")
    t, _ = run(plan, Arms(fail={"off": 0.02, "on": 0.02}))
    report = t.record.engine["experiment"]["report"]
    assert report["decision"] == "inconclusive" and report["winner"] is None
    assert "no difference" in report["why"] and "keep off" in report["why"]


def test_abort_goes_back_to_the_control_with_a_report_of_what_was_counted() -> None:
    plan = parse_plan(PLAN, "x.yaml")
    t, _ = run(plan, Arms(), abort_at=20)
    assert t.record.phase is Phase.ABORTED
    assert t.actions == (SetSplit({"off": 100, "on": 0}),)
    assert t.record.engine["experiment"]["report"]["ended_by"] == "abort"
    assert "stop it" in t.record.message


def test_promote_ends_it_now() -> None:
    plan = parse_plan(PLAN, "x.yaml")
    arms = Arms()
    now = T0
    t = engine.start(plan, arms.observe(now), now)
    arms.weights = {"off": 50, "on": 50}
    for _ in range(30):
        now += 1
        t = engine.step(t.record, plan, arms.observe(now, t.record.engine), None, now)
    t = engine.step(t.record, plan, arms.observe(now, t.record.engine), cmd("promote"), now)
    assert t.record.phase is Phase.COMPLETED
    assert t.record.engine["experiment"]["report"]["ended_by"] == "promote by alice@laptop"


def test_a_counter_that_cannot_be_read_is_never_counted_as_zero() -> None:
    text = PLAN.replace(
        "metric: {name: error-rate}", "metric: {counter: lms_enrollments_completed_total}"
    )
    plan = parse_plan(text, "x.yaml")
    t, _ = run(plan, Arms())
    report = t.record.engine["experiment"]["report"]
    assert report["decision"] == "inconclusive" and "not enough data" in report["why"]
    assert any("cannot read lms_enrollments_completed_total" in e.message for e in t.record.events)


def test_a_business_counter_per_request_decides_higher_is_better() -> None:
    text = PLAN.replace(
        "metric: {name: error-rate}", "metric: {counter: lms_enrollments_completed_total}"
    )
    plan = parse_plan(text, "x.yaml")

    class WithCounter(Arms):
        def observe(self, now: float, record_engine: dict | None = None) -> Observation:
            obs = super().observe(now, record_engine)
            conv = {"off": 0.10, "on": 0.20}  # completed enrollments per request
            counts = {v: (s.requests or 0.0) * conv[v] for v, s in (obs.metrics or {}).items()}
            return Observation(
                at=obs.at,
                health=obs.health,
                split=obs.split,
                metrics=obs.metrics,
                custom={engine_experiment.COUNTER_KEY: counts},
            )

    t, _ = run(plan, WithCounter())
    report = t.record.engine["experiment"]["report"]
    assert report["metric"] == "lms_enrollments_completed_total"
    assert report["decision"] == "adopt" and report["winner"] == "on", report["why"]
