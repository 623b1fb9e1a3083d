"""What-if analysis: replay a plan's analysis over a past window, step by step. Pure.

``rollout analyze`` fetches the metrics (range queries, one point per analysis interval) and
hands them here. This module slices the window into measurement times, builds the
``Observation`` the engine would have seen at each, and runs the same verdict logic as a live
rollout (``console.analysis.verdicts``: measure, count, decide). The result says whether the plan
would have passed, which metric would have failed first and when, and when the limits would
have rolled back or paused the rollout. Missing data is inconclusive, never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backends.base import MetricSample, Observation
from backends.units import format_duration
from console.analysis import verdicts as analysis
from console.analysis.feed import feed
from console.analysis.sequential import SequentialTest
from console.analysis.verdicts import Counters, Decision, Measurement, MetricVerdict, Status
from console.plan.model import AnalysisSpec, OnFailure

# Prometheus answers up to 11,000 points per series; far beyond that is a typo in --since.
MAX_STEPS = 100_000

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


class WhatIfError(ValueError):
    """The window cannot be analysed as asked (too short, too many steps); exit 2."""


def evaluation_times(start: float, end: float, interval: float, window: float) -> list[float]:
    """Measurement times, ``interval`` apart and ending at ``end``, whose whole window lies
    inside [start, end]. Raises WhatIfError when there is no room for one window."""
    if interval <= 0 or window <= 0:
        raise WhatIfError("the analysis interval and window must be positive")
    span = end - start - window
    if span < -1e-6:
        raise WhatIfError(
            f"the lookback ({format_duration(end - start)}) is shorter than the analysis window "
            f"({format_duration(window)}); use a longer --since"
        )
    n = max(0, math.floor(span / interval + 1e-9))
    if n + 1 > MAX_STEPS:
        raise WhatIfError(
            f"{n + 1} measurements of {format_duration(interval)} in {format_duration(end - start)} is too many; "
            "use a shorter --since"
        )
    return [end - (n - k) * interval for k in range(n + 1)]


def _nearest(points: Sequence[tuple[float, Any]], t: float, tolerance: float) -> Any:
    """The value of the point nearest to ``t`` (within ``tolerance``), else None.
    ``points`` is sorted by time."""
    lo, hi = 0, len(points)
    while lo < hi:  # first point with time >= t
        mid = (lo + hi) // 2
        if points[mid][0] < t:
            lo = mid + 1
        else:
            hi = mid
    near = [points[i] for i in (lo - 1, lo) if 0 <= i < len(points)]
    near = [p for p in near if abs(p[0] - t) <= tolerance]
    return min(near, key=lambda p: abs(p[0] - t))[1] if near else None


def observations(
    times: Sequence[float],
    samples: Mapping[str, Sequence[MetricSample]],
    custom: Mapping[str, Mapping[str, Sequence[tuple[float, float | None]]]],
    interval: float,
) -> list[Observation]:
    """The observation at each time: each version's sample and each custom metric's value
    from the point nearest in time (within half an interval; farther means no data)."""
    tolerance = interval / 2
    by_version = {
        v: sorted(((s.at, s) for s in ss), key=lambda p: p[0]) for v, ss in samples.items()
    }
    custom_sorted = {
        name: {v: sorted(points, key=lambda p: p[0]) for v, points in per_version.items()}
        for name, per_version in custom.items()
    }
    out = []
    for t in times:
        metrics: dict[str, MetricSample] = {}
        for v, points in by_version.items():
            s = _nearest(points, t, tolerance)
            if s is not None:
                metrics[v] = s
        values = {
            name: {v: _nearest(points, t, tolerance) for v, points in per_version.items()}
            for name, per_version in custom_sorted.items()
        }
        out.append(Observation(at=t, health={}, metrics=metrics, custom=values))
    return out


@dataclass(frozen=True)
class Step:
    """One replayed measurement and the counters after it."""

    measurement: Measurement
    counters: Counters
    decision: Decision


@dataclass(frozen=True)
class Run:
    """Consecutive measurements with the same status (for a compact timeline)."""

    status: Status
    start: float
    end: float
    count: int
    reason: str  # the first measurement's reason

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "from": self.start,
            "to": self.end,
            "count": self.count,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class WhatIf:
    """The replay's outcome. ``verdict`` is pass, fail or inconclusive."""

    verdict: str
    candidate: str
    stable: str | None
    spec: AnalysisSpec
    start: float
    end: float
    steps: tuple[Step, ...]
    first_failure_at: float | None = None
    first_failure: tuple[MetricVerdict, ...] = ()
    decided_at: float | None = None
    decision: Decision = Decision.CONTINUE
    message: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)
    planned: int = 0  # measurements the window holds (the replay may stop earlier)

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    def runs(self) -> list[Run]:
        """The timeline as runs of equal status."""
        out: list[Run] = []
        for s in self.steps:
            m = s.measurement
            if out and out[-1].status is m.status:
                last = out[-1]
                out[-1] = Run(last.status, last.start, m.at, last.count + 1, last.reason)
            else:
                out.append(Run(m.status, m.at, m.at, 1, m.reason))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "passed": self.passed,
            "message": self.message,
            "candidate": self.candidate,
            "stable": self.stable,
            "from": self.start,
            "to": self.end,
            "interval": self.spec.interval,
            "window": self.spec.effective_window,
            "measurements": len(self.steps),
            "planned": self.planned,
            "counts": dict(self.counts),
            "first_failure": None
            if self.first_failure_at is None
            else {
                "at": self.first_failure_at,
                "metrics": [_json_safe(v.to_dict()) for v in self.first_failure],
            },
            "decision": str(self.decision),
            "decided_at": self.decided_at,
            "hint": hint(self) or None,
            "timeline": [r.to_dict() for r in self.runs()],
            "steps": [
                {
                    "at": s.measurement.at,
                    "status": str(s.measurement.status),
                    "reason": s.measurement.reason,
                    "requests": _finite(s.measurement.requests),
                    "values": {v.name: _finite(v.value) for v in s.measurement.verdicts},
                    "failures": s.counters.failures,
                    **_sequential_json(s.measurement),
                }
                for s in self.steps
            ],
        }


def replay(
    spec: AnalysisSpec,
    candidate: str,
    stable: str | None,
    obs: Sequence[Observation],
    *,
    start: float | None = None,
    end: float | None = None,
) -> WhatIf:
    """Run the analysis over ``obs`` in order, as a live rollout would, and stop where the
    rollout would have stopped (a breach, or the inconclusive limit)."""
    counters = Counters()
    steps: list[Step] = []
    first_at: float | None = None
    first: tuple[MetricVerdict, ...] = ()
    decision, decided_at = Decision.CONTINUE, None
    sequential = any(m.sequential for m in spec.metrics)
    tests: dict[str, SequentialTest] = {}
    until: float | None = None  # the first window counts in full
    for o in obs:
        if sequential and o.metrics is not None:
            # As the engine does: each window's counts once, from the start of the replay
            # (taken as the candidate's exposure).
            fed = feed(
                spec.metrics,
                tests,
                o.metrics.get(candidate),
                o.metrics.get(stable) if stable else None,
                until,
            )
            tests, until = fed.tests, fed.until
        m = analysis.measure(spec, candidate, o, stable, sequential=tests)
        if analysis.holding_for_evidence(m):
            counters = Counters(counters.failures, 0, 0)
        else:
            counters = analysis.update_counters(counters, m.status)
        d = analysis.decide(counters, spec, m.status)
        if any(v.sequential is not None for v in m.failed):
            d = Decision.BREACH  # a sequential failure breaches at once, as in a rollout
        steps.append(Step(m, counters, d))
        if m.status is Status.FAILED and first_at is None:
            first_at, first = m.at, m.failed
        if d is not Decision.CONTINUE:
            decision, decided_at = d, m.at
            break
    counts = {str(s): 0 for s in (Status.SUCCESSFUL, Status.FAILED, Status.INCONCLUSIVE)}
    for s in steps:
        counts[str(s.measurement.status)] = counts.get(str(s.measurement.status), 0) + 1
    t0 = start if start is not None else (obs[0].at if obs else 0.0)
    t1 = end if end is not None else (obs[-1].at if obs else 0.0)
    verdict, message = _verdict(spec, steps, decision, first, counters)
    return WhatIf(
        verdict=verdict,
        candidate=candidate,
        stable=stable,
        spec=spec,
        start=t0,
        end=t1,
        steps=tuple(steps),
        first_failure_at=first_at,
        first_failure=first,
        decided_at=decided_at,
        decision=decision,
        message=message,
        counts=counts,
        planned=len(obs),
    )


def _verdict(
    spec: AnalysisSpec,
    steps: Sequence[Step],
    decision: Decision,
    first: tuple[MetricVerdict, ...],
    counters: Counters,
) -> tuple[str, str]:
    if not steps:
        return INCONCLUSIVE, "no measurement fits in the window"
    last = steps[-1].measurement
    if decision is Decision.BREACH:
        action = "rolled back" if spec.on_failure is OnFailure.ROLLBACK else "paused"
        if any(v.sequential is not None for v in last.failed):
            return FAIL, f"would have {action}: {last.reason} (sequential test)"
        return FAIL, (
            f"would have {action}: {last.reason} "
            f"({analysis.failures_text(counters, spec)}, failureLimit {spec.failure_limit})"
        )
    if decision is Decision.INCONCLUSIVE_LIMIT:
        return INCONCLUSIVE, (
            f"would NOT have passed: inconclusive \u2014 {_inconclusive_causes(spec, steps)}; "
            "the rollout would have paused for a human "
            f"(inconclusiveLimit {spec.inconclusive_limit})"
        )
    if not any(s.measurement.status is Status.SUCCESSFUL for s in steps):
        causes = _inconclusive_causes(spec, steps) or last.reason
        return INCONCLUSIVE, (
            f"would NOT have passed: inconclusive \u2014 {causes}; no measurement passed, so "
            "the rollout would not have gone further on its own"
        )
    failed = sum(1 for s in steps if s.measurement.status is Status.FAILED)
    tolerated = f"; {failed} failed measurement(s) within failureLimit {spec.failure_limit}"
    return PASS, f"would have passed: {len(steps)} measurements" + (tolerated if failed else "")


def _inconclusive_causes(spec: AnalysisSpec, steps: Sequence[Step]) -> str:
    """Why measurements were inconclusive, each cause with how many it hit: 'the candidate
    had too few requests (12 < minRequests 20) in 3 of 3 measurements'."""
    total = len(steps)
    thin: list[float] = []
    other: dict[str, int] = {}
    undecided: list[Measurement] = []
    for s in steps:
        m = s.measurement
        if m.status is not Status.INCONCLUSIVE:
            continue
        if analysis.holding_for_evidence(m):
            undecided.append(m)
        elif m.requests is not None and m.requests < spec.min_requests:
            thin.append(m.requests)
        else:
            other[m.reason] = other.get(m.reason, 0) + 1
    causes = []
    if thin:
        most = f"{max(thin):.0f}"
        shown = most if all(f"{r:.0f}" == most for r in thin) else f"at most {most}"
        causes.append(
            f"the candidate had too few requests ({shown} < minRequests {spec.min_requests}) "
            f"in {len(thin)} of {total} measurements"
        )
    causes += [f"{why} in {n} of {total} measurements" for why, n in other.items()]
    if undecided:
        causes.append(
            f"the sequential test had not decided yet in {len(undecided)} of {total} "
            f"measurements (at the last: {undecided[-1].reason})"
        )
    return "; ".join(causes)


def _sequential_json(m: Measurement) -> dict[str, Any]:
    """``{"sequential": {metric: evidence}}`` for a step with sequential verdicts, else {}."""
    found = {v.name: _json_safe(dict(v.sequential)) for v in m.verdicts if v.sequential}
    return {"sequential": found} if found else {}


def _finite(value: float | None) -> float | None:
    # JSON has no NaN or Infinity; an infinite latency (beyond the last bucket) prints as null
    # with the reason saying why.
    return value if value is None or math.isfinite(value) else None


def _json_safe(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _finite(v) if isinstance(v, float) else v for k, v in d.items()}


def hint(result: WhatIf) -> str:
    """A likely cause when no measurement saw any request at all, else ''."""
    if not result.steps or any(s.measurement.requests for s in result.steps):
        return ""
    return (
        f"no request was counted for {result.candidate} in any window: check that it took "
        "traffic in that period and is named as the metrics label it; with Prometheus, "
        f"also that the analysis window ({format_duration(result.spec.effective_window)}) spans at "
        "least two scrape intervals (or set minWindow in the environment's metrics config)"
    )
