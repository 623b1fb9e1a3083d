"""Advice on canary size and duration (console/analysis/advice.py, rollout validate --rps)."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import pytest

from console.analysis.advice import advise, render
from console.analysis.sequential import SequentialTest
from console.commands import validate
from console.plan.model import (
    AnalysisSpec,
    MetricSpec,
    PauseStep,
    Plan,
    SetWeightStep,
    Strategy,
)

METRIC = MetricSpec("error-rate", baseline="stable", max_increase=0.005, test="sequential")


def _plan(*steps: object, metric: MetricSpec = METRIC) -> Plan:
    return Plan(
        service="courses",
        strategy=Strategy.CANARY,
        candidate="v2",
        stable="v1",
        steps=tuple(steps),  # type: ignore[arg-type]
        analysis=AnalysisSpec(interval=1.0, metrics=(metric,)),
    )


PLAN = _plan(SetWeightStep(10), PauseStep(30.0), SetWeightStep(30), PauseStep(30.0))


def _detected(rate: float, runs: int, seed: int) -> float:
    """Share of simulated runs of PLAN at 100 requests/s (1 % on v1, ``rate`` on v2, a look
    every second) that the sequential test rolls back."""
    rnd = random.Random(seed)
    hits = 0
    for _ in range(runs):
        test = SequentialTest(max_increase=0.005, alpha=0.01)
        for second in range(60):
            w = 0.1 if second < 30 else 0.3
            c = sum(1 for _ in range(100) if rnd.random() < w)
            x = sum(1 for _ in range(c) if rnd.random() < rate)
            y = sum(1 for _ in range(100 - c) if rnd.random() < 0.01)
            test = test.update(c, x, 100 - c, y)
            if test.evidence().outcome.value == "regression":
                hits += 1
                break
    return hits / runs


@pytest.mark.slow
def test_the_smallest_detectable_regression_is_detected_in_most_simulated_runs() -> None:
    advice = advise(PLAN, 100, 0.01)
    last = advice.steps[-1]
    assert last.smallest is not None and 0.015 < last.smallest < 0.2
    # 95 % by the normal approximation; 100 runs: allow for the simulation's own noise.
    assert _detected(last.smallest, 100, seed=3) >= 0.88


def test_more_traffic_or_longer_steps_detect_smaller_regressions() -> None:
    slow, fast = advise(PLAN, 50), advise(PLAN, 500)
    longer = advise(
        _plan(SetWeightStep(10), PauseStep(30.0), SetWeightStep(30), PauseStep(300.0)), 50
    )
    a, b, c = slow.steps[-1].smallest, fast.steps[-1].smallest, longer.steps[-1].smallest
    assert a is not None and b is not None and c is not None
    assert b < a and c < a
    # Evidence accumulates: a later step never detects less than an earlier one.
    first, second = slow.steps
    assert first.smallest is None or (
        second.smallest is not None and second.smallest <= first.smallest
    )
    assert [s.requests for s in slow.steps] == [150.0, 450.0]


def test_times_to_detect_are_ordered_and_fall_on_measurements() -> None:
    plan = _plan(
        SetWeightStep(20), PauseStep(300.0), metric=MetricSpec("error-rate", test="sequential")
    )
    advice = advise(plan, 200, 0.01)
    (step,) = advice.steps
    assert step.detect_10x is not None and step.detect_2x is not None
    assert step.detect_10x < step.detect_2x <= 300
    assert float(step.detect_10x).is_integer()  # the interval is 1 s


def test_steps_too_short_are_warned_about_until_one_is_long_enough() -> None:
    plan = _plan(SetWeightStep(1), PauseStep(2.0), SetWeightStep(2), PauseStep(1.0),
                 SetWeightStep(20), PauseStep(120.0))  # fmt: skip
    lines = render(advise(plan, 100))
    warnings = [line for line in lines if line.startswith("warning:")]
    assert warnings == [
        f"warning: step {n} is too short to detect even a 10x regression (10% errors): "
        "lengthen its pause or raise its weight"
        for n in (1, 3)
    ]
    assert lines[0].startswith("advice at 100 requests/s, 1% errors on both versions")


def test_without_a_sequential_metric_the_defaults_apply() -> None:
    plan = _plan(SetWeightStep(20), PauseStep(60.0), metric=MetricSpec("error-rate", max=0.05))
    advice = advise(plan, 200)
    assert (advice.alpha, advice.max_increase, advice.max_ratio) == (0.01, 0.0, 1.0)


def test_validate_prints_the_advice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        "service: courses\ncandidate: v2\nsteps:\n  - setWeight: 1\n  - pause: 5s\n"
        "  - setWeight: 20\n  - pause: 2m\nanalysis:\n  interval: 5s\n  metrics:\n"
        "    - {name: error-rate, baseline: stable, maxIncrease: 0.01, test: sequential}\n"
    )
    args = argparse.Namespace(plan=[str(path)], rps=200.0, error_rate=0.01)
    assert validate.run(args) == 0
    out, err = capsys.readouterr()
    assert "step 1 setWeight 1 for 5.0s: 10 candidate requests" in out
    assert "step 3 setWeight 20 for 120s: 4800 candidate requests; detects " in out
    assert f"{path}: warning: step 1 is too short" in err
    bad = argparse.Namespace(plan=[str(path)], rps=0.0, error_rate=0.01)
    assert validate.run(bad) == 2


def test_real_traffic_gives_the_rate_and_error_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from backends.base import Environment
    from tests.support.fakes import Answer, FakeMetrics, FakeTraffic

    metrics = FakeMetrics(
        lambda: 1000.0, answers={"v1": Answer(rate=180.0, error_ratio=0.02), "v2": Answer(rate=0.0)}
    )
    env = Environment("prod", FakeTraffic(), metrics, None)
    rps, rate = validate._traffic(env, PLAN, "1h")  # type: ignore[misc]
    assert rps == pytest.approx(180.0) and rate == pytest.approx(0.02)
    assert (
        "traffic of courses over the last 1h: 180 requests/s, 2% errors" in capsys.readouterr().out
    )
    metrics.down = True
    why = validate._traffic(env, PLAN, "1h")
    assert isinstance(why, str) and why.startswith("cannot read courses's traffic from 'prod'")
    assert validate._traffic(Environment("x", None, None, None), PLAN, "1h") == (
        "environment 'x' has no metrics source"
    )


def test_since_needs_an_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("service: courses\ncandidate: v2\nsteps:\n  - setWeight: 10\n  - pause: 1m\n")
    args = argparse.Namespace(plan=[str(path)], rps=None, error_rate=0.01, since="1h")
    assert validate.run(args) == 2
    assert "--since needs --env" in capsys.readouterr().err
