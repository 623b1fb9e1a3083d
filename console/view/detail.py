"""The detail screen's data, computed from plain data: no Textual, no I/O, no clock of its own.

Traffic split (set against measured), step timeline, analysis panel, health, the event and
audit log, and the rolling sample buffer behind the live charts. ``now`` is always passed in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.base import AuditEntry, Event, MetricSample, Phase, RolloutRecord
from backends.units import format_short
from console.analysis.verdicts import (
    BUILTIN_FIELDS,
    Counters,
    describe_next,
    failures_text,
    format_value,
)
from console.engine.context import stage_spec
from console.engine.state import EngineState
from console.plan.model import AnalysisSpec, Plan
from console.view.guarding import measurement_age
from console.view.overview import ServiceState

WINDOWS = (60.0, 300.0, 900.0)  # chart windows the detail screen cycles through
BUFFER_SECONDS = 900.0  # the longest window: keep this much history per version


# --------------------------------------------------------------------------- traffic bar


@dataclass(frozen=True)
class SplitShare:
    version: str
    set_weight: int  # percent the router is told to send
    measured: float | None  # share of measured requests, 0..1; None without traffic


def split_shares(state: ServiceState) -> list[SplitShare]:
    """Set weight against the measured share of requests, per version."""
    weights = dict(state.split.weights) if state.split else {}
    if not weights and state.record:
        weights = dict(state.record.weights)
    versions = list(dict.fromkeys([*state.versions, *weights, *state.samples]))
    rates = {
        v: state.samples[v].request_rate
        for v in versions
        if v in state.samples and state.samples[v].request_rate is not None
    }
    total = sum(r for r in rates.values() if r is not None)
    return [
        SplitShare(
            version=v,
            set_weight=int(weights.get(v, 0)),
            measured=(rates[v] or 0.0) / total if total > 0 and v in rates else None,
        )
        for v in versions
    ]


# --------------------------------------------------------------------------- step timeline


@dataclass(frozen=True)
class TimelineItem:
    label: str
    state: str  # "done" | "current" | "todo"
    note: str = ""


def _step_label(step: Mapping[str, Any]) -> str:
    if "setWeight" in step:
        return f"set weight {step['setWeight']}%"
    pause = step.get("pause") or {}
    dur = pause.get("duration") if isinstance(pause, Mapping) else None
    return "pause (manual gate)" if dur is None else f"pause {format_short(float(dur))}"


def timeline(record: RolloutRecord | None, now: float) -> list[TimelineItem]:
    """Every plan step: done, current (with a countdown or 'waiting for promote'), to do."""
    if record is None:
        return []
    steps = list(record.plan.get("steps") or [])
    if not steps:
        return [TimelineItem(f"{record.strategy}: {record.phase}", "current", record.message)]
    items = []
    finished = record.phase == Phase.COMPLETED
    for i, step in enumerate(steps):
        if finished or i < record.step_index:
            items.append(TimelineItem(_step_label(step), "done"))
            continue
        if i > record.step_index:
            items.append(TimelineItem(_step_label(step), "todo"))
            continue
        note = ""
        pause = step.get("pause")
        if record.phase.terminal:
            note = str(record.phase)
        elif record.phase == Phase.PAUSED and "pause" not in step:
            note = "paused"
        elif pause is not None:
            dur = pause.get("duration") if isinstance(pause, Mapping) else None
            if dur is None:
                note = "waiting for promote"
            elif record.phase == Phase.PAUSED:
                note = "paused"
            else:
                left = record.step_started_at + float(dur) - now
                note = f"{format_short(left)} left"
        items.append(TimelineItem(_step_label(step), "current", note))
    return items


# --------------------------------------------------------------------------- analysis panel


@dataclass(frozen=True)
class AnalysisRow:
    metric: str
    value: str
    threshold: str
    ok: bool | None  # None: no data or inconclusive (never a pass)
    live: bool = False  # value from the live sample (no measurement taken yet)


@dataclass(frozen=True)
class AnalysisPanel:
    rows: tuple[AnalysisRow, ...]
    failures: str  # "1/2 failures": so far over the count that triggers onFailure
    next_step: str  # what happens next, e.g. "one more failure rolls back"
    measured_at: float | None = None
    status: str = ""  # the last measurement's status and reason
    stale: str = ""  # "12 s ago, no driver": the measurement is old and nobody measures now


def _threshold_text(metric: str, lo: float | None, hi: float | None) -> str:
    parts = []
    if lo is not None:
        parts.append(f"min {format_value(metric, lo)}")
    if hi is not None:
        parts.append(f"max {format_value(metric, hi)}")
    return " ".join(parts) or "-"


def analysis_spec(record: RolloutRecord | None) -> AnalysisSpec | None:
    """The analysis block that applies now (canary/rolling, or blue/green's current stage)."""
    if record is None:
        return None
    try:
        plan = Plan.from_dict(record.plan)
    except (KeyError, TypeError, ValueError):
        return None
    stage = EngineState.of_record(record).stage or "preview"
    return stage_spec(plan, stage)


def analysis_panel(state: ServiceState, now: float | None = None) -> AnalysisPanel | None:
    """The last measurement on the candidate against each threshold, and the counters.

    Before the engine has measured anything, the live sample stands in (marked live). For an
    unguarded rollout the last measurement is not shown as a fresh pass: its rows carry no
    verdict and the panel says how old it is and that no driver measures any more.
    """
    rec = state.record
    spec = analysis_spec(rec)
    if rec is None or spec is None:
        return None
    eng = EngineState.of_record(rec)
    measurement = eng.last_measurement
    verdicts = {v.name: v for v in measurement.verdicts} if measurement else {}
    stale = ""
    if now is not None and measurement is not None:
        stale = measurement_age(measurement.at, now, state.guard) or ""
    sample = state.samples.get(rec.candidate)
    rows = []
    for m in spec.metrics:
        threshold = _threshold_text(m.name, m.min, m.max)
        verdict = verdicts.get(m.name)
        if verdict is not None:
            ok = {"successful": True, "failed": False}.get(str(verdict.status))
            if stale:
                ok = None  # nobody judges it any more: neither a pass nor a fail now
            rows.append(AnalysisRow(m.name, format_value(m.name, verdict.value), threshold, ok))
            continue
        value = None
        if m.builtin and m.name in BUILTIN_FIELDS and sample is not None:
            value = getattr(sample, BUILTIN_FIELDS[m.name])
        ok = None
        if value is not None:
            ok = (m.min is None or value >= m.min) and (m.max is None or value <= m.max)
        rows.append(AnalysisRow(m.name, format_value(m.name, value), threshold, ok, live=True))
    counters = eng.counters or Counters()
    next_step = f"rollout {rec.phase}" if rec.phase.terminal else describe_next(counters, spec)
    if stale:
        next_step = "UNGUARDED: no driver measures or rolls back now"
    return AnalysisPanel(
        rows=tuple(rows),
        failures=failures_text(counters, spec),
        next_step=next_step,
        measured_at=measurement.at if measurement else None,
        status=f"{measurement.status}: {measurement.reason}" if measurement else "",
        stale=stale,
    )


# --------------------------------------------------------------------------- health panel


@dataclass(frozen=True)
class HealthRow:
    version: str
    ready: str
    restarts: int
    reasons: str
    ok: bool


def health_rows(state: ServiceState) -> list[HealthRow]:
    return [
        HealthRow(
            version=v,
            ready=f"{h.ready}/{h.total}",
            restarts=h.restarts,
            reasons="; ".join(h.reasons),
            ok=h.all_ready,
        )
        for v, h in sorted(state.health.items())
    ]


# --------------------------------------------------------------------------- event and audit log


@dataclass(frozen=True)
class LogLine:
    at: float
    kind: str  # the event kind, or "audit"
    text: str


def log_lines(
    events: Iterable[Event], audit: Iterable[AuditEntry], limit: int = 200
) -> list[LogLine]:
    """Events and audit entries merged by time, oldest first, at most ``limit``."""
    lines = [LogLine(e.at, e.kind, e.message) for e in events]
    for a in audit:
        who = a.actor or a.user or "?"
        reason = f": {a.reason}" if a.reason else ""
        lines.append(LogLine(a.at, "audit", f"{who} {a.action}{reason}"))
    lines.sort(key=lambda line: line.at)
    return lines[-limit:]


# --------------------------------------------------------------------------- chart buffer


class SampleBuffer:
    """A rolling window of metric samples per (service, version), for the live charts.

    Samples are deduplicated by time, so re-adding the same poll or history is harmless.
    """

    def __init__(self, horizon: float = BUFFER_SECONDS) -> None:
        self.horizon = horizon
        self._data: dict[tuple[str, str], deque[MetricSample]] = {}

    def add(self, service: str, sample: MetricSample) -> None:
        """Append a live sample (an older or repeated one is merged in by time)."""
        buf = self._data.setdefault((service, sample.version), deque())
        if buf and sample.at <= buf[-1].at:
            self.extend(service, [sample])
            return
        buf.append(sample)
        self._trim(buf)

    def extend(self, service: str, samples: Iterable[MetricSample]) -> None:
        """Merge samples (e.g. history arriving after live ones), deduplicated by time."""
        by_version: dict[str, dict[float, MetricSample]] = {}
        for s in samples:
            by_version.setdefault(s.version, {})[s.at] = s
        for version, new in by_version.items():
            buf = self._data.setdefault((service, version), deque())
            merged = {**new, **{s.at: s for s in buf}}  # live samples win over history
            buf.clear()
            buf.extend(merged[k] for k in sorted(merged))
            self._trim(buf)

    def _trim(self, buf: deque[MetricSample]) -> None:
        while buf and buf[0].at < buf[-1].at - self.horizon:
            buf.popleft()

    def versions(self, service: str) -> list[str]:
        return sorted(v for (s, v) in self._data if s == service)

    def series(
        self, service: str, version: str, attr: str, window: float, now: float
    ) -> tuple[list[float], list[float]]:
        """(seconds relative to now, values) for one field; samples without data skipped."""
        xs: list[float] = []
        ys: list[float] = []
        for s in self._data.get((service, version), ()):
            if s.at < now - window:
                continue
            v = getattr(s, attr)
            if v is None:
                continue
            xs.append(s.at - now)
            ys.append(float(v))
        return xs, ys


@dataclass(frozen=True)
class ChartSpec:
    """One chart of the detail screen: which sample fields, scale, and threshold line."""

    title: str
    fields: tuple[str, ...]
    scale: float = 1.0  # multiply values (seconds -> ms)
    threshold: float | None = None


def chart_specs(record: RolloutRecord | None) -> list[ChartSpec]:
    """Request rate, error rate and latency charts, with the plan's thresholds drawn."""
    thresholds: dict[str, float] = {}
    spec = analysis_spec(record)
    for m in spec.metrics if spec else ():
        if m.builtin and m.max is not None:
            thresholds[m.name] = float(m.max)
    latency = [
        thresholds[k] for k in ("latency-p99", "latency-p95", "latency-p50") if k in thresholds
    ]
    return [
        ChartSpec("requests/s", ("request_rate",)),
        ChartSpec("error ratio", ("error_ratio",), threshold=thresholds.get("error-rate")),
        ChartSpec(
            "latency ms (p50 p95 p99)",
            ("p50", "p95", "p99"),
            scale=1000.0,
            threshold=latency[0] * 1000.0 if latency else None,
        ),
    ]


def candidate_version(state: ServiceState) -> str | None:
    """The version a fault goes into: the running rollout's candidate, else a version taking
    no traffic. (After a completed rollout the candidate serves everyone: not that one.)"""
    if state.record is not None and not state.record.phase.terminal:
        return state.record.candidate
    weights = dict(state.split.weights) if state.split else {}
    idle = [v for v in state.versions if weights.get(v, 0) == 0]
    if idle:
        return idle[-1]
    return state.versions[-1] if state.versions else None


def window_label(seconds: float) -> str:
    return f"{int(seconds // 60)}m"


def versions_of(state: ServiceState) -> Sequence[str]:
    return list(dict.fromkeys([*state.versions, *state.samples, *state.health]))
