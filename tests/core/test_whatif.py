"""console/analysis/whatif.py and its report (console/view/whatif.py): time slicing, observation assembly and replay. Pure, no I/O."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.base import MetricSample
from console.analysis.verdicts import Decision
from console.analysis.whatif import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    WhatIfError,
    evaluation_times,
    observations,
    replay,
)
from console.plan.model import AnalysisSpec, MetricSpec, OnFailure
from console.view.whatif import render_text

SPEC = AnalysisSpec(
    interval=10.0,
    min_requests=20,
    failure_limit=1,
    inconclusive_limit=3,
    metrics=(MetricSpec("error-rate", max=0.05), MetricSpec("latency-p99", max=0.4)),
)


def _s(v: str, at: float, requests: float | None = 100.0, err: float | None = 0.0, p99=0.1):
    rate = None if requests is None else requests / 10.0
    return MetricSample(v, at, 10.0, requests, rate, err, p99, p99, p99)


def _series(v: str, times: list[float], **per_time: dict) -> list[MetricSample]:
    return [_s(v, t, **per_time.get(str(i), {})) for i, t in enumerate(times)]


# --------------------------------------------------------------------------- slicing


def test_times_end_at_now_and_every_window_fits() -> None:
    times = evaluation_times(1000.0, 1060.0, 10.0, 30.0)
    assert times == [1030.0, 1040.0, 1050.0, 1060.0]


@settings(deadline=None, max_examples=60)
@given(
    start=st.floats(0, 1e6),
    length=st.floats(1, 2e4),
    interval=st.floats(0.5, 600),
    window=st.floats(0.5, 600),
)
def test_times_properties(start: float, length: float, interval: float, window: float) -> None:
    end = start + length
    try:
        times = evaluation_times(start, end, interval, window)
    except WhatIfError:
        assert length < window - 1e-6 or length / interval > 99_000
        return
    assert times[-1] == pytest.approx(end)
    assert times[0] - window >= start - 1e-6  # the first window lies inside the lookback
    assert times[0] - window - interval < start + 1e-6  # and no earlier one would fit
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(g == pytest.approx(interval) for g in gaps)


def test_times_errors_say_what_to_change() -> None:
    with pytest.raises(WhatIfError, match="shorter than the analysis window"):
        evaluation_times(0.0, 20.0, 10.0, 30.0)
    with pytest.raises(WhatIfError, match="too many"):
        evaluation_times(0.0, 10_000_000.0, 1.0, 1.0)


def test_observations_take_the_nearest_point_within_half_an_interval() -> None:
    times = [100.0, 110.0, 120.0]
    samples = {"v2": [_s("v2", 100.2), _s("v2", 121.0)], "v1": [_s("v1", 106.0)]}
    custom = {"ok": {"v2": [(99.9, 0.5), (110.1, None)]}}
    obs = observations(times, samples, custom, 10.0)
    assert [o.at for o in obs] == times
    assert obs[0].metrics["v2"].at == 100.2 and "v1" not in obs[0].metrics  # 6 s > 5 s away
    assert "v2" not in obs[1].metrics  # a gap in the data is missing data
    assert obs[2].metrics["v2"].at == 121.0
    assert obs[0].custom["ok"]["v2"] == 0.5
    assert obs[1].custom["ok"]["v2"] is None and obs[2].custom["ok"]["v2"] is None


# --------------------------------------------------------------------------- replay


def _times(n: int) -> list[float]:
    return [1000.0 + 10 * k for k in range(n)]


def test_all_good_passes() -> None:
    t = _times(6)
    result = replay(SPEC, "v2", "v1", observations(t, {"v2": _series("v2", t)}, {}, 10.0))
    assert result.verdict == PASS and result.passed
    assert result.first_failure_at is None and result.decision is Decision.CONTINUE
    assert result.counts["successful"] == 6


def test_breach_reports_first_failing_metric_and_when_it_would_roll_back() -> None:
    t = _times(8)
    bad = {"err": 0.3}
    samples = _series("v2", t, **{"3": bad, "4": {"err": 0.0, "p99": 0.9}, "5": bad, "6": bad})
    result = replay(SPEC, "v2", "v1", observations(t, {"v2": samples}, {}, 10.0))
    assert result.verdict == FAIL
    assert result.first_failure_at == t[3]
    assert [v.name for v in result.first_failure] == ["error-rate"]
    # failureLimit 1: the second failed measurement (latency at t[4]) decides.
    assert result.decided_at == t[4] and result.decision is Decision.BREACH
    assert "would have rolled back" in result.message and "latency-p99" in result.message
    assert len(result.steps) == 5  # the replay stops where the rollout would have stopped
    text = render_text(result, clock=lambda at: f"T{int(at)}")
    assert f"first failure: error-rate at T{int(t[3])}" in text
    assert "result: FAIL: would have rolled back" in text


def test_on_failure_pause_says_paused() -> None:
    spec = AnalysisSpec(interval=10.0, failure_limit=0, on_failure=OnFailure.PAUSE)
    t = _times(3)
    samples = _series("v2", t, **{"1": {"err": 0.5}})
    result = replay(spec, "v2", None, observations(t, {"v2": samples}, {}, 10.0))
    assert result.verdict == FAIL and result.message.startswith("would have paused")


def test_missing_or_thin_data_is_inconclusive_never_a_pass() -> None:
    t = _times(5)
    thin = _series("v2", t, **{str(i): {"requests": 5.0} for i in range(5)})
    result = replay(SPEC, "v2", "v1", observations(t, {"v2": thin}, {}, 10.0))
    assert result.verdict == INCONCLUSIVE
    assert result.decision is Decision.INCONCLUSIVE_LIMIT and result.decided_at == t[2]
    assert "minRequests 20" in result.message
    nothing = replay(SPEC, "v2", "v1", observations(t[:2], {}, {}, 10.0))
    assert nothing.verdict == INCONCLUSIVE and "no measurement passed" in nothing.message
    assert "two scrape intervals" in render_text(nothing)  # a hint at the likely cause
    assert "hint:" not in render_text(result)
    no_error_value = _series("v2", t[:2], **{"0": {"err": None}, "1": {"err": None}})
    result = replay(SPEC, "v2", "v1", observations(t[:2], {"v2": no_error_value}, {}, 10.0))
    assert result.verdict == INCONCLUSIVE


def test_inconclusive_says_it_would_not_have_passed_and_why() -> None:
    t = _times(39)
    thin = _series("v2", t, **{str(i): {"requests": 12.0} for i in range(39)})
    result = replay(SPEC, "v2", "v1", observations(t, {"v2": thin}, {}, 10.0))
    assert result.verdict == INCONCLUSIVE and not result.passed
    assert result.message == (
        "would NOT have passed: inconclusive \u2014 the candidate had too few requests "
        "(12 < minRequests 20) in 3 of 3 measurements; the rollout would have paused for a "
        "human (inconclusiveLimit 3)"
    )
    text = render_text(result, clock=lambda at: f"T{int(at)}")
    assert "3 of 39 planned measurements evaluated; the replay stopped where the rollout " in (text)
    assert "would have paused" in text and "(of 39" not in text
    # Varying thin traffic and a gap: each cause with its count.
    mixed = _series("v2", t[:2], **{"0": {"requests": 3.0}, "1": {"requests": 12.0}})
    result = replay(SPEC, "v2", "v1", observations(t[:3], {"v2": mixed}, {}, 10.0))
    assert "too few requests (at most 12 < minRequests 20) in 2 of 3 measurements" in (
        result.message
    )
    assert "no metrics for v2 in 1 of 3 measurements" in result.message


def test_a_breach_says_how_far_the_replay_went() -> None:
    t = _times(8)
    samples = _series("v2", t, **{"1": {"err": 0.3}, "2": {"err": 0.3}})
    text = render_text(replay(SPEC, "v2", "v1", observations(t, {"v2": samples}, {}, 10.0)))
    assert (
        "3 of 8 planned measurements evaluated; the replay stopped at the breach, where "
        "the rollout would have rolled back"
    ) in text


def test_a_tolerated_failure_still_passes_and_says_so() -> None:
    t = _times(4)
    samples = _series("v2", t, **{"1": {"err": 0.2}})
    result = replay(SPEC, "v2", "v1", observations(t, {"v2": samples}, {}, 10.0))
    assert result.verdict == PASS and "1 failed measurement(s) within failureLimit 1" in (
        result.message
    )
    assert result.first_failure_at == t[1]


def test_custom_metrics_are_judged_from_their_series() -> None:
    spec = AnalysisSpec(
        interval=10.0,
        min_requests=0,
        failure_limit=0,
        metrics=(MetricSpec("ok", min=0.99, query="q"),),
    )
    t = _times(3)
    custom = {"ok": {"v2": [(t[0], 1.0), (t[1], 1.0), (t[2], 0.9)]}}
    result = replay(spec, "v2", None, observations(t, {"v2": _series("v2", t)}, custom, 10.0))
    assert result.verdict == FAIL and result.first_failure_at == t[2]
    assert result.first_failure[0].name == "ok"


def test_json_has_no_nan_or_infinity() -> None:
    t = _times(2)
    samples = _series("v2", t, **{"0": {"p99": float("inf")}})
    doc = replay(SPEC, "v2", "v1", observations(t, {"v2": samples}, {}, 10.0)).to_dict()
    text = json.dumps(doc, allow_nan=False)
    assert json.loads(text)["measurements"] == 2
