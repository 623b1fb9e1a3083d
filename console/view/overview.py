"""What the console shows, computed from plain data: no Textual, no I/O, no clock of its own.

The app polls the backends into a ``Snapshot`` (see ``console/snapshot.py``); the functions
here turn a snapshot into overview rows, the header and rollback alerts
(``console/detail_view.py`` does the detail screen's panels). Everything
takes ``now`` as an argument so renders are deterministic in tests and snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backends.base import (
    AuditEntry,
    ForeignRollout,
    Lease,
    MetricSample,
    Phase,
    RolloutRecord,
    TrafficSplit,
    VersionHealth,
)
from console.driver.guard import Guard
from console.engine.state import EngineState
from console.view import foreign as foreign_text
from console.view.guarding import row_text as guard_row_text
from console.view.text import step_label, weights_compact

STALE_AFTER = 3.0  # seconds without a fresh snapshot before the header says "stale"


# --------------------------------------------------------------------------- snapshot data


@dataclass(frozen=True)
class ServiceState:
    """Everything polled about one service at one moment. Missing parts are None/empty."""

    service: str
    versions: tuple[str, ...] = ()
    record: RolloutRecord | None = None
    split: TrafficSplit | None = None
    health: Mapping[str, VersionHealth] = field(default_factory=dict)
    samples: Mapping[str, MetricSample] = field(default_factory=dict)
    lease: Lease | None = None
    audit: tuple[AuditEntry, ...] = ()
    errors: tuple[str, ...] = ()  # what could not be read, in words
    guard: Guard | None = None  # is a live driver guarding the rollout (console.driver.guard)
    foreign: ForeignRollout | None = None  # set when another controller drives it (Argo ...)
    # the detail's analysis queries over time: metric -> ((times), (values)) (foreign only)
    query_series: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(
        default_factory=dict
    )


def unguarded(state: ServiceState) -> bool:
    """A rollout that gives the candidate traffic with no live driver past the lease TTL."""
    return state.guard is not None and not state.guard.guarded and state.guard.since is not None


@dataclass(frozen=True)
class Snapshot:
    """One poll of the environment. ``error`` is set when nothing could be read at all."""

    taken_at: float
    services: Mapping[str, ServiceState] = field(default_factory=dict)
    error: str | None = None
    controller: str | None = None  # the holder of the controller lease, when one runs


# --------------------------------------------------------------------------- formatting


def fmt_pct(ratio: float | None, digits: int = 1) -> str:
    """0.997 -> '99.7%'; None -> '-'."""
    return "-" if ratio is None else f"{ratio * 100:.{digits}f}%"


def fmt_latency(seconds: float | None) -> str:
    """Seconds -> '12ms' or '1.20s'; None -> '-'."""
    if seconds is None:
        return "-"
    if seconds < 1.0:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.2f}s"


def fmt_rate(rps: float | None) -> str:
    return "-" if rps is None else f"{rps:.1f}/s"


# --------------------------------------------------------------------------- overview


COLUMNS = ("service", "phase", "strategy", "step", "weights", "success", "p99", "ready", "driver")
# Below 100 columns (80x24 over SSH) strategy and driver give way; the header names the
# driver of the selected row.
NARROW_COLUMNS = ("service", "phase", "step", "weights", "success", "p99", "ready")


# Below 72 columns p99 and ready give way too (a "!" on the phase still marks instances that
# are not all ready): at 60 columns the last column was cut to a lone "r".
TINY_COLUMNS = ("service", "phase", "step", "weights", "success")


def columns_for(width: int) -> tuple[str, ...]:
    """The overview's columns for a terminal ``width`` columns wide."""
    if width >= 100:
        return COLUMNS
    return NARROW_COLUMNS if width >= 72 else TINY_COLUMNS


@dataclass(frozen=True)
class ServiceRow:
    """One line of the overview table, already formatted, plus raw values to sort on."""

    service: str
    phase: str
    strategy: str
    step: str
    weights: str
    success: str
    p99: str
    ready: str
    driver: str
    success_value: float | None = None
    p99_value: float | None = None
    alert: bool = False  # rolled back, unguarded, or not all instances ready
    unguarded: bool = False  # no live driver while the candidate takes traffic

    def cells(self, columns: Sequence[str] = COLUMNS) -> tuple[str, ...]:
        """The formatted cells for ``columns`` (names from COLUMNS)."""
        return tuple(getattr(self, c) for c in columns)

    def all_cells(self) -> tuple[str, ...]:
        return (
            self.service,
            self.phase,
            self.strategy,
            self.step,
            self.weights,
            self.success,
            self.p99,
            self.ready,
            self.driver,
        )


SORT_KEYS = ("service", "phase", "success", "p99")


def step_text(record: RolloutRecord | None) -> str:
    """What `rollout status` shows: 'k/n' for canary steps and rolling batches, the
    blue/green stage. (Counting the engine's step index shows '6' for a finished blue/green.)"""
    if record is None:
        return "-"
    return step_label(record)


def overall_success(samples: Mapping[str, MetricSample]) -> float | None:
    """Share of non-5xx requests over all versions, weighted by request count."""
    total = errors = 0.0
    for s in samples.values():
        if s.requests is None or s.error_ratio is None or s.requests <= 0:
            continue
        total += s.requests
        errors += s.requests * s.error_ratio
    return None if total <= 0 else 1.0 - errors / total


def worst_p99(samples: Mapping[str, MetricSample]) -> float | None:
    values = [s.p99 for s in samples.values() if s.p99 is not None]
    return max(values) if values else None


def ready_text(health: Mapping[str, VersionHealth]) -> tuple[str, bool]:
    """'6/6' summed over versions, and whether any version is short of ready instances."""
    if not health:
        return "-", False
    ready = sum(h.ready for h in health.values())
    total = sum(h.total for h in health.values())
    short = any(h.total > 0 and h.ready < h.total for h in health.values())
    return f"{ready}/{total}", short


def driver_text(lease: Lease | None, holder: str, now: float) -> str:
    if lease is None or lease.expires_at <= now:
        return "-"
    return "me" if lease.holder == holder else lease.holder


def service_row(state: ServiceState, *, holder: str, now: float) -> ServiceRow:
    """Format one service for the overview table."""
    if state.foreign is not None:
        return foreign_row(state, state.foreign)
    rec = state.record
    weights = dict(state.split.weights) if state.split else dict(rec.weights) if rec else {}
    success = overall_success(state.samples)
    p99 = worst_p99(state.samples)
    ready, short = ready_text(state.health)
    # A record that exists but cannot be read is not "Idle": a rollout may be under way.
    unreadable = rec is None and any(e.startswith("record:") for e in state.errors)
    phase = str(rec.phase) if rec else "unreadable" if unreadable else "Idle"
    return ServiceRow(
        service=state.service,
        phase=phase,
        strategy=str(rec.strategy) if rec else "-",
        step=step_text(rec),
        weights=weights_compact(weights),
        success=fmt_pct(success),
        p99=fmt_latency(p99),
        ready=ready,
        driver=guard_row_text(state.guard) or driver_text(state.lease, holder, now),
        success_value=success,
        p99_value=p99,
        alert=short
        or unreadable
        or unguarded(state)
        or (rec is not None and rec.phase == Phase.ROLLED_BACK),
        unguarded=unguarded(state),
    )


def foreign_row(state: ServiceState, fr: ForeignRollout) -> ServiceRow:
    """A rollout another controller drives: its phase word, step k/N, set (and actual)
    weight, replicas ready/desired, and the controller in the driver column."""
    success = overall_success(state.samples)
    p99 = worst_p99(state.samples)
    return ServiceRow(
        service=state.service,
        phase=foreign_text.phase_cell(fr),
        strategy=str(fr.strategy),
        step=foreign_text.step_cell(fr),
        weights=foreign_text.weight_cell(fr),
        success=fmt_pct(success),
        p99=fmt_latency(p99),
        ready=foreign_text.ready_cell(fr),
        driver=fr.controller,
        success_value=success,
        p99_value=p99,
        alert=foreign_text.alert(fr),
    )


def _sort_value(row: ServiceRow, key: str) -> tuple[Any, ...]:
    # Missing numbers sort last in either direction of interest: worst success first is
    # what an operator wants, so success sorts ascending, p99 descending.
    if key == "success":
        return (row.success_value is None, row.success_value or 0.0, row.service)
    if key == "p99":
        return (row.p99_value is None, -(row.p99_value or 0.0), row.service)
    if key == "phase":
        return (row.phase, row.service)
    return (row.service,)


def overview_rows(
    snapshot: Snapshot | None,
    *,
    holder: str,
    now: float,
    filter_text: str = "",
    sort_key: str = "service",
) -> list[ServiceRow]:
    """Rows for the overview: filtered (substring over every cell) and sorted."""
    if snapshot is None:
        return []
    rows = [service_row(s, holder=holder, now=now) for s in snapshot.services.values()]
    needle = filter_text.strip().lower()
    if needle:
        rows = [r for r in rows if any(needle in c.lower() for c in r.all_cells())]
    return sorted(rows, key=lambda r: _sort_value(r, sort_key))


def next_sort_key(current: str) -> str:
    i = SORT_KEYS.index(current) if current in SORT_KEYS else -1
    return SORT_KEYS[(i + 1) % len(SORT_KEYS)]


# --------------------------------------------------------------------------- header


def mode_text(lease: Lease | None, holder: str, driving: bool, now: float) -> str:
    """'driving', 'viewing (driver: bob@host)' or 'viewing' for one service."""
    if driving:
        return "driving"
    if lease is not None and lease.expires_at > now and lease.holder != holder:
        return f"viewing (driver: {lease.holder})"
    return "viewing"


def staleness(last_ok_at: float | None, now: float) -> str | None:
    """'stale 5s' when the last good snapshot is older than STALE_AFTER, else None."""
    if last_ok_at is None:
        return "waiting for data"
    age = now - last_ok_at
    return f"stale {int(age)}s" if age >= STALE_AFTER else None


# --------------------------------------------------------------------------- rollback alerts


def first_clause(reason: str) -> str:
    """The first breach of a rollback reason: 'error-rate 0.3 > max 0.05 on v2; latency...
    -> rolled back' gives 'error-rate 0.3 > max 0.05 on v2'."""
    head = reason.split(" -> ")[0].split("; ")[0].strip()
    return head if head == reason.strip() else head + " …"


@dataclass(frozen=True)
class Alert:
    service: str
    reason: str
    label: str = "ROLLED BACK"  # or "PAUSED ON BREACH" (onFailure: pause)


def alert_label(record: RolloutRecord | None) -> str | None:
    """What a rollout's breach did, when it is one to raise an alert for: rolled back, or
    held by ``onFailure: pause``; None otherwise."""
    if record is None:
        return None
    if record.phase == Phase.ROLLED_BACK:
        return "ROLLED BACK"
    if record.phase == Phase.PAUSED and EngineState.of_record(record).pause_kind == "breach":
        return "PAUSED ON BREACH"
    return None


def rollback_alerts(previous: Snapshot | None, current: Snapshot, since: float) -> list[Alert]:
    """Services whose rollout rolled back, or paused on a breach, between two snapshots (or
    after ``since``)."""
    alerts = []
    for name, state in current.services.items():
        rec = state.record
        label = alert_label(rec)
        if rec is None or label is None:
            continue
        before = previous.services.get(name) if previous else None
        was = before.record if before and before.record else None
        fresh = was is not None and alert_label(was) != label
        if was is None and rec.updated_at >= since:
            fresh = True
        if fresh:
            alerts.append(Alert(name, rec.message or label.lower(), label))
    return alerts
