"""Advice on canary size and duration: what the sequential test can see in each step. Pure.

``rollout validate PLAN --rps N`` prints, per ``setWeight`` step of a canary, the candidate
requests it will see (``N`` requests a second times the weight, for the time the step holds
that weight: its timed pauses), the smallest error-rate regression the sequential test
detects by the end of that step with 95 % probability, and the typical time to detect a 2x
and a 10x regression; it warns about a step too short to detect anything.

How. Evidence is cumulative: at the end of step k the test has the counts of every step up
to k, one interval per step (the test's sums split exactly over time at a constant share,
console/analysis/sequential.py). Its e-value grows with the candidate's failures, the other
counts fixed, so the regression is detected with probability at least 95 % when the e-value
reaches ``1/alpha`` with the candidate's failures at the 5 % quantile of their contrast with
the stable's (normal approximation of the binomial counts: ``x - rho y`` with ``rho`` the
candidate/stable request ratio). The smallest such regression is found by bisection. Times
to detect use the expected counts, a typical (median-like) run. Ignoring the chances to
reject earlier makes the 95 % figure conservative; tests/core/test_advice.py checks it
against simulated runs. The test looks once per analysis ``interval``: a time to detect is
rounded up to the next measurement.

The test and limit are the plan's first ``test: sequential`` error-rate metric; without one,
the defaults (``alpha`` 0.01, no tolerated increase) say what it would give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from console.analysis.sequential import SequentialTest
from console.plan.model import DEFAULT_ALPHA, MetricSpec, PauseStep, Plan, SetWeightStep

Z95 = 1.6449  # one-sided 95 % normal quantile
TIME_POINTS = 400  # at most this many looks per step when searching the time to detect


@dataclass(frozen=True)
class StepAdvice:
    """What the test sees in one ``setWeight`` step."""

    index: int  # the plan's step index of the setWeight
    weight: int
    seconds: float  # timed pauses at this weight
    gate: bool  # a manual gate follows them: the step may last longer
    requests: float  # candidate requests in the timed part of the step
    smallest: float | None  # smallest detectable error rate (absolute) by the step's end
    # Seconds from first exposure to detect 2x (10x) the base rate, typically, once that
    # happens by the end of this step; None: not by then.
    detect_2x: float | None
    detect_10x: float | None

    def too_short(self, base_rate: float) -> bool:
        """Too short to detect even a 10x regression by its end."""
        return self.smallest is None or self.smallest > min(1.0, 10 * base_rate)


@dataclass(frozen=True)
class Advice:
    rps: float
    base_rate: float
    alpha: float
    max_increase: float
    max_ratio: float
    steps: tuple[StepAdvice, ...]


def _metric(plan: Plan) -> MetricSpec | None:
    spec = plan.analysis
    if spec is None:
        return None
    for m in spec.metrics:
        if m.sequential and m.name == "error-rate":
            return m
    return None


def _segments(plan: Plan) -> list[tuple[int, int, float, bool]]:
    """(step index, weight, timed seconds at that weight, a manual gate follows) per
    setWeight step."""
    out: list[tuple[int, int, float, bool]] = []
    for i, step in enumerate(plan.steps):
        if isinstance(step, SetWeightStep):
            out.append((i, step.weight, 0.0, False))
        elif isinstance(step, PauseStep) and out:
            k, w, t, gate = out[-1]
            if step.duration is None:
                out[-1] = (k, w, t, True)
            else:
                out[-1] = (k, w, t + step.duration, gate)
    return out


def _e_at(
    test: SequentialTest,
    parts: list[tuple[float, float]],
    rps: float,
    base: float,
    cand: float,
    z: float,
) -> bool:
    """Does the test reject with (weight, seconds) parts, the candidate failing ``cand``
    per request and the stable ``base``, the candidate's failures ``z`` sds below expected?"""
    t = test
    for w, seconds in parts:
        c = rps * w * seconds
        s = rps * (1.0 - w) * seconds
        if c <= 0 or s <= 0:
            continue
        x, y = c * cand, s * base
        rho = c / s
        sd = math.sqrt(c * cand * (1 - cand) + rho * rho * s * base * (1 - base))
        t = t.update(c, max(0.0, x - z * sd), s, y)
    return t.log_e() >= math.log(1.0 / t.alpha)


def advise(
    plan: Plan, rps: float, base_rate: float = 0.01, *, metric: MetricSpec | None = None
) -> Advice:
    """Per setWeight step of a canary plan: requests, smallest detectable regression and
    typical times to detect 2x and 10x (see the module's docstring)."""
    if rps <= 0:
        raise ValueError("--rps must be above 0")
    if not 0 < base_rate < 1:
        raise ValueError("the base error rate must be between 0 and 1")
    m = metric or _metric(plan)
    alpha = m.alpha if m is not None else DEFAULT_ALPHA
    inc = m.max_increase if m is not None and m.max_increase is not None else 0.0
    ratio = m.max_ratio if m is not None and m.max_ratio is not None else 1.0
    test = SequentialTest(max_ratio=ratio, max_increase=inc, alpha=alpha)
    interval = plan.analysis.interval if plan.analysis is not None else 0.0
    allowed = ratio * base_rate + inc
    out: list[StepAdvice] = []
    parts: list[tuple[float, float]] = []
    elapsed = 0.0
    found: dict[float, float | None] = {2.0: None, 10.0: None}
    for index, weight, span, gate in _segments(plan):
        w = weight / 100.0
        now_parts = [*parts, (w, span)] if span > 0 else list(parts)
        smallest = None
        if now_parts and _e_at(test, now_parts, rps, base_rate, 1.0, Z95):
            lo, hi = allowed, 1.0
            for _ in range(40):
                mid = (lo + hi) / 2
                if _e_at(test, now_parts, rps, base_rate, mid, Z95):
                    hi = mid
                else:
                    lo = mid
            smallest = hi
        for times in found:
            if found[times] is None:
                at = _time_to_detect(test, parts, elapsed, w, span, rps, base_rate, times)
                if at is not None and interval > 0:
                    at = math.ceil(at / interval - 1e-9) * interval  # the next measurement
                found[times] = at
        out.append(
            StepAdvice(
                index=index,
                weight=weight,
                seconds=span,
                gate=gate,
                requests=rps * w * span,
                smallest=smallest,
                detect_2x=found[2.0],
                detect_10x=found[10.0],
            )
        )
        parts, elapsed = now_parts, elapsed + span
    return Advice(rps, base_rate, alpha, inc, ratio, tuple(out))


def _time_to_detect(
    test: SequentialTest,
    before: list[tuple[float, float]],
    elapsed: float,
    w: float,
    span: float,
    rps: float,
    base: float,
    times: float,
) -> float | None:
    """Seconds from exposure until the expected counts reject, if within this step (the
    caller asks only until it is found)."""
    cand = min(1.0, base * times)
    if span <= 0 or w <= 0:
        return None
    if not _e_at(test, [*before, (w, span)], rps, base, cand, 0.0):
        return None
    lo, hi = 0.0, span
    for _ in range(30):
        mid = (lo + hi) / 2
        if _e_at(test, [*before, (w, mid)], rps, base, cand, 0.0):
            hi = mid
        else:
            lo = mid
        if hi - lo < 0.05:
            break
    return elapsed + hi


def _pct(rate: float) -> str:
    return f"{rate * 100:.3g}%"


def _secs(seconds: float | None) -> str:
    if seconds is None:
        return "not yet"
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"


def render(advice: Advice) -> list[str]:
    """The advice as lines for ``rollout validate``; warnings start with 'warning:'."""
    limit = f"+{advice.max_increase:g}" if advice.max_increase else ""
    if advice.max_ratio != 1.0:
        limit = f"{advice.max_ratio:g}x" + (f" {limit}" if limit else "")
    head = (
        f"advice at {advice.rps:g} requests/s, {_pct(advice.base_rate)} errors on both "
        f"versions, sequential test alpha {advice.alpha:g}"
        + (f", allowed {limit}" if limit else "")
        + " (95 % detection; typical times to detect 2x and 10x from first exposure):"
    )
    lines = [head]
    found_earlier = False
    for s in advice.steps:
        dur = _secs(s.seconds) + (" then until promote" if s.gate else "")
        smallest = (
            f"detects {_pct(s.smallest)} (vs {_pct(advice.base_rate)})"
            if s.smallest is not None
            else "detects nothing yet"
        )
        lines.append(
            f"  step {s.index + 1} setWeight {s.weight} for {dur}: {s.requests:.0f} candidate "
            f"requests; {smallest}; 2x: {_secs(s.detect_2x)}, 10x: {_secs(s.detect_10x)}"
        )
        short = s.too_short(advice.base_rate)
        if short and not found_earlier:
            lines.append(
                f"warning: step {s.index + 1} is too short to detect even a 10x regression "
                f"({_pct(min(1.0, 10 * advice.base_rate))} errors): lengthen its pause or "
                "raise its weight"
            )
        found_earlier = found_earlier or not short
    return lines
