"""Plan fields that compare the candidate with the stable (baseline, maxIncrease, maxRatio,
test: sequential, alpha, slow-requests with slowerThan) and progressDeadline."""

from __future__ import annotations

import json
import textwrap

import pytest

from console.plan.load import PlanError, parse_plan, summarize
from console.plan.model import AnalysisSpec, MetricSpec, Plan

HEAD = "service: courses\ncandidate: v2\nsteps: [{setWeight: 10}]\nanalysis:\n  metrics:\n"


def metrics(*lines: str) -> tuple[MetricSpec, ...]:
    plan = parse_plan(HEAD + "".join(f"    - {line}\n" for line in lines), "p.yaml")
    assert plan.analysis is not None
    return plan.analysis.metrics


def errors_of(*lines: str) -> list[str]:
    with pytest.raises(PlanError) as info:
        metrics(*lines)
    return [str(e) for e in info.value.errors]


# --------------------------------------------------------------------------- accepted


def test_relative_thresholds_in_the_metrics_units() -> None:
    assert metrics(
        '{name: error-rate, baseline: stable, maxIncrease: "1%"}',
        "{name: latency-p95, baseline: stable, maxIncrease: 50ms}",
        "{name: latency-p99, baseline: stable, maxRatio: 1.2, max: 800ms}",
    ) == (
        MetricSpec("error-rate", baseline="stable", max_increase=0.01),
        MetricSpec("latency-p95", baseline="stable", max_increase=0.05),
        MetricSpec("latency-p99", max=0.8, baseline="stable", max_ratio=1.2),
    )


def test_sequential_test_defaults_to_alpha_one_percent() -> None:
    (m,) = metrics("{name: error-rate, baseline: stable, maxIncrease: 0.01, test: sequential}")
    assert (m.test, m.alpha, m.sequential) == ("sequential", 0.01, True)


def test_slow_requests_with_its_bound_and_a_sequential_test() -> None:
    (m,) = metrics(
        "{name: slow-requests, slowerThan: 400ms, baseline: stable, maxRatio: 1.5, "
        "test: sequential, alpha: 0.05}"
    )
    assert m == MetricSpec(
        "slow-requests",
        baseline="stable",
        max_ratio=1.5,
        test="sequential",
        alpha=0.05,
        slower_than=0.4,
    )


def test_slow_requests_with_a_fixed_threshold_is_a_ratio() -> None:
    (m,) = metrics('{name: slow-requests, slowerThan: 1s, max: "2%"}')
    assert (m.max, m.slower_than, m.baseline) == (0.02, 1.0, None)


# --------------------------------------------------------------------------- refused


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        (
            "{name: error-rate, baseline: stable, maxRatio: 1}",
            "p.yaml:6: analysis.metrics[0].maxRatio: 1 would fail a candidate exactly as good "
            "as the stable; use a number above 1",
        ),
        ("{name: error-rate, baseline: stable, maxRatio: 0.8}", "0.8 would fail a candidate"),
        ("{name: error-rate, baseline: stable, maxRatio: two}", "expected a number above 1"),
        ("{name: error-rate, baseline: stable, maxRatio: 5000}", "at most 1000"),
        (
            "{name: error-rate, baseline: stable, maxIncrease: 0}",
            "p.yaml:6: analysis.metrics[0].maxIncrease: must be above 0, got 0",
        ),
        ("{name: error-rate, baseline: stable, maxIncrease: 2}", "is not an error ratio"),
        ("{name: latency-p95, baseline: stable, maxIncrease: soon}", "is not a latency"),
        (
            "{name: error-rate, baseline: v1, maxIncrease: 0.01}",
            "p.yaml:6: analysis.metrics[0].baseline: 'v1' is not allowed: stable",
        ),
        (
            "{name: request-rate, baseline: stable, maxRatio: 2}",
            "request-rate follows the weights",
        ),
        (
            "{name: ok, query: 'sum(x{v=\"{{version}}\"})', baseline: stable, maxRatio: 2}",
            "baseline applies to the built-in metrics",
        ),
        (
            "{name: error-rate, maxIncrease: 0.01}",
            "p.yaml:6: analysis.metrics[0].maxIncrease: maxIncrease compares the candidate "
            "with the stable version: add baseline: stable",
        ),
        (
            "{name: error-rate, baseline: stable}",
            "p.yaml:6: analysis.metrics[0].baseline: baseline: stable needs maxIncrease or "
            "maxRatio",
        ),
        (
            "{name: error-rate, baseline: stable, maxIncrease: 0.01, maxRatio: 2}",
            "give maxIncrease or maxRatio, not both",
        ),
        (
            "{name: error-rate, test: sequential, max: 0.05}",
            "the sequential test compares the candidate with the stable",
        ),
        (
            "{name: latency-p95, baseline: stable, maxRatio: 1.2, test: sequential}",
            "p.yaml:6: analysis.metrics[0].test: the sequential test counts requests: it "
            "applies to error-rate and slow-requests",
        ),
        (
            "{name: error-rate, baseline: stable, maxRatio: 1.2, test: fast}",
            "'fast' is not allowed: sequential",
        ),
        (
            "{name: error-rate, baseline: stable, maxRatio: 1.2, test: sequential, max: 0.2}",
            "a sequential metric is judged against the stable only; drop min and max",
        ),
        (
            "{name: error-rate, max: 0.05, alpha: 0.05}",
            "p.yaml:6: analysis.metrics[0].alpha: alpha is the sequential test's false-failure "
            "rate: it needs test: sequential",
        ),
        (
            "{name: error-rate, baseline: stable, maxRatio: 2, test: sequential, alpha: 0}",
            "expected a number above 0 and at most 0.5",
        ),
        (
            "{name: error-rate, baseline: stable, maxRatio: 2, test: sequential, alpha: 0.6}",
            "expected a number above 0 and at most 0.5",
        ),
        (
            "{name: slow-requests, max: 0.05}",
            "p.yaml:6: analysis.metrics[0].slowerThan: required for slow-requests",
        ),
        ("{name: slow-requests, slowerThan: 0s, max: 0.05}", "must be longer than 0"),
        ("{name: error-rate, slowerThan: 1s, max: 0.05}", "slowerThan applies only to"),
        ("{name: slow-request, slowerThan: 1s, max: 0.05}", "did you mean slow-requests?"),
        ("{name: slow-requests, query: 'x', slowerThan: 1s, max: 0.05}", "takes no query"),
    ],
)
def test_refused_with_line_field_and_reason(metric, expected) -> None:
    errs = errors_of(metric)
    assert len(errs) == 1, errs
    assert expected in errs[0]
    assert errs[0].startswith("p.yaml:6: analysis.metrics[0]")


def test_every_problem_is_reported_on_its_own_line() -> None:
    errs = errors_of(
        "{name: error-rate, baseline: stable, maxRatio: 1}",
        "{name: latency-p95, max: 1s}",
        "{name: slow-requests, max: 0.1}",
    )
    assert [e.split(":")[1] for e in errs] == ["6", "8"]


def test_a_metric_without_any_threshold_still_says_so() -> None:
    assert errors_of("{name: error-rate}") == [
        "p.yaml:6: analysis.metrics[0]: needs a threshold: min, max or both"
    ]


# --------------------------------------------------------------------------- progressDeadline


def plan_text(extra: str, strategy: str = "canary") -> str:
    body = {
        "canary": "steps: [{setWeight: 10}]\n",
        "bluegreen": "strategy: bluegreen\n",
        "rolling": "strategy: rolling\n",
    }[strategy]
    return f"service: courses\ncandidate: v2\n{body}{extra}"


@pytest.mark.parametrize("strategy", ["canary", "bluegreen", "rolling"])
def test_progress_deadline_on_every_strategy(strategy) -> None:
    assert parse_plan(plan_text("", strategy)).progress_deadline == 600.0
    assert parse_plan(plan_text("progressDeadline: 2m\n", strategy)).progress_deadline == 120.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0s", "must be at least 1s"),
        ("-5m", "negative"),
        ("soon", "is not a duration"),
        ("31d", "longer than the limit of 30 days"),
    ],
)
def test_progress_deadline_refused(value, message) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(plan_text(f"progressDeadline: {value}\n"), "p.yaml")
    (err,) = info.value.errors
    assert str(err).startswith("p.yaml:4: progressDeadline: ")
    assert message in str(err)


def test_progress_deadline_typo_is_suggested() -> None:
    with pytest.raises(PlanError, match="did you mean progressDeadline"):
        parse_plan(plan_text("progressdeadline: 5m\n"))


# --------------------------------------------------------------------------- stored form


def test_round_trip_through_json_keeps_every_new_field() -> None:
    plan = parse_plan(
        textwrap.dedent(
            """\
            service: courses
            candidate: v2
            progressDeadline: 3m
            steps: [{setWeight: 10}]
            analysis:
              metrics:
                - {name: error-rate, baseline: stable, maxIncrease: 0.01, test: sequential}
                - {name: slow-requests, slowerThan: 300ms, baseline: stable, maxRatio: 2,
                   test: sequential, alpha: 0.05}
                - {name: latency-p95, baseline: stable, maxRatio: 1.3}
            """
        )
    )
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


def test_metrics_without_the_new_keys_store_exactly_as_before() -> None:
    assert MetricSpec("error-rate", max=0.05).to_dict() == {
        "name": "error-rate",
        "min": None,
        "max": 0.05,
        "query": None,
    }


def test_a_plan_saved_before_these_fields_loads_unchanged() -> None:
    old = {
        "service": "courses",
        "strategy": "canary",
        "candidate": "v2",
        "stable": "v1",
        "steps": [{"setWeight": 10}],
        "analysis": {
            "interval": 5.0,
            "window": None,
            "min_requests": 20,
            "failure_limit": 0,
            "inconclusive_limit": 3,
            "consecutive_error_limit": 4,
            "on_failure": "rollback",
            "metrics": [{"name": "error-rate", "min": None, "max": 0.05, "query": None}],
        },
        "match": [],
        "mirror": 0,
        "bluegreen": None,
        "rolling": None,
        "webhooks": [],
        "source": "x.yaml",
    }
    plan = Plan.from_dict(old)
    assert plan.progress_deadline == 600.0
    assert plan.analysis == AnalysisSpec(
        failure_limit=0, metrics=(MetricSpec("error-rate", max=0.05),)
    )
    stored = plan.to_dict()
    assert stored.pop("progress_deadline") == 600.0
    assert stored == old


# --------------------------------------------------------------------------- summary


def test_summary_says_what_is_compared_and_how() -> None:
    plan = parse_plan(
        HEAD
        + "    - {name: error-rate, baseline: stable, maxIncrease: 0.01, test: sequential}\n"
        + "    - {name: slow-requests, slowerThan: 400ms, baseline: stable, maxRatio: 1.5}\n"
        + "    - {name: latency-p95, max: 500ms, baseline: stable, maxIncrease: 50ms}\n"
        + "progressDeadline: 5m\n"
    )
    text = summarize(plan)
    assert "error-rate     at most +0.01 (1%) over stable, sequential, alpha 0.01" in text
    assert "slow-requests  >400ms: at most 1.5x stable" in text
    assert "latency-p95    max 500ms and at most +50ms over stable" in text
    assert "health:  v2 must be healthy within 5m, else roll back to stable" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_summary_of_a_plan_with_the_default_deadline_has_no_health_line() -> None:
    assert "health:" not in summarize(parse_plan(plan_text("")))
