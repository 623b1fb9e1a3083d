"""Judging the candidate against the stable: relative thresholds over the same window, and
the sequential test's verdict (console/analysis/verdicts.py)."""

from __future__ import annotations

import json

import pytest

from backends.base import MetricSample, Observation
from console.analysis.sequential import SequentialTest
from console.analysis.verdicts import Measurement, MetricVerdict, Status, measure
from console.plan.model import AnalysisSpec, MetricSpec


def sample(version: str, err: float | None = 0.01, p95: float | None = 0.1, requests=100):
    return MetricSample(version, 100.0, 5.0, requests, 20.0, err, 0.02, p95, 0.2)


def obs(*samples: MetricSample) -> Observation:
    return Observation(at=100.0, health={}, metrics={s.version: s for s in samples})


def one(metric: MetricSpec, *samples: MetricSample, stable: str | None = "v1", **kw):
    m = measure(AnalysisSpec(metrics=(metric,)), "v2", obs(*samples), stable, **kw)
    (v,) = m.verdicts
    return m, v


INCREASE = MetricSpec("error-rate", baseline="stable", max_increase=0.01)
RATIO = MetricSpec("latency-p95", baseline="stable", max_ratio=1.2)


# --------------------------------------------------------------------------- relative


def test_increase_above_the_limit_fails_with_both_values() -> None:
    m, v = one(INCREASE, sample("v2", err=0.031), sample("v1", err=0.004))
    assert (m.status, v.status) == (Status.FAILED, Status.FAILED)
    assert v.reason == "error-rate v2 0.031 vs v1 0.004 (+0.027 > +0.01)"
    assert (v.value, v.baseline) == (0.031, 0.004)
    assert m.reason == v.reason


def test_increase_within_the_limit_passes() -> None:
    m, v = one(INCREASE, sample("v2", err=0.012), sample("v1", err=0.004))
    assert m.status is Status.SUCCESSFUL
    assert v.reason == "error-rate v2 0.012 vs v1 0.004 (+0.008 within +0.01)"


def test_a_fleet_wide_incident_does_not_blame_the_candidate() -> None:
    # Both versions at 30% errors: a fixed max of 5% fails, the relative threshold does not.
    _, v = one(INCREASE, sample("v2", err=0.30), sample("v1", err=0.30))
    assert v.status is Status.SUCCESSFUL
    fixed = MetricSpec("error-rate", max=0.05)
    assert one(fixed, sample("v2", err=0.30), sample("v1", err=0.30))[1].status is Status.FAILED


def test_candidate_better_than_the_stable_shows_a_negative_difference() -> None:
    _, v = one(INCREASE, sample("v2", err=0.001), sample("v1", err=0.004))
    assert v.reason == "error-rate v2 0.001 vs v1 0.004 (-0.003 within +0.01)"


def test_latency_increase_in_milliseconds() -> None:
    spec = MetricSpec("latency-p95", baseline="stable", max_increase=0.02)
    _, v = one(spec, sample("v2", p95=0.130), sample("v1", p95=0.100))
    assert v.reason == "latency-p95 v2 130ms vs v1 100ms (+30ms > +20ms)"


@pytest.mark.parametrize(
    ("candidate", "stable", "status", "reason"),
    [
        (0.130, 0.100, Status.FAILED, "latency-p95 v2 130ms vs v1 100ms (1.3x > 1.2x)"),
        (0.110, 0.100, Status.SUCCESSFUL, "latency-p95 v2 110ms vs v1 100ms (1.1x within 1.2x)"),
    ],
)
def test_ratio_limit(candidate, stable, status, reason) -> None:
    _, v = one(RATIO, sample("v2", p95=candidate), sample("v1", p95=stable))
    assert (v.status, v.reason) == (status, reason)


def test_ratio_against_a_stable_at_zero() -> None:
    spec = MetricSpec("error-rate", baseline="stable", max_ratio=2.0)
    _, v = one(spec, sample("v2", err=0.01), sample("v1", err=0.0))
    assert v.status is Status.FAILED
    assert v.reason == "error-rate v2 0.01 vs v1 0 (above 0 where v1 is 0: any ratio is too high)"
    _, v = one(spec, sample("v2", err=0.0), sample("v1", err=0.0))
    assert (v.status, v.reason) == (Status.SUCCESSFUL, "error-rate v2 0 vs v1 0 (both 0)")


def test_no_data_for_the_stable_is_inconclusive() -> None:
    m, v = one(INCREASE, sample("v2", err=0.01), sample("v1", err=None))
    assert (m.status, v.status) == (Status.INCONCLUSIVE, Status.INCONCLUSIVE)
    assert v.reason == "error-rate: no data for v1 (the baseline)"
    _, v = one(INCREASE, sample("v2", err=0.01))
    assert v.reason == "error-rate: no data for v1 (the baseline)"


def test_no_stable_version_is_inconclusive() -> None:
    _, v = one(INCREASE, sample("v2", err=0.01), stable=None)
    assert v.status is Status.INCONCLUSIVE
    assert v.reason == "error-rate: no stable version to compare v2 with"


def test_min_and_max_are_checked_before_the_comparison() -> None:
    spec = MetricSpec("error-rate", max=0.05, baseline="stable", max_increase=0.01)
    _, v = one(spec, sample("v2", err=0.31), sample("v1", err=0.30))
    assert v.reason == "error-rate 0.31 > max 0.05 on v2"


def test_too_few_requests_gates_relative_thresholds_like_the_others() -> None:
    m, v = one(INCREASE, sample("v2", err=0.5, requests=3), sample("v1", err=0.0))
    assert (m.status, v.status) == (Status.INCONCLUSIVE, Status.INCONCLUSIVE)
    assert "only 3 requests on v2" in v.reason


def test_verdicts_of_plain_metrics_store_as_before() -> None:
    _, v = one(MetricSpec("error-rate", max=0.05), sample("v2"), sample("v1"))
    assert set(v.to_dict()) == {
        "name",
        "version",
        "value",
        "min",
        "max",
        "status",
        "reason",
        "baseline",
    }


# --------------------------------------------------------------------------- sequential

SEQ = MetricSpec("error-rate", baseline="stable", max_increase=0.01, test="sequential")
SEQ_RATIO = MetricSpec("error-rate", baseline="stable", max_ratio=1.5, test="sequential")


def fed(test: SequentialTest, n: int, counts: tuple[float, float, float, float]):
    for _ in range(n):
        test = test.update(*counts)
    return test


def test_sequential_regression_fails_with_the_statistic_and_the_interval() -> None:
    t = fed(SequentialTest(max_increase=0.01), 10, (50, 2, 450, 2))
    m, v = one(SEQ, sample("v2"), sample("v1"), sequential={"error-rate": t})
    assert (m.status, v.status) == (Status.FAILED, Status.FAILED)
    assert v.reason.startswith("error-rate v2 0.04 vs v1 0.00444 over 500 requests: e ")
    assert ">= 100, difference +0.0" in v.reason and v.reason.endswith("> +0.01")
    assert v.value == pytest.approx(0.04) and v.baseline == pytest.approx(2 / 450)
    assert v.sequential is not None
    assert v.sequential["outcome"] == "regression"
    assert v.sequential["e_value"] >= 100 and v.sequential["threshold"] == 100


def test_sequential_within_the_limit_passes() -> None:
    t = fed(SequentialTest(max_ratio=1.5), 300, (500, 5, 500, 5))
    m, v = one(SEQ_RATIO, sample("v2"), sample("v1"), sequential={"error-rate": t})
    assert (m.status, v.status) == (Status.SUCCESSFUL, Status.SUCCESSFUL)
    assert " within 1.5x (e " in v.reason and v.reason.startswith("error-rate v2 0.01 vs v1 0.01")


def test_sequential_not_decided_yet_is_inconclusive() -> None:
    t = fed(SequentialTest(max_ratio=1.5), 3, (50, 1, 450, 5))
    _, v = one(SEQ_RATIO, sample("v2"), sample("v1"), sequential={"error-rate": t})
    assert v.status is Status.INCONCLUSIVE
    assert v.reason.endswith("vs 1.5x: not decided yet")
    assert v.sequential is not None and v.sequential["outcome"] == "undecided"


def test_sequential_without_state_is_inconclusive() -> None:
    _, v = one(SEQ, sample("v2"), sample("v1"))
    assert v.status is Status.INCONCLUSIVE
    assert "the sequential test has no counts" in v.reason


def test_a_sequential_failure_stands_when_the_window_has_too_few_requests() -> None:
    t = fed(SequentialTest(max_increase=0.01), 10, (50, 2, 450, 2))
    spec = AnalysisSpec(metrics=(SEQ, MetricSpec("latency-p95", max=1.0)))
    m = measure(
        spec, "v2", obs(sample("v2", requests=3), sample("v1")), "v1", sequential={"error-rate": t}
    )
    assert m.status is Status.FAILED
    seq, latency = m.verdicts
    assert seq.status is Status.FAILED and m.reason == seq.reason
    assert latency.status is Status.INCONCLUSIVE and "only 3 requests" in latency.reason


def test_a_measurement_with_sequential_evidence_round_trips_through_json() -> None:
    t = fed(SequentialTest(max_increase=0.01), 4, (50, 1, 450, 3))
    m, v = one(SEQ, sample("v2"), sample("v1"), sequential={"error-rate": t})
    back = Measurement.from_dict(json.loads(json.dumps(m.to_dict())))
    assert back == m
    assert MetricVerdict.from_dict(v.to_dict()) == v


def test_slow_requests_have_no_value_until_the_metrics_carry_buckets() -> None:
    spec = MetricSpec("slow-requests", max=0.05, slower_than=0.5)
    _, v = one(spec, sample("v2"), sample("v1"))
    assert (v.status, v.reason) == (Status.INCONCLUSIVE, "slow-requests: no data for v2")
