"""The detail screen's panels for a rollout another controller drives (Argo Rollouts,
Flagger): title, split (set against actual weight), steps (or blue/green active/preview),
each analysis metric with its conditions as written and its counts against their limits,
every measurement, replicas. Pure: a ``ForeignRollout`` in, the plain data of
``console/view/detail.py`` out, so the same widgets draw it."""

from __future__ import annotations

from backends.base import ForeignAnalysis, ForeignMetric, ForeignRollout, Strategy
from console.view.detail import (
    AnalysisPanel,
    AnalysisRow,
    HealthRow,
    LogLine,
    SplitShare,
    TimelineItem,
)
from console.view.foreign import message, phase_cell, step_cell, tag, weight_cell
from console.view.text import clock_time


def title_lines(fr: ForeignRollout) -> list[str]:
    """``courses  Paused  canary 1.0 -> 2.0  step 1/5 (argo-rollouts)``, the message, then
    weights, replicas and pause reasons."""
    versions = f"{tag(fr.stable)} → {tag(fr.canary)}" if fr.canary else tag(fr.stable)
    head = f"{phase_cell(fr)}  {fr.strategy} {versions}  step {step_cell(fr)}  ({fr.controller})"
    facts = [f"weight {weight_cell(fr)}", f"replicas {fr.ready}/{fr.desired} ready"]
    if fr.updated:
        facts.append(f"{fr.updated} updated")
    if fr.pause_reasons:
        facts.append("paused: " + ", ".join(fr.pause_reasons))
    if fr.failed_checks is not None:
        facts.append(f"failed checks {fr.failed_checks}/{fr.threshold}")
    if fr.iterations is not None:  # Flagger: analysis runs done, and when it last moved
        facts.append(f"iterations {fr.iterations}")
        if fr.updated_at is not None:
            facts.append(f"since {clock_time(fr.updated_at)}")
    lines = [head]
    said = message(fr)
    if said:
        lines.append(said)
    lines.append(" · ".join(facts))
    return lines


def split_shares(fr: ForeignRollout) -> list[SplitShare]:
    """Stable and canary: the weight the controller set, and the router's actual weight as
    the measured share (None when the router reports none)."""
    if not fr.canary:
        return [SplitShare(tag(fr.stable), 100, None)] if fr.stable else []
    w = fr.set_weight if fr.set_weight is not None else 0
    actual = fr.actual_weight
    return [
        SplitShare(tag(fr.stable), 100 - w, None if actual is None else (100 - actual) / 100),
        SplitShare(tag(fr.canary), w, None if actual is None else actual / 100),
    ]


def _current_note(fr: ForeignRollout) -> str:
    if fr.aborted:
        return "aborted"
    if fr.pause_reasons:
        return "paused: " + ", ".join(fr.pause_reasons) + " (promote continues)"
    running = [a for a in fr.analyses if a.phase in ("Running", "Pending") and a.kind != "template"]
    if running:
        return f"analysis {running[0].name} {running[0].phase}"
    return ""


def timeline(fr: ForeignRollout) -> list[TimelineItem]:
    """Canary: every step, done / current / to do (``step`` counts steps done, as the
    plugin's ``k/N``). Blue/green: the preview and the active selectors."""
    if fr.strategy == Strategy.BLUEGREEN:
        if not fr.canary:
            return [TimelineItem(f"active {fr.active or '-'}", "done")]
        waiting = "BlueGreenPause" in fr.pause_reasons
        return [
            TimelineItem(f"preview {fr.preview or '-'} ({tag(fr.canary)})", "done"),
            TimelineItem(
                f"promote: active {fr.active or '-'} → {fr.preview or '-'}",
                "current",
                _current_note(fr) if waiting or fr.aborted else "",
            ),
        ]
    if not fr.steps:
        return [TimelineItem(f"{fr.strategy}: {fr.status}", "current", message(fr))]
    done = fr.step or 0
    rolling = bool(fr.canary)
    items = []
    for i, step in enumerate(fr.steps):
        if not rolling or i < done:
            items.append(TimelineItem(step.text, "done"))
        elif i == done:
            items.append(TimelineItem(step.text, "current", _current_note(fr)))
        else:
            items.append(TimelineItem(step.text, "todo"))
    return items


def _limit(n: int | None) -> str:
    return "-" if n is None else str(n)


def counts_text(m: ForeignMetric) -> str:
    """``failed 1/1 inconclusive 0/1 errors 0/4``: each count against its limit (the
    analysis fails when a count goes over its limit)."""
    return (
        f"failed {m.failed}/{_limit(m.failure_limit)} "
        f"inconclusive {m.inconclusive}/{_limit(m.inconclusive_limit)} "
        f"errors {m.errors}/{_limit(m.error_limit)}"
    )


def condition_text(m: ForeignMetric) -> str:
    """The conditions as written: ``ok: result[0] >= 0.95 · fail: result[0] < 0.90``."""
    parts = []
    if m.success_condition:
        parts.append(f"ok: {m.success_condition}")
    if m.failure_condition:
        parts.append(f"fail: {m.failure_condition}")
    return " · ".join(parts) or "no condition"


def _ok(m: ForeignMetric) -> bool | None:
    last = m.measurements[-1].phase if m.measurements else ""
    if m.phase in ("Failed", "Error") or last in ("Failed", "Error"):
        return False
    if last == "Successful":
        return True
    return None


def analysis_rows(analysis: ForeignAnalysis) -> list[AnalysisRow]:
    return [
        AnalysisRow(
            metric=m.name,
            value=m.measurements[-1].value if m.measurements else "-",
            threshold=" · ".join(x for x in (condition_text(m), counts_text(m), m.no_chart) if x),
            ok=_ok(m),
        )
        for m in analysis.metrics
    ]


def analysis_panel(fr: ForeignRollout) -> AnalysisPanel | None:
    """Every metric of every analysis of the current revision (or, before a run exists, of
    the templates the rollout refers to), and what the controller said of it."""
    if not fr.analyses:
        return None
    rows: list[AnalysisRow] = []
    heads = []
    for a in fr.analyses:
        rows.extend(analysis_rows(a))
        kind = f" ({a.kind})" if a.kind else ""
        heads.append(f"{a.name}{kind} {a.phase}")
    worst = max(
        (m for a in fr.analyses for m in a.metrics),
        key=lambda m: (m.failed, m.inconclusive),
        default=None,
    )
    failures = counts_text(worst) if worst is not None else ""
    said = "; ".join(a.message for a in fr.analyses if a.message)
    last = [m.measurements[-1].at for a in fr.analyses for m in a.metrics if m.measurements]
    known = [t for t in last if t is not None]
    return AnalysisPanel(
        rows=tuple(rows),
        failures=failures,
        next_step="; ".join(heads),
        measured_at=max(known) if known else None,
        status=said,
    )


def measurement_lines(fr: ForeignRollout) -> list[LogLine]:
    """Every measurement as a log line: ``success-rate = 0.97 Successful (run name)``."""
    lines = []
    for a in fr.analyses:
        for m in a.metrics:
            for x in m.measurements:
                note = f": {x.message}" if x.message else ""
                text = f"{m.name} = {x.value or '-'} {x.phase} ({a.name}){note}"
                lines.append(LogLine(x.at or 0.0, "measure", text))
    return lines


def measurement_series(fr: ForeignRollout) -> dict[str, tuple[list[float], list[float]]]:
    """Numeric measurements per metric over time, for a chart (``[0.97]`` reads as 0.97)."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    for a in fr.analyses:
        for m in a.metrics:
            xs, ys = series.setdefault(m.name, ([], []))
            for x in m.measurements:
                value = _number(x.value)
                if x.at is not None and value is not None:
                    xs.append(x.at)
                    ys.append(value)
    return {k: v for k, v in series.items() if v[0]}


def _number(text: str) -> float | None:
    """``0.97``, ``[0.97]`` or ``[0.97, 12]`` (the first) as a float; None otherwise."""
    head = text.strip().strip("[]").split(",")[0].strip()
    try:
        return float(head)
    except ValueError:
        return None


def health_rows(fr: ForeignRollout) -> list[HealthRow]:
    """Replicas ready against desired, and how many run the current revision."""
    return [
        HealthRow(
            version=tag(fr.canary or fr.stable),
            ready=f"{fr.ready}/{fr.desired}",
            restarts=0,
            reasons=f"{fr.updated} updated" if fr.canary else "",
            ok=fr.ready >= fr.desired,
        )
    ]


def queries(fr: ForeignRollout) -> list[tuple[str, str, str]]:
    """(metric, Prometheus address, query with args filled in) of each Prometheus metric:
    what a chart can ask Prometheus for, as the analysis does."""
    out = []
    for a in fr.analyses:
        for m in a.metrics:
            if m.provider == "prometheus" and m.query:
                out.append((m.name, m.address, m.query))
    return out
