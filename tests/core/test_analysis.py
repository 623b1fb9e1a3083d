"""Analysis rules: thresholds, minRequests, missing data, errors, counting and limits."""

from __future__ import annotations

import math

import pytest

from backends.base import MetricSample, Observation
from console.analysis.verdicts import (
    Counters,
    Decision,
    Measurement,
    MetricVerdict,
    Status,
    decide,
    describe_next,
    format_value,
    measure,
    update_counters,
)
from console.plan.model import AnalysisSpec, MetricSpec, OnFailure


def s(
    version: str = "v2",
    requests: float | None = 100,
    rate: float | None = 20.0,
    err: float | None = 0.01,
    p50: float | None = 0.02,
    p95: float | None = 0.05,
    p99: float | None = 0.1,
) -> MetricSample:
    return MetricSample(version, 100.0, 5.0, requests, rate, err, p50, p95, p99)


def obs(*samples: MetricSample, custom: dict | None = None) -> Observation:
    return Observation(
        at=100.0, health={}, metrics={x.version: x for x in samples}, custom=custom or {}
    )


def spec(*metrics: MetricSpec, **kw) -> AnalysisSpec:
    return AnalysisSpec(metrics=metrics or (MetricSpec("error-rate", max=0.05),), **kw)


def test_error_rate_above_max_fails_with_value_threshold_and_version() -> None:
    m = measure(spec(), "v2", obs(s(err=0.31), s("v1", err=0.01)), "v1")
    assert m.status is Status.FAILED
    (v,) = m.verdicts
    assert (v.name, v.version, v.value, v.max, v.status) == (
        "error-rate",
        "v2",
        0.31,
        0.05,
        Status.FAILED,
    )
    assert v.reason == "error-rate 0.31 > max 0.05 on v2"
    assert v.baseline == 0.01
    assert m.reason == "error-rate 0.31 > max 0.05 on v2"


def test_passing_measurement_says_so() -> None:
    m = measure(spec(), "v2", obs(s(err=0.01)))
    assert m.status is Status.SUCCESSFUL
    assert m.verdicts[0].status is Status.SUCCESSFUL
    assert "0.01 within max 0.05 on v2" in m.verdicts[0].reason
    assert m.requests == 100


@pytest.mark.parametrize(
    ("name", "field", "value", "shown"),
    [
        ("latency-p50", "p50", 0.512, "latency-p50 512ms > max 400ms on v2"),
        ("latency-p95", "p95", 0.512, "latency-p95 512ms > max 400ms on v2"),
        ("latency-p99", "p99", 0.512, "latency-p99 512ms > max 400ms on v2"),
    ],
)
def test_latency_builtins_read_their_percentile_and_print_ms(name, field, value, shown) -> None:
    kw = {"p50": 0.01, "p95": 0.01, "p99": 0.01, field: value}
    m = measure(spec(MetricSpec(name, max=0.4)), "v2", obs(s(**kw)))
    assert m.status is Status.FAILED
    assert m.verdicts[0].reason == shown


def test_request_rate_below_min_fails() -> None:
    m = measure(spec(MetricSpec("request-rate", min=5.0)), "v2", obs(s(rate=1.2)))
    assert m.status is Status.FAILED
    assert m.verdicts[0].reason == "request-rate 1.2/s < min 5/s on v2"


def test_min_and_max_both_checked() -> None:
    sp = spec(MetricSpec("error-rate", min=0.001, max=0.05))
    assert measure(sp, "v2", obs(s(err=0.0))).status is Status.FAILED
    assert measure(sp, "v2", obs(s(err=0.01))).status is Status.SUCCESSFUL
    assert measure(sp, "v2", obs(s(err=0.06))).status is Status.FAILED


def test_threshold_boundary_is_a_pass() -> None:
    assert measure(spec(), "v2", obs(s(err=0.05))).status is Status.SUCCESSFUL


def test_fewer_requests_than_min_requests_is_inconclusive_even_if_failing() -> None:
    m = measure(spec(min_requests=20), "v2", obs(s(requests=12, err=0.9)))
    assert m.status is Status.INCONCLUSIVE
    assert m.reason == "only 12 requests on v2 in 5s (< minRequests 20)"
    assert m.verdicts[0].status is Status.INCONCLUSIVE
    assert m.verdicts[0].value == 0.9  # the value is still shown


@pytest.mark.parametrize("metrics", [{}, {"v1": s("v1")}])
def test_no_sample_for_the_candidate_is_inconclusive(metrics) -> None:
    o = Observation(at=1.0, health={}, metrics=metrics)
    m = measure(spec(), "v2", o)
    assert m.status is Status.INCONCLUSIVE
    assert "no metrics for v2" in m.reason


def test_missing_request_count_is_inconclusive() -> None:
    assert measure(spec(), "v2", obs(s(requests=None))).status is Status.INCONCLUSIVE


@pytest.mark.parametrize("missing", [None, math.nan, math.inf])
def test_missing_value_is_inconclusive_never_a_pass(missing) -> None:
    m = measure(spec(), "v2", obs(s(err=missing)))
    assert m.status is Status.INCONCLUSIVE
    assert m.verdicts[0].value is None
    assert m.verdicts[0].reason == "error-rate: no data for v2"


def test_a_failure_wins_over_a_missing_value() -> None:
    sp = spec(MetricSpec("error-rate", max=0.05), MetricSpec("latency-p99", max=0.4))
    m = measure(sp, "v2", obs(s(err=0.5, p99=None)))
    assert m.status is Status.FAILED
    assert [v.status for v in m.verdicts] == [Status.FAILED, Status.INCONCLUSIVE]


def test_unreachable_source_is_an_error_for_every_metric() -> None:
    o = Observation(at=1.0, health={}, metrics=None, metrics_error="connection refused")
    sp = spec(MetricSpec("error-rate", max=0.05), MetricSpec("latency-p99", max=0.4))
    m = measure(sp, "v2", o)
    assert m.status is Status.ERROR
    assert m.reason == "metrics source unreachable: connection refused"
    assert all(v.status is Status.ERROR for v in m.verdicts)


def test_custom_query_reads_obs_custom_by_name_and_version() -> None:
    sp = spec(MetricSpec("checkout-ok", query="sum(x)", min=0.99))
    m = measure(sp, "v2", obs(s(), custom={"checkout-ok": {"v2": 0.97, "v1": 1.0}}), "v1")
    assert m.status is Status.FAILED
    assert m.verdicts[0].reason == "checkout-ok 0.97 < min 0.99 on v2"
    assert m.verdicts[0].baseline == 1.0
    ok = measure(sp, "v2", obs(s(), custom={"checkout-ok": {"v2": 0.995}}))
    assert ok.status is Status.SUCCESSFUL


@pytest.mark.parametrize("custom", [{}, {"checkout-ok": {}}, {"checkout-ok": {"v2": None}}])
def test_custom_query_without_a_value_is_inconclusive(custom) -> None:
    sp = spec(MetricSpec("checkout-ok", query="sum(x)", min=0.99))
    assert measure(sp, "v2", obs(s(), custom=custom)).status is Status.INCONCLUSIVE


def test_measurement_round_trips_through_dict() -> None:
    m = measure(spec(), "v2", obs(s(err=0.31)), "v1", now=7.0)
    assert m.at == 7.0
    assert Measurement.from_dict(m.to_dict()) == m
    v = m.verdicts[0]
    assert MetricVerdict.from_dict(v.to_dict()) == v


def test_format_value() -> None:
    assert format_value("latency-p99", 0.4) == "400ms"
    assert format_value("latency-p50", 0.0042) == "4.2ms"
    assert format_value("error-rate", 0.3125) == "0.312"
    assert format_value("request-rate", 12.34) == "12.3/s"
    assert format_value("error-rate", None) == "no data"


# --------------------------------------------------------------------------- counting


def test_counter_updates() -> None:
    c = Counters()
    c = update_counters(c, Status.INCONCLUSIVE)
    c = update_counters(c, "inconclusive")
    assert c == Counters(0, 2, 0)
    c = update_counters(c, Status.ERROR)
    assert c == Counters(0, 0, 1)  # an error breaks the inconclusive run
    c = update_counters(c, Status.FAILED)
    assert c == Counters(1, 0, 0)
    c = update_counters(c, Status.SUCCESSFUL)
    assert c == Counters(1, 0, 0)  # failures are never forgiven within a stage
    assert Counters.from_dict(c.to_dict()) == c
    assert Counters.from_dict(None) == Counters()


def test_breach_when_failures_exceed_the_limit() -> None:
    sp = spec(failure_limit=1)
    assert decide(Counters(1, 0, 0), sp) is Decision.CONTINUE
    assert decide(Counters(2, 0, 0), sp) is Decision.BREACH
    assert decide(Counters(1, 0, 0), spec(failure_limit=0)) is Decision.BREACH


def test_inconclusive_and_error_limits_pause() -> None:
    sp = spec(inconclusive_limit=3, consecutive_error_limit=2)
    assert decide(Counters(0, 2, 0), sp) is Decision.CONTINUE
    assert decide(Counters(0, 3, 0), sp) is Decision.INCONCLUSIVE_LIMIT
    assert decide(Counters(0, 0, 1), sp) is Decision.CONTINUE
    assert decide(Counters(0, 0, 2), sp) is Decision.ERROR_LIMIT
    # A limit of 0 acts as 1, and "no measurements yet" never pauses.
    sp0 = spec(inconclusive_limit=0, consecutive_error_limit=0)
    assert decide(Counters(), sp0) is Decision.CONTINUE
    assert decide(Counters(0, 1, 0), sp0) is Decision.INCONCLUSIVE_LIMIT


def test_breach_is_decided_before_pauses() -> None:
    assert decide(Counters(5, 9, 9), spec(failure_limit=1)) is Decision.BREACH


def test_describe_next() -> None:
    sp = spec(failure_limit=1)
    assert describe_next(Counters(0, 0, 0), sp) == "0/2 failures: 2 more failures roll back"
    assert describe_next(Counters(1, 0, 0), sp) == "1/2 failures: one more failure rolls back"
    assert "failure limit reached (2/2 failures)" in describe_next(Counters(2, 0, 0), sp)
    paused = spec(failure_limit=0, on_failure=OnFailure.PAUSE, inconclusive_limit=3)
    text = describe_next(Counters(0, 2, 1), paused)
    assert text.startswith("0/1 failures: one more failure pauses")
    assert "inconclusive 2/3 in a row" in text
    assert "metrics errors 1/4 in a row" in text
