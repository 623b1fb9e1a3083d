"""An experiment's report as text: one line per arm and the decision (``rollout history``,
``rollout status``, the console). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.analysis.experiment import Report, show, show_diff
from console.plan.model import COUNTER_METRIC, LATENCY_METRICS


def _kind(metric: str) -> str:
    """The metric kind ``show`` formats by: a latency, a counter, or a share."""
    if metric in LATENCY_METRICS:
        return metric
    if metric in ("error-rate", "slow-requests"):
        return metric
    return COUNTER_METRIC


def report_lines(report: Mapping[str, Any] | Report) -> list[str]:
    """``arm  users  requests  value [low, high]  vs control`` rows, then the decision."""
    r = report if isinstance(report, Report) else Report.from_dict(report)
    kind = _kind(r.metric)
    conf = f"{r.confidence * 100:g}%"
    rows = [["arm", "users", "requests", f"{r.metric} ({conf} CI)", "vs control", "verdict"]]
    for a in r.arms:
        v = a.value
        ci = f" [{show(kind, v.low)}, {show(kind, v.high)}]" if v.low is not None else ""
        rows.append(
            [
                a.arm,
                "-" if a.users is None else str(a.users),
                f"{a.requests:.0f}",
                show(kind, v.value) + ci,
                "" if a.verdict == "control" else show_diff(kind, a.vs_control.value),
                a.verdict,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.append(f"  decision: {r.decision} ({r.ended_by}): {r.why}")
    return lines
