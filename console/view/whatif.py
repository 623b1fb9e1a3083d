"""``rollout analyze``'s human report of a what-if replay (console/analysis/whatif.py)."""

from __future__ import annotations

from typing import Any

from backends.units import format_duration
from console.analysis.verdicts import Decision
from console.analysis.whatif import WhatIf, hint
from console.plan.model import OnFailure
from console.view.text import clock_time


def render_text(result: WhatIf, header: str = "", *, clock: Any = None) -> str:
    """The human report: header, a compact timeline, and the conclusion."""
    fmt = clock or clock_time
    spec = result.spec
    lines = [header] if header else []
    base = f" (baseline {result.stable})" if result.stable else ""
    stopped = len(result.steps) < result.planned
    count = (
        f"{result.planned} planned measurements"
        if stopped
        else (f"{len(result.steps)} measurement(s)")
    )
    lines.append(
        f"window {fmt(result.start)} -> {fmt(result.end)}: {count}"
        f" of {result.candidate}{base}, every {format_duration(spec.interval)} over "
        f"{format_duration(spec.effective_window)}"
    )
    if stopped:
        if result.decision is Decision.BREACH:
            action = "rolled back" if spec.on_failure is OnFailure.ROLLBACK else "paused"
            where = f"at the breach, where the rollout would have {action}"
        else:
            where = "where the rollout would have paused for a human"
        lines.append(
            f"{len(result.steps)} of {result.planned} planned measurements evaluated; "
            f"the replay stopped {where}"
        )
    for run in result.runs():
        span = fmt(run.start) if run.count == 1 else f"{fmt(run.start)}-{fmt(run.end)}"
        lines.append(f"  {span:<17} {run.status!s:<12} x{run.count:<4} {run.reason}")
    if result.steps:
        # The statistic where the replay ended (a run's line shows its first measurement).
        last = result.steps[-1].measurement
        for v in last.verdicts:
            if v.sequential is not None:
                lines.append(f"sequential test at {fmt(last.at)}: {v.reason}")
    if result.first_failure_at is not None:
        names = ", ".join(v.name for v in result.first_failure)
        reasons = "; ".join(v.reason for v in result.first_failure)
        lines.append(f"first failure: {names} at {fmt(result.first_failure_at)}: {reasons}")
    if result.decided_at is not None and result.decision is not Decision.CONTINUE:
        lines.append(f"decided at {fmt(result.decided_at)} ({result.decision})")
    lines.append(f"result: {result.verdict.upper()}: {result.message}")
    tip = hint(result)
    if tip:
        lines.append(f"hint: {tip}")
    return "\n".join(lines)
