"""An A/B experiment's statistics: per-arm counts, estimates with confidence intervals, and
the decision with its reason in words. Pure (no I/O, no clock).

The engine adds each arm's new requests every interval (``ArmCounts.add``); at the end
``judge`` turns the totals into a ``Report``. The primary metric is one of:

- ``error-rate`` and ``slow-requests``: a share of requests (failed, or slower than a
  bound). Each arm's estimate has a Wilson score interval; a treatment is compared with the
  control by the difference of the two shares and its normal-approximation interval.
- ``counter``: a business counter (``lms_enrollments_completed_total``) per request. The
  counter's increments are treated as Poisson counts: rate ``x / n`` with interval
  ``(x ± z sqrt(x)) / n`` and the difference's variance the sum of the two.
- ``latency-p50/p95/p99``: the quantile of the arm's latency histogram, with the
  distribution-free order-statistic interval (ranks ``nq ± z sqrt(nq(1-q))``, read off the
  histogram). Two arms differ when their intervals do not overlap (conservative).

With more than one treatment each comparison uses confidence ``1 - (1 - c) / k`` (Bonferroni
over the ``k`` treatments), so the chance of any false "better" stays below ``1 - c``.
When the plan's sequential test decided an arm (console/analysis/sequential.py, anytime
valid), its outcome is the comparison's verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any

from console.plan.model import COUNTER_METRIC, LATENCY_METRICS, ExperimentSpec, Goal

_QUANTILE = {"latency-p50": 0.5, "latency-p95": 0.95, "latency-p99": 0.99}


@dataclass(frozen=True)
class ArmCounts:
    """What one arm served during the experiment: requests, failed and slow requests,
    business-counter increments, the latency histogram (cumulative ``(le, count)``) and
    distinct users where the source counts them."""

    requests: float = 0.0
    failures: float = 0.0
    slow: float = 0.0
    events: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()
    users: int | None = None

    def add(self, other: ArmCounts, share: float = 1.0) -> ArmCounts:
        """These counts plus ``share`` of ``other`` (a window partly counted before)."""
        merged: dict[float, float] = dict(self.buckets)
        for le, n in other.buckets:
            merged[le] = merged.get(le, 0.0) + n * share
        users = other.users if other.users is not None else self.users
        return ArmCounts(
            requests=self.requests + other.requests * share,
            failures=self.failures + other.failures * share,
            slow=self.slow + other.slow * share,
            events=self.events + other.events * share,
            buckets=tuple(sorted(merged.items())),
            users=users,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "slow": self.slow,
            "events": self.events,
            "buckets": [[_inf_out(le), n] for le, n in self.buckets],
            "users": self.users,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArmCounts:
        return cls(
            requests=float(d.get("requests", 0.0)),
            failures=float(d.get("failures", 0.0)),
            slow=float(d.get("slow", 0.0)),
            events=float(d.get("events", 0.0)),
            buckets=tuple((_inf_in(le), float(n)) for le, n in d.get("buckets", [])),
            users=d.get("users"),
        )


def _inf_out(le: float) -> Any:
    return "+Inf" if math.isinf(le) else le


def _inf_in(le: Any) -> float:
    return math.inf if le == "+Inf" else float(le)


@dataclass(frozen=True)
class Estimate:
    """A value with a two-sided interval at the report's confidence; None without data."""

    value: float | None
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Estimate:
        return cls(d.get("value"), d.get("low"), d.get("high"))


def z_of(confidence: float) -> float:
    """The two-sided normal quantile: 1.96 for 0.95."""
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def share_ci(x: float, n: float, confidence: float) -> Estimate:
    """A share ``x / n`` with its Wilson score interval (inside 0..1 by construction)."""
    if n <= 0:
        return Estimate(None)
    p = min(1.0, max(0.0, x / n))
    z = z_of(confidence)
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Estimate(p, max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def rate_ci(x: float, n: float, confidence: float) -> Estimate:
    """A per-request rate of Poisson counts ``x`` over ``n`` requests, normal interval."""
    if n <= 0:
        return Estimate(None)
    r = max(0.0, x) / n
    half = z_of(confidence) * math.sqrt(max(0.0, x)) / n
    return Estimate(r, max(0.0, r - half), r + half)


def quantile_at(buckets: Sequence[tuple[float, float]], rank: float) -> float | None:
    """The latency at ``rank`` (0..total) in a cumulative histogram, interpolated inside
    buckets as PromQL's ``histogram_quantile`` does; the largest finite bound in +Inf."""
    finite = [(le, n) for le, n in buckets if not math.isinf(le)]
    if not buckets or buckets[-1][1] <= 0:
        return None
    prev_le, prev_n = 0.0, 0.0
    for le, n in buckets:
        if n >= rank and n > prev_n:
            if math.isinf(le):
                return finite[-1][0] if finite else None
            return prev_le + (le - prev_le) * max(0.0, rank - prev_n) / (n - prev_n)
        if not math.isinf(le):
            prev_le = le
        prev_n = n
    return finite[-1][0] if finite else None


def quantile_ci(buckets: Sequence[tuple[float, float]], q: float, confidence: float) -> Estimate:
    """The ``q`` quantile of a cumulative histogram with its order-statistic interval."""
    if not buckets:
        return Estimate(None)
    n = buckets[-1][1]
    if n <= 0:
        return Estimate(None)
    value = quantile_at(buckets, q * n)
    half = z_of(confidence) * math.sqrt(n * q * (1 - q))
    low = quantile_at(buckets, max(0.0, q * n - half))
    high = quantile_at(buckets, min(n, q * n + half))
    if value is None or low is None or high is None:
        return Estimate(value)
    return Estimate(value, min(low, value), max(high, value))


def estimate(metric: str, counts: ArmCounts, confidence: float) -> Estimate:
    """The primary metric's value for one arm, with its interval."""
    if metric == "error-rate":
        return share_ci(counts.failures, counts.requests, confidence)
    if metric == COUNTER_METRIC:
        return rate_ci(counts.events, counts.requests, confidence)
    if metric in LATENCY_METRICS:
        return quantile_ci(counts.buckets, _QUANTILE[metric], confidence)
    return share_ci(counts.slow, counts.requests, confidence)  # slow-requests


def _numerator(metric: str, c: ArmCounts) -> float:
    if metric == "error-rate":
        return c.failures
    if metric == COUNTER_METRIC:
        return c.events
    return c.slow


def difference(
    metric: str, treatment: ArmCounts, control: ArmCounts, confidence: float
) -> Estimate:
    """Treatment minus control, with a normal-approximation interval (None for quantiles,
    whose comparison is by non-overlapping intervals)."""
    t, c = estimate(metric, treatment, confidence), estimate(metric, control, confidence)
    if t.value is None or c.value is None:
        return Estimate(None)
    d = t.value - c.value
    if metric in LATENCY_METRICS:
        return Estimate(d)
    nt, nc = treatment.requests, control.requests
    if metric == COUNTER_METRIC:
        var = max(0.0, treatment.events) / nt**2 + max(0.0, control.events) / nc**2
    else:
        pt = _numerator(metric, treatment) / nt
        pc = _numerator(metric, control) / nc
        var = pt * (1 - pt) / nt + pc * (1 - pc) / nc
    half = z_of(confidence) * math.sqrt(max(0.0, var))
    return Estimate(d, d - half, d + half)


@dataclass(frozen=True)
class ArmResult:
    """One arm's line of the report."""

    arm: str
    users: int | None
    requests: float
    value: Estimate
    vs_control: Estimate  # treatment minus control (the control's own is Estimate(None))
    verdict: str  # "control", "better", "worse", "no difference", "not enough data"

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "users": self.users,
            "requests": self.requests,
            "value": self.value.to_dict(),
            "vs_control": self.vs_control.to_dict(),
            "verdict": self.verdict,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArmResult:
        return cls(
            arm=str(d["arm"]),
            users=d.get("users"),
            requests=float(d["requests"]),
            value=Estimate.from_dict(d["value"]),
            vs_control=Estimate.from_dict(d["vs_control"]),
            verdict=str(d["verdict"]),
        )


@dataclass(frozen=True)
class Report:
    """The experiment's outcome: per-arm results, the decision and why."""

    metric: str  # the metric's name as the plan gives it (a counter's own name)
    goal: str
    confidence: float
    arms: tuple[ArmResult, ...]
    decision: str  # "adopt" (a treatment wins), "keep" (the control stays), "inconclusive"
    winner: str | None
    why: str
    ended_by: str = "duration"  # "duration", "sequential test", "abort"
    started_at: float | None = None
    ended_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "goal": self.goal,
            "confidence": self.confidence,
            "arms": [a.to_dict() for a in self.arms],
            "decision": self.decision,
            "winner": self.winner,
            "why": self.why,
            "ended_by": self.ended_by,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        known = {
            "metric", "goal", "confidence", "arms", "decision", "winner", "why",
            "ended_by", "started_at", "ended_at",
        }  # fmt: skip
        return cls(
            metric=str(d["metric"]),
            goal=str(d["goal"]),
            confidence=float(d["confidence"]),
            arms=tuple(ArmResult.from_dict(a) for a in d["arms"]),
            decision=str(d["decision"]),
            winner=d.get("winner"),
            why=str(d["why"]),
            ended_by=str(d.get("ended_by", "duration")),
            started_at=d.get("started_at"),
            ended_at=d.get("ended_at"),
            extra={k: v for k, v in d.items() if k not in known},
        )


def show(metric: str, value: float | None) -> str:
    """A metric value as the report prints it: ``2.10%``, ``183ms``, ``0.412/req``."""
    if value is None:
        return "-"
    if metric in LATENCY_METRICS:
        return f"{value * 1000:.0f}ms"
    if metric == COUNTER_METRIC:
        return f"{value:.3f}/req"
    return f"{value * 100:.2f}%"


def show_diff(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    sign = "+" if value >= 0 else "-"
    if metric in LATENCY_METRICS:
        return f"{sign}{abs(value) * 1000:.0f}ms"
    if metric == COUNTER_METRIC:
        return f"{sign}{abs(value):.3f}/req"
    return f"{sign}{abs(value) * 100:.2f} points"


def _verdict(
    metric: str,
    goal: Goal,
    t: ArmCounts,
    c: ArmCounts,
    confidence: float,
    sequential: str | None,
) -> tuple[str, Estimate]:
    """better/worse/no difference for one treatment against the control."""
    diff = difference(metric, t, c, confidence)
    if sequential in ("higher", "lower"):
        better = (sequential == "lower") == (goal is Goal.LOWER)
        return ("better" if better else "worse"), diff
    if metric in LATENCY_METRICS:
        et, ec = estimate(metric, t, confidence), estimate(metric, c, confidence)
        if None in (et.low, et.high, ec.low, ec.high):
            return "no difference", diff
        assert et.low is not None and et.high is not None
        assert ec.low is not None and ec.high is not None
        if et.high < ec.low:
            lower = True
        elif et.low > ec.high:
            lower = False
        else:
            return "no difference", diff
    else:
        if diff.low is None or diff.high is None:
            return "no difference", diff
        if diff.high < 0:
            lower = True
        elif diff.low > 0:
            lower = False
        else:
            return "no difference", diff
    return ("better" if lower == (goal is Goal.LOWER) else "worse"), diff


def judge(
    spec: ExperimentSpec,
    counts: Mapping[str, ArmCounts],
    *,
    sequential: Mapping[str, str] | None = None,
    ended_by: str = "duration",
    started_at: float | None = None,
    ended_at: float | None = None,
) -> Report:
    """The report from each arm's totals. ``sequential`` maps a treatment to the sequential
    test's finding ("higher"/"lower" than the control) where it decided."""
    m = spec.metric
    metric_label = m.counter or m.name
    names = [a.name for a in spec.arms]
    control = names[0]
    treatments = names[1:]
    per = 1.0 - (1.0 - spec.confidence) / max(1, len(treatments))  # Bonferroni
    cs = {n: counts.get(n, ArmCounts()) for n in names}
    thin = [n for n in names if cs[n].requests < spec.min_requests]
    results: list[ArmResult] = [
        ArmResult(
            control,
            cs[control].users,
            cs[control].requests,
            estimate(m.name, cs[control], spec.confidence),
            Estimate(None),
            "control",
        )
    ]
    verdicts: dict[str, tuple[str, Estimate]] = {}
    for t in treatments:
        if thin:
            verdicts[t] = ("not enough data", difference(m.name, cs[t], cs[control], per))
        else:
            seq = (sequential or {}).get(t)
            verdicts[t] = _verdict(m.name, m.goal, cs[t], cs[control], per, seq)
        results.append(
            ArmResult(
                t,
                cs[t].users,
                cs[t].requests,
                estimate(m.name, cs[t], spec.confidence),
                verdicts[t][1],
                verdicts[t][0],
            )
        )
    common = dict(
        metric=metric_label,
        goal=str(m.goal),
        confidence=spec.confidence,
        arms=tuple(results),
        ended_by=ended_by,
        started_at=started_at,
        ended_at=ended_at,
    )
    if thin:
        shown = ", ".join(f"{n} {cs[n].requests:.0f}" for n in thin)
        why = (
            f"not enough data: {shown} requests, fewer than minRequests {spec.min_requests} "
            f"per arm; keep {control}"
        )
        return Report(decision="inconclusive", winner=None, why=why, **common)  # type: ignore[arg-type]
    better = [r for r in results[1:] if r.verdict == "better"]
    if better:
        sign = 1.0 if m.goal is Goal.LOWER else -1.0
        best = min(better, key=lambda r: sign * (r.value.value or 0.0))
        why = (
            f"{best.arm} is better than {control} on {metric_label}: "
            f"{show(m.name, best.value.value)} vs {show(m.name, results[0].value.value)}"
            + _diff_text(m.name, best.vs_control, per)
            + (" (sequential test)" if best.arm in (sequential or {}) else "")
        )
        return Report(decision="adopt", winner=best.arm, why=why, **common)  # type: ignore[arg-type]
    worse = [r.arm for r in results[1:] if r.verdict == "worse"]
    if worse:
        why = (
            f"{', '.join(worse)} {'is' if len(worse) == 1 else 'are'} worse than {control} on "
            f"{metric_label} at {spec.confidence * 100:g}% confidence; keep {control}"
        )
        return Report(decision="keep", winner=control, why=why, **common)  # type: ignore[arg-type]
    why = (
        f"no difference on {metric_label} at {spec.confidence * 100:g}% confidence "
        f"({', '.join(f'{r.arm} {show(m.name, r.value.value)}' for r in results)}); "
        f"keep {control}"
    )
    return Report(decision="inconclusive", winner=None, why=why, **common)  # type: ignore[arg-type]


def _diff_text(metric: str, d: Estimate, confidence: float) -> str:
    if d.value is None:
        return ""
    text = f", difference {show_diff(metric, d.value)}"
    if d.low is not None and d.high is not None:
        text += (
            f" ({confidence * 100:.4g}% CI {show_diff(metric, d.low)} to "
            f"{show_diff(metric, d.high)})"
        )
    return text


def with_users(report: Report, users: Mapping[str, int]) -> Report:
    """The report with distinct users per arm filled in from another source."""
    arms = tuple(replace(a, users=users.get(a.arm, a.users)) for a in report.arms)
    return replace(report, arms=arms)
