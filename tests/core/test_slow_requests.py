"""Slow requests counted from cumulative histogram buckets (console/analysis/slow.py)."""

from __future__ import annotations

import bisect
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.local.metrics import BUCKETS
from console.analysis.slow import SlowCount, slow_requests

INF = math.inf
# 100 requests: 50 at or under 0.1 s, 80 at or under 0.3 s, 95 at or under 1 s.
HIST = [(0.1, 50.0), (0.3, 80.0), (1.0, 95.0), (INF, 100.0)]


def test_bound_on_a_bucket_counts_exactly() -> None:
    assert slow_requests(HIST, 0.3) == SlowCount(20.0, 100.0, 0.3)
    assert slow_requests(HIST, 0.3).ratio == 0.2


def test_bound_written_differently_is_the_same_bucket() -> None:
    assert slow_requests(HIST, 0.1 + 0.2).counted_from == 0.3  # 0.30000000000000004


def test_bound_between_buckets_counts_from_the_bucket_below() -> None:
    assert slow_requests(HIST, 0.5) == SlowCount(20.0, 100.0, 0.3)


def test_bound_below_every_bucket_counts_every_request() -> None:
    assert slow_requests(HIST, 0.05) == SlowCount(100.0, 100.0, 0.0)


def test_bound_above_the_largest_finite_bucket_counts_the_inf_bucket() -> None:
    assert slow_requests(HIST, 5.0) == SlowCount(5.0, 100.0, 1.0)


def test_infinite_bound_counts_nothing() -> None:
    assert slow_requests(HIST, INF) == SlowCount(0.0, 100.0, INF)


def test_order_of_buckets_does_not_matter() -> None:
    assert slow_requests(reversed(HIST), 0.3) == slow_requests(HIST, 0.3)


def test_counts_that_dip_are_lifted() -> None:
    # rate() extrapolates each bucket series on its own: 79.9 after 80 is rounding noise.
    dipped = [(0.1, 50.0), (0.3, 80.0), (1.0, 79.9), (INF, 100.0)]
    assert slow_requests(dipped, 1.0) == SlowCount(20.0, 100.0, 1.0)


def test_no_traffic_has_no_ratio() -> None:
    count = slow_requests([(0.1, 0.0), (INF, 0.0)], 0.1)
    assert count == SlowCount(0.0, 0.0, 0.1) and count.ratio is None


@pytest.mark.parametrize("buckets", [[], [(0.1, 5.0), (1.0, 9.0)]])
def test_without_an_inf_bucket_there_is_no_total(buckets) -> None:
    assert slow_requests(buckets, 0.3) is None


@pytest.mark.parametrize(
    ("buckets", "bound", "message"),
    [
        (HIST, -1.0, "latency bound"),
        (HIST, math.nan, "latency bound"),
        ([(0.1, 1.0), (0.1, 2.0), (INF, 3.0)], 0.3, "twice"),
        ([(-0.1, 1.0), (INF, 3.0)], 0.3, "bucket bound"),
        ([(0.1, -1.0), (INF, 3.0)], 0.3, "bucket count"),
        ([(0.1, math.nan), (INF, 3.0)], 0.3, "bucket count"),
    ],
)
def test_impossible_input_is_refused(buckets, bound, message) -> None:
    with pytest.raises(ValueError, match=message):
        slow_requests(buckets, bound)


def cumulative(latencies: list[float]) -> list[tuple[float, float]]:
    """The demo's histogram of these latencies, as Prometheus exposes it."""
    counts = [0] * (len(BUCKETS) + 1)
    for v in latencies:
        counts[bisect.bisect_left(BUCKETS, v)] += 1
    out, running = [], 0
    for le, n in zip([*BUCKETS, INF], counts, strict=True):
        running += n
        out.append((le, float(running)))
    return out


latencies = st.lists(st.floats(0.0, 20.0, allow_nan=False), max_size=200)


@given(latencies, st.floats(0.0, 12.0, allow_nan=False))
def test_matches_counting_the_requests_one_by_one(values, bound) -> None:
    count = slow_requests(cumulative(values), bound)
    assert count is not None
    assert count.counted_from <= bound or math.isclose(count.counted_from, bound)
    assert count.total == len(values)
    if bound < BUCKETS[0]:  # below every bucket: every request counts
        assert (count.slow, count.counted_from) == (len(values), 0.0)
    else:
        assert count.slow == sum(1 for v in values if v > count.counted_from)
    # Never misses a request slower than the asked bound.
    assert count.slow >= sum(1 for v in values if v > bound)


@given(latencies, st.floats(0.0, 12.0, allow_nan=False), st.floats(0.0, 12.0, allow_nan=False))
def test_a_higher_bound_never_counts_more(values, a, b) -> None:
    lo, hi = sorted((a, b))
    h = cumulative(values)
    assert slow_requests(h, hi).slow <= slow_requests(h, lo).slow
