"""Counts for the sequential test from the metrics samples (console/analysis/feed.py)."""

from __future__ import annotations

import math

from backends.base import MetricSample
from console.analysis.feed import counts, feed, fresh_share
from console.plan.model import MetricSpec

ERRORS = MetricSpec("error-rate", baseline="stable", max_increase=0.01, test="sequential")
SLOW = MetricSpec("slow-requests", baseline="stable", max_ratio=1.5, test="sequential",
                  slower_than=0.3)  # fmt: skip
BUCKETS = ((0.1, 50.0), (0.3, 90.0), (1.0, 99.0), (math.inf, 100.0))


def _s(v: str, at: float, window: float, n: float, x: float | None, **kw: object) -> MetricSample:
    ratio = None if x is None or n == 0 else x / n
    return MetricSample(v, at, window, n, n / window, ratio, None, None, None, failures=x, **kw)  # type: ignore[arg-type]


def test_failures_come_from_the_count_else_from_the_ratio() -> None:
    assert counts(ERRORS, _s("v2", 10, 1, 100, 3)) is not None
    c = counts(ERRORS, _s("v2", 10, 1, 100, 3))
    assert c is not None and (c.requests, c.failures) == (100, 3)
    old = MetricSample("v2", 10, 1, 100, 100, 0.03, None, None, None)  # no failures field
    c = counts(ERRORS, old)
    assert c is not None and math.isclose(c.failures, 3.0)
    assert counts(ERRORS, None) is None


def test_slow_requests_come_from_the_buckets() -> None:
    c = counts(SLOW, _s("v2", 10, 1, 100, 0, latency_buckets=BUCKETS))
    assert c is not None and (c.requests, c.failures) == (100, 10)
    assert counts(SLOW, _s("v2", 10, 1, 100, 0)) is None  # no histogram: no count


def test_only_the_part_of_a_window_after_the_last_count_is_new() -> None:
    s = _s("v2", 20.0, 4.0, 100, 1)
    assert fresh_share(s, None) == 1.0
    assert fresh_share(s, 16.0) == 1.0  # starts where the last one ended
    assert fresh_share(s, 18.0) == 0.5
    assert fresh_share(s, 20.0) == 0.0


def test_feed_counts_each_window_once_and_pro_rata_on_overlap() -> None:
    fed = feed((ERRORS,), {}, _s("v2", 12, 2, 20, 2), _s("v1", 12, 2, 180, 2), 10.0)
    assert fed.until == 12 and fed.share == 1.0
    again = feed((ERRORS,), fed.tests, _s("v2", 12, 2, 20, 2), _s("v1", 12, 2, 180, 2), fed.until)
    assert again.share == 0.0 and again.tests["error-rate"] == fed.tests["error-rate"]
    half = feed((ERRORS,), fed.tests, _s("v2", 13, 2, 20, 2), _s("v1", 13, 2, 180, 2), fed.until)
    assert half.tests["error-rate"].totals == (30.0, 3.0, 270.0, 3.0)


def test_missing_counts_on_one_side_leave_the_test_as_it_was() -> None:
    fed = feed((ERRORS,), {}, _s("v2", 12, 2, 20, 2), None, 10.0)
    assert fed.tests["error-rate"].intervals == 0
