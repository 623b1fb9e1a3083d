"""Feeding the sequential tests from the metrics, one measurement at a time. Pure.

Each measurement brings one sample per version over the analysis window ending at the
sample's ``at``. The sequential test needs counts that tile time: a request may be counted
once at most, or the test would see the same evidence twice. So the engine remembers up to
when it has counted (``until``, the end of the last window it used) and each new window
contributes only its part after that:

- a window that starts at or after ``until`` counts in full (the usual case: ``window`` at
  most ``interval``; a gap between windows only leaves requests out, which keeps the test
  valid);
- a window that overlaps counted time (``window`` longer than ``interval``, or a sample taken
  a little early) counts pro rata: its counts times the share of the window after ``until``,
  which assumes the requests spread evenly over the window;
- the first window counts from the candidate's exposure on (``until`` starts there), so
  the stable's requests from before the candidate took traffic are not compared.

Failures are the sample's ``failures`` (5xx answers), else ``error_ratio x requests``;
slow requests come from the sample's ``latency_buckets`` (console/analysis/slow.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from backends.base import MetricSample
from console.analysis.sequential import SequentialTest
from console.analysis.slow import slow_requests
from console.plan.model import SLOW_REQUESTS, MetricSpec


@dataclass(frozen=True)
class Counts:
    """One version's requests and failed (or slow) requests in one window."""

    requests: float
    failures: float


def new_test(m: MetricSpec) -> SequentialTest:
    """A fresh test for a ``test: sequential`` metric, with the plan's limit and alpha."""
    return SequentialTest(
        max_ratio=m.max_ratio if m.max_ratio is not None else 1.0,
        max_increase=m.max_increase if m.max_increase is not None else 0.0,
        alpha=m.alpha,
    )


def counts(m: MetricSpec, sample: MetricSample | None) -> Counts | None:
    """The counts ``m`` compares in ``sample``'s window; None when the sample lacks them."""
    if sample is None or sample.requests is None:
        return None
    requests = float(sample.requests)
    if m.name == SLOW_REQUESTS:
        if sample.latency_buckets is None or m.slower_than is None:
            return None
        slow = slow_requests(sample.latency_buckets, m.slower_than)
        if slow is None:
            return None
        return Counts(slow.total, slow.slow)
    if sample.failures is not None:
        return Counts(requests, float(sample.failures))
    if sample.error_ratio is not None:
        return Counts(requests, float(sample.error_ratio) * requests)
    if requests == 0:
        return Counts(0.0, 0.0)
    return None


def fresh_share(sample: MetricSample, until: float | None) -> float:
    """The share of ``sample``'s window not counted yet (after ``until``), 0..1."""
    if until is None or sample.window <= 0:
        return 1.0
    start = sample.at - sample.window
    if start >= until:
        return 1.0
    return max(0.0, min(1.0, (sample.at - until) / sample.window))


@dataclass(frozen=True)
class Fed:
    """The tests after one measurement, up to when they have counted, and what was used."""

    tests: dict[str, SequentialTest]
    until: float | None
    share: float  # the share of this window counted (0: nothing new)


def feed(
    metrics: tuple[MetricSpec, ...],
    tests: Mapping[str, SequentialTest],
    candidate: MetricSample | None,
    stable: MetricSample | None,
    until: float | None,
) -> Fed:
    """Update every ``test: sequential`` metric's test with this measurement's new counts.

    A metric whose counts are missing on either side keeps its test as it was (that
    interval is simply not compared); a test that does not exist yet is created.
    """
    out = dict(tests)
    samples = [s for s in (candidate, stable) if s is not None]
    if not samples:
        return Fed(out, until, 0.0)
    end = max(s.at for s in samples)
    share = min(fresh_share(s, until) for s in samples)
    for m in metrics:
        if not m.sequential:
            continue
        test = out.get(m.name) or new_test(m)
        c, s = counts(m, candidate), counts(m, stable)
        if share > 0 and c is not None and s is not None:
            test = test.update(
                c.requests * share, c.failures * share, s.requests * share, s.failures * share
            )
        out[m.name] = test
    new_until = end if until is None else max(until, end)
    return Fed(out, new_until, share)
