"""Analysis: turn one observation of the candidate into verdicts a person can read.

Pure functions over plain data. ``measure`` judges the candidate against an
``AnalysisSpec``; ``update_counters`` and ``decide`` turn a run of measurements into the
engine's decision (continue, breach, pause for a human). Rules:

- The metrics source unreachable (``obs.metrics is None``) -> status ``error``.
- Fewer than ``minRequests`` candidate requests in the window, or no sample for the
  candidate -> ``inconclusive`` (every verdict says why).
- A metric with no value (``None`` or NaN) -> ``inconclusive``: missing data is never a pass.
- A value below ``min`` or above ``max`` -> ``failed``.
- ``baseline: stable`` (relative thresholds): the candidate's value against the stable's from
  the same observation, ``maxIncrease`` above it or ``maxRatio`` times it at most; no value
  for the stable -> ``inconclusive``.
- ``test: sequential``: the verdict of the sequential test over every interval since
  exposure (``console/analysis/sequential.py``, state kept by the engine): regression ->
  ``failed``, within the limit -> ``successful``, not decided yet -> ``inconclusive``. It
  stands even when this window holds fewer than ``minRequests``: its evidence is cumulative.
- Overall: failed if any metric failed, else inconclusive if any is, else successful.

Counting: a failed measurement adds to ``failures`` (never reset during a rollout stage);
an inconclusive one adds to ``inconclusive_in_a_row``, an error to ``errors_in_a_row``. Each
status resets the other two in-a-row counters (a run is broken by anything else). A
breach is ``failures > failureLimit``; ``inconclusive_in_a_row >= inconclusiveLimit`` or
``errors_in_a_row >= consecutiveErrorLimit`` pauses for a human (a limit of 0 acts as 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from backends.base import MetricSample, Observation
from console.analysis.sequential import Evidence, Outcome, SequentialTest
from console.plan.model import LATENCY_METRICS, AnalysisSpec, MetricSpec, OnFailure

# Built-in metric name -> MetricSample attribute.
BUILTIN_FIELDS: dict[str, str] = {
    "error-rate": "error_ratio",
    "request-rate": "request_rate",
    "latency-p50": "p50",
    "latency-p95": "p95",
    "latency-p99": "p99",
}


class Status(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class Decision(StrEnum):
    CONTINUE = "continue"
    BREACH = "breach"  # failures > failureLimit: onFailure applies
    INCONCLUSIVE_LIMIT = "inconclusive-limit"  # pause for a human
    ERROR_LIMIT = "error-limit"  # pause for a human


def format_value(metric: str, value: float | None) -> str:
    """A metric value for people: latencies in ms, rates per second, ratios as is."""
    if value is None:
        return "no data"
    if metric in LATENCY_METRICS:
        ms = value * 1000.0
        return f"{ms:.0f}ms" if abs(ms) >= 10 else f"{ms:.1f}ms"
    if metric == "request-rate":
        return f"{value:.3g}/s"
    return f"{value:.3g}"


@dataclass(frozen=True)
class MetricVerdict:
    """One metric on one version: measured value, threshold, status and the reason in words."""

    name: str
    version: str
    value: float | None
    min: float | None
    max: float | None
    status: Status
    reason: str
    baseline: float | None = None  # the same metric on the stable version, for context
    # The sequential test's evidence (``Evidence.to_dict``): e-values, confidence sequence.
    sequential: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "value": self.value,
            "min": self.min,
            "max": self.max,
            "status": str(self.status),
            "reason": self.reason,
            "baseline": self.baseline,
        }
        if self.sequential is not None:
            d["sequential"] = dict(self.sequential)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MetricVerdict:
        return cls(
            name=str(d["name"]),
            version=str(d["version"]),
            value=d.get("value"),
            min=d.get("min"),
            max=d.get("max"),
            status=Status(d["status"]),
            reason=str(d.get("reason", "")),
            baseline=d.get("baseline"),
            sequential=d.get("sequential"),
        )


@dataclass(frozen=True)
class Measurement:
    """One analysis of the candidate: the overall status, why, and one verdict per metric."""

    at: float
    version: str
    status: Status
    reason: str
    verdicts: tuple[MetricVerdict, ...] = ()
    requests: float | None = None

    @property
    def failed(self) -> tuple[MetricVerdict, ...]:
        return tuple(v for v in self.verdicts if v.status is Status.FAILED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "version": self.version,
            "status": str(self.status),
            "reason": self.reason,
            "verdicts": [v.to_dict() for v in self.verdicts],
            "requests": self.requests,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Measurement:
        return cls(
            at=float(d["at"]),
            version=str(d["version"]),
            status=Status(d["status"]),
            reason=str(d.get("reason", "")),
            verdicts=tuple(MetricVerdict.from_dict(v) for v in d.get("verdicts", [])),
            requests=d.get("requests"),
        )


@dataclass(frozen=True)
class Counters:
    """Failures over the stage, and inconclusive/error measurements in a row."""

    failures: int = 0
    inconclusive_in_a_row: int = 0
    errors_in_a_row: int = 0

    def to_dict(self) -> dict[str, int]:
        # "inconclusive" duplicates inconclusive_in_a_row under the short name the UI reads.
        return {
            "failures": self.failures,
            "inconclusive_in_a_row": self.inconclusive_in_a_row,
            "errors_in_a_row": self.errors_in_a_row,
            "inconclusive": self.inconclusive_in_a_row,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Counters:
        d = d or {}
        return cls(
            failures=int(d.get("failures", 0)),
            inconclusive_in_a_row=int(d.get("inconclusive_in_a_row", 0)),
            errors_in_a_row=int(d.get("errors_in_a_row", 0)),
        )


# --------------------------------------------------------------------------- measuring


def _clean(value: float | None) -> float | None:
    # Prometheus answers NaN for 0/0; that is "no data", not a number to compare.
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def _value(
    m: MetricSpec, version: str | None, obs: Observation, sample: MetricSample | None
) -> float | None:
    if version is None:
        return None
    if m.query is not None:
        return _clean(obs.custom.get(m.name, {}).get(version))
    if sample is None:
        return None
    attr = BUILTIN_FIELDS.get(m.name)
    return _clean(getattr(sample, attr)) if attr else None


def _threshold_text(m: MetricSpec) -> str:
    parts = []
    if m.min is not None:
        parts.append(f"min {format_value(m.name, m.min)}")
    if m.max is not None:
        parts.append(f"max {format_value(m.name, m.max)}")
    return " and ".join(parts) or "no threshold"


def judge_metric(
    m: MetricSpec,
    version: str,
    value: float | None,
    baseline: float | None = None,
    *,
    stable: str | None = None,
) -> MetricVerdict:
    """The verdict for one metric value against its ``min``/``max``, then (``baseline:
    stable``) against ``baseline``, the stable version's value over the same window."""
    shown = format_value(m.name, value)
    if value is None:
        status, reason = Status.INCONCLUSIVE, f"{m.name}: no data for {version}"
    elif m.max is not None and value > m.max:
        status = Status.FAILED
        reason = f"{m.name} {shown} > max {format_value(m.name, m.max)} on {version}"
    elif m.min is not None and value < m.min:
        status = Status.FAILED
        reason = f"{m.name} {shown} < min {format_value(m.name, m.min)} on {version}"
    elif m.baseline is not None:
        status, reason = _judge_relative(m, version, value, baseline, stable)
    else:
        status = Status.SUCCESSFUL
        reason = f"{m.name} {shown} within {_threshold_text(m)} on {version}"
    return MetricVerdict(m.name, version, value, m.min, m.max, status, reason, baseline)


def _signed(metric: str, value: float) -> str:
    return ("-" if value < 0 else "+") + format_value(metric, abs(value))


def _judge_relative(
    m: MetricSpec, version: str, value: float, baseline: float | None, stable: str | None
) -> tuple[Status, str]:
    """'error-rate v2 0.031 vs v1 0.004 (+0.027 > +0.01)': the candidate against the stable."""
    if stable is None:
        return Status.INCONCLUSIVE, f"{m.name}: no stable version to compare {version} with"
    if baseline is None:
        return Status.INCONCLUSIVE, f"{m.name}: no data for {stable} (the baseline)"
    both = (
        f"{m.name} {version} {format_value(m.name, value)} "
        f"vs {stable} {format_value(m.name, baseline)}"
    )
    if m.max_increase is not None:
        diff = value - baseline
        limit = _signed(m.name, m.max_increase)
        if diff > m.max_increase:
            return Status.FAILED, f"{both} ({_signed(m.name, diff)} > {limit})"
        return Status.SUCCESSFUL, f"{both} ({_signed(m.name, diff)} within {limit})"
    ratio_limit = m.max_ratio if m.max_ratio is not None else 1.0
    if baseline <= 0:
        if value > 0:
            return Status.FAILED, f"{both} (above 0 where {stable} is 0: any ratio is too high)"
        return Status.SUCCESSFUL, f"{both} (both 0)"
    ratio = value / baseline
    if ratio > ratio_limit:
        return Status.FAILED, f"{both} ({ratio:.3g}x > {ratio_limit:g}x)"
    return Status.SUCCESSFUL, f"{both} ({ratio:.3g}x within {ratio_limit:g}x)"


def judge_sequential(
    m: MetricSpec, version: str, stable: str | None, test: SequentialTest | None
) -> MetricVerdict:
    """The verdict of a ``test: sequential`` metric from the test's state (None: no counts yet).

    Value and baseline are the failure (or slow) rates of both versions since exposure.
    """
    if test is None or test.intervals == 0:
        reason = f"{m.name}: the sequential test has no counts of {version} and its stable yet"
        return MetricVerdict(m.name, version, None, m.min, m.max, Status.INCONCLUSIVE, reason)
    ev = test.evidence()
    status = {
        Outcome.REGRESSION: Status.FAILED,
        Outcome.WITHIN: Status.SUCCESSFUL,
        Outcome.UNDECIDED: Status.INCONCLUSIVE,
    }[ev.outcome]
    return MetricVerdict(
        m.name,
        version,
        ev.candidate_rate,
        m.min,
        m.max,
        status,
        sequential_reason(m.name, version, stable or "stable", ev),
        ev.stable_rate,
        ev.to_dict(),
    )


def _bound_text(ev: Evidence, value: float) -> str:
    if ev.scale == "ratio":
        return f"{value:.3g}x"
    return _signed("error-rate", value)


def sequential_summary(d: Mapping[str, Any]) -> str:
    """'e 312 >= 100, difference +0.019..+0.035 vs +0.01': the statistic and the confidence
    sequence from a stored ``Evidence.to_dict`` (for panels and reports)."""
    try:
        e, threshold = float(d["e_value"]), float(d["threshold"])
        scale, limit = str(d.get("scale", "ratio")), float(d["limit"])
        lower, upper = d.get("lower"), d.get("upper")
    except (KeyError, TypeError, ValueError):
        return ""

    def bound(v: float) -> str:
        return f"{v:.3g}x" if scale == "ratio" else _signed("error-rate", v)

    if lower is not None and upper is not None:
        interval = f"{scale} {bound(float(lower))}..{bound(float(upper))}"
    elif lower is not None:
        interval = f"{scale} at least {bound(float(lower))}"
    elif upper is not None:
        interval = f"{scale} at most {bound(float(upper))}"
    else:
        interval = f"{scale} not bounded yet"
    cmp = ">=" if e >= threshold else "<"
    return f"e {e:.3g} {cmp} {threshold:g}, {interval} vs {bound(limit)}"


def sequential_reason(metric: str, version: str, stable: str, ev: Evidence) -> str:
    """'error-rate v2 0.031 vs v1 0.004 over 5200 requests: e 312 >= 100, difference
    +0.019..+0.035 > +0.01': both rates, the statistic and the confidence sequence."""
    rates = (
        f"{metric} {version} {format_value(metric, ev.candidate_rate)} vs {stable} "
        f"{format_value(metric, ev.stable_rate)} over {ev.candidate_requests:.0f} requests"
    )
    what = "ratio" if ev.scale == "ratio" else "difference"
    limit = _bound_text(ev, ev.limit)
    if ev.lower is not None and ev.upper is not None:
        interval = f"{what} {_bound_text(ev, ev.lower)}..{_bound_text(ev, ev.upper)}"
    elif ev.lower is not None:
        interval = f"{what} at least {_bound_text(ev, ev.lower)}"
    elif ev.upper is not None:
        interval = f"{what} at most {_bound_text(ev, ev.upper)}"
    else:
        interval = f"{what} not bounded yet"
    threshold = f"{ev.threshold:g}"
    if ev.outcome is Outcome.REGRESSION:
        return f"{rates}: e {ev.e_value:.3g} >= {threshold}, {interval} > {limit}"
    if ev.outcome is Outcome.WITHIN:
        return f"{rates}: {interval} within {limit} (e {ev.e_value_within:.3g} >= {threshold})"
    return f"{rates}: e {ev.e_value:.3g} < {threshold}, {interval} vs {limit}: not decided yet"


def measure(
    spec: AnalysisSpec,
    candidate: str,
    obs: Observation,
    stable: str | None = None,
    *,
    now: float | None = None,
    sequential: Mapping[str, SequentialTest] | None = None,
) -> Measurement:
    """Judge the candidate in ``obs`` against ``spec``. ``stable`` adds context values and is
    the baseline of relative thresholds; ``sequential`` maps each ``test: sequential``
    metric's name to its test state, already updated with this interval's counts."""
    at = obs.at if now is None else now
    window = spec.effective_window
    if obs.metrics is None:
        why = obs.metrics_error or "no metrics"
        reason = f"metrics source unreachable: {why}"
        verdicts = tuple(
            MetricVerdict(m.name, candidate, None, m.min, m.max, Status.ERROR, reason)
            for m in spec.metrics
        )
        return Measurement(at, candidate, Status.ERROR, reason, verdicts, None)

    sample = obs.metrics.get(candidate)
    base_sample = obs.metrics.get(stable) if stable else None
    requests = _clean(sample.requests) if sample is not None else None
    tests = sequential or {}
    verdicts = tuple(
        judge_sequential(m, candidate, stable, tests.get(m.name))
        if m.sequential
        else judge_metric(
            m,
            candidate,
            _value(m, candidate, obs, sample),
            _value(m, stable, obs, base_sample),
            stable=stable,
        )
        for m in spec.metrics
    )

    # Too little traffic: nothing here can pass or fail, whatever the values say.
    gate: str | None = None
    if sample is None:
        gate = f"no metrics for {candidate}"
    elif requests is None:
        gate = f"no request count for {candidate}"
    elif requests < spec.min_requests:
        gate = (
            f"only {requests:.0f} requests on {candidate} in {window:g}s "
            f"(< minRequests {spec.min_requests})"
        )
    if gate is not None and verdicts and all(v.sequential is not None for v in verdicts):
        gate = None  # only cumulative evidence to judge: this window's size is moot
    if gate is not None:
        verdicts = tuple(
            v
            if v.sequential is not None  # cumulative evidence: this window's size is moot
            else replace(
                v,
                status=Status.INCONCLUSIVE,
                reason=gate
                if v.value is None
                else f"{v.name} {format_value(v.name, v.value)} on {candidate}, but {gate}",
            )
            for v in verdicts
        )
        failed = [v for v in verdicts if v.status is Status.FAILED]
        if failed:
            reason = "; ".join(v.reason for v in failed)
            return Measurement(at, candidate, Status.FAILED, reason, verdicts, requests)
        return Measurement(at, candidate, Status.INCONCLUSIVE, gate, verdicts, requests)

    failed = [v for v in verdicts if v.status is Status.FAILED]
    inconclusive = [v for v in verdicts if v.status is Status.INCONCLUSIVE]
    if failed:
        status, reason = Status.FAILED, "; ".join(v.reason for v in failed)
    elif inconclusive:
        status, reason = Status.INCONCLUSIVE, "; ".join(v.reason for v in inconclusive)
    elif verdicts:
        status = Status.SUCCESSFUL
        reason = (
            f"{len(verdicts)}/{len(verdicts)} metrics pass on {candidate} ({requests:.0f} requests)"
        )
    else:
        status = Status.SUCCESSFUL
        reason = f"no metrics to judge; {requests:.0f} requests on {candidate}"
    return Measurement(at, candidate, status, reason, verdicts, requests)


def holding_for_evidence(m: Measurement) -> bool:
    """Is ``m`` inconclusive only because sequential tests have not decided yet? Such a
    measurement holds the step (nothing is missing: evidence is still accruing) and does not
    count toward ``inconclusiveLimit``."""
    if m.status is not Status.INCONCLUSIVE:
        return False
    waiting = [v for v in m.verdicts if v.status is Status.INCONCLUSIVE]
    return bool(waiting) and all(
        v.sequential is not None and v.sequential.get("outcome") == str(Outcome.UNDECIDED)
        for v in waiting
    )


# --------------------------------------------------------------------------- counting


def update_counters(counters: Counters, status: Status | str) -> Counters:
    """The counters after one more measurement with ``status``."""
    s = Status(status)
    if s is Status.FAILED:
        return Counters(counters.failures + 1, 0, 0)
    if s is Status.INCONCLUSIVE:
        return Counters(counters.failures, counters.inconclusive_in_a_row + 1, 0)
    if s is Status.ERROR:
        return Counters(counters.failures, 0, counters.errors_in_a_row + 1)
    return Counters(counters.failures, 0, 0)


def decide(counters: Counters, spec: AnalysisSpec, status: Status | str | None = None) -> Decision:
    """What the counters call for: a breach first, then a pause for a human, else continue.

    With ``status`` (the measurement just counted), only a limit that this measurement
    reached counts: a passing measurement after a breach that paused does not breach again.
    """
    s = None if status is None else Status(status)
    if counters.failures > spec.failure_limit and s in (None, Status.FAILED):
        return Decision.BREACH
    if counters.inconclusive_in_a_row >= max(1, spec.inconclusive_limit) and s in (
        None,
        Status.INCONCLUSIVE,
    ):
        return Decision.INCONCLUSIVE_LIMIT
    if counters.errors_in_a_row >= max(1, spec.consecutive_error_limit) and s in (
        None,
        Status.ERROR,
    ):
        return Decision.ERROR_LIMIT
    return Decision.CONTINUE


def failures_text(counters: Counters, spec: AnalysisSpec) -> str:
    """'2/2 failures': failures so far over the count that triggers onFailure."""
    return f"{counters.failures}/{spec.failure_limit + 1} failures"


def describe_next(counters: Counters, spec: AnalysisSpec) -> str:
    """What the next bad measurements would do, e.g. 'one more failure rolls back'."""
    rollback = spec.on_failure is OnFailure.ROLLBACK
    left = spec.failure_limit + 1 - counters.failures
    if left <= 0:
        fail = f"failure limit reached ({failures_text(counters, spec)})"
    elif left == 1:
        fail = f"one more failure {'rolls back' if rollback else 'pauses'}"
    else:
        fail = f"{left} more failures {'roll back' if rollback else 'pause'}"
    parts = [f"{failures_text(counters, spec)}: {fail}"]
    inc_limit = max(1, spec.inconclusive_limit)
    if counters.inconclusive_in_a_row:
        parts.append(
            f"inconclusive {counters.inconclusive_in_a_row}/{inc_limit} in a row "
            f"(pauses at {inc_limit})"
        )
    err_limit = max(1, spec.consecutive_error_limit)
    if counters.errors_in_a_row:
        parts.append(
            f"metrics errors {counters.errors_in_a_row}/{err_limit} in a row "
            f"(pauses at {err_limit})"
        )
    return "; ".join(parts)
