"""Slow requests: how many requests took longer than a latency bound, from histogram buckets.

The metrics keep latency as a Prometheus histogram: cumulative buckets, each the number of
requests that took at most ``le`` seconds, the last one ``le = +Inf`` (every request). A
count of slow requests per version and interval feeds the sequential test exactly like a
count of failed requests (``console/analysis/sequential.py``). Pure.

A histogram only knows its bucket bounds, so a bound between two of them is counted from
the nearest bucket bound at or below it: a request is "slow" when it took longer than that
bucket bound. That can only count more requests as slow, never miss one slower than the
bound, and it is the same rule for both versions, which is what the comparison needs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

# Bucket bounds are float seconds parsed from text ("0.3"); a bound within this relative
# distance is the same bound.
_SAME = 1e-9


@dataclass(frozen=True)
class SlowCount:
    """``slow`` of ``total`` requests took longer than ``counted_from`` seconds.

    ``counted_from`` is the bucket bound used: the asked bound if it is one, else the
    nearest one below it (0.0 when the bound is below every bucket: all requests count).
    """

    slow: float
    total: float
    counted_from: float

    @property
    def ratio(self) -> float | None:
        return self.slow / self.total if self.total > 0 else None


def slow_requests(buckets: Iterable[tuple[float, float]], bound: float) -> SlowCount | None:
    """Requests slower than ``bound`` seconds from cumulative ``(le, count)`` buckets.

    ``le`` in seconds, in any order, ``math.inf`` for the +Inf bucket. Counts that dip
    between buckets (``rate()`` extrapolates each series on its own) are lifted to the
    largest count at a smaller ``le``. None without a +Inf bucket (no total to count from).
    Raises ValueError for a negative, NaN or repeated ``le``, or a negative or NaN count.
    """
    if math.isnan(bound) or bound < 0:
        raise ValueError(f"the latency bound must be 0 or more seconds, got {bound!r}")
    rows = sorted((float(le), float(n)) for le, n in buckets)
    for i, (le, n) in enumerate(rows):
        if math.isnan(le) or le < 0:
            raise ValueError(f"bucket bound must be 0 or more seconds, got {le!r}")
        if math.isnan(n) or n < 0:
            raise ValueError(f"bucket count must be 0 or more, got {n!r} (le {le:g})")
        if i and le == rows[i - 1][0]:
            raise ValueError(f"bucket bound {le:g} appears twice")
    if not rows or not math.isinf(rows[-1][0]):
        return None
    below = 0.0  # requests at or under the chosen bound
    counted_from = 0.0
    running = 0.0
    for le, n in rows:
        running = max(running, n)
        if le <= bound or math.isclose(le, bound, rel_tol=_SAME):
            below, counted_from = running, le
        else:
            break
    total = max(n for _, n in rows)  # the +Inf count, lifted like the others
    if math.isinf(counted_from):  # an infinite bound: nothing is slower
        return SlowCount(0.0, total, counted_from)
    return SlowCount(max(0.0, total - below), total, counted_from)
