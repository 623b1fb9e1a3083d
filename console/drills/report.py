"""A drill's report: the data, its text, and its line in the state directory's log. Pure.

Reports are saved one JSON object per line in ``<state_dir>/drills.jsonl``; ``from_dict``
reads every line ever written (unknown keys are ignored, missing optional ones default),
so ``rollout drill --report`` lists old drills after the format grows.
"""

from __future__ import annotations

import dataclasses
import textwrap
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ActionTaken:
    """An operator's action: seconds from the drill's start, the verb, who."""

    at: float
    action: str
    by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"at": round(self.at, 2), "action": self.action, "by": self.by}


@dataclass(frozen=True)
class Report:
    scenario: str
    title: str
    started_at: float  # wall clock
    operator: str
    mode: str  # "headless" or "interactive"
    verdict: str  # correct, late or wrong
    incident_at: float  # seconds from the start
    first_notice: float | None  # seconds after the incident (negative: before it)
    right_action: float | None  # seconds after the incident
    expected: str
    within: float
    actions: tuple[ActionTaken, ...]
    failed: int
    automatic_action: str | None
    automatic_after: float | None
    automatic_failed: int
    ended_at: float  # seconds from the start
    debrief: str
    respond: str = ""
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["actions"] = [a.to_dict() for a in self.actions]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        values["actions"] = tuple(
            ActionTaken(float(a["at"]), str(a["action"]), str(a.get("by", "")))
            for a in d.get("actions", ())
        )
        return cls(**values)


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def render(report: Report, width: int = 78) -> str:
    """The report as the operator reads it after a drill."""
    auto = (
        f"{report.automatic_action} after {report.automatic_after:g}s"
        if report.automatic_action and report.automatic_after is not None
        else "would not have acted"
    )
    if report.right_action is None:
        right = f"never ({report.expected} expected within {report.within:g}s)"
    else:
        right = (
            f"{_secs(report.right_action)} ({report.expected}, expected within {report.within:g}s)"
        )
    actions = (
        ", ".join(f"{a.action} at {a.at - report.incident_at:+.1f}s" for a in report.actions)
        or "none"
    )
    lines = [
        f"Drill {report.scenario}: {report.title}",
        f"  verdict              {report.verdict.upper()}",
        f"  incident at          {report.incident_at:g}s into the drill",
        f"  first notice         {_secs(report.first_notice)} after the incident",
        f"  right action         {right}",
        f"  actions taken        {actions}",
        f"  requests failed      {report.failed} meanwhile",
        f"  automatic response   {report.automatic_failed} ({auto})",
        "",
        "What to look at next time:",
    ]
    for i, para in enumerate(report.debrief.split("\n\n")):
        lines += [""] if i else []
        lines += textwrap.wrap(" ".join(para.split()), width - 2, initial_indent="  ",
                               subsequent_indent="  ")  # fmt: skip
    return "\n".join(lines)


def render_list(reports: Iterable[Report]) -> str:
    """Past drills, oldest first: one line each, for ``rollout drill --report``."""
    rows = [("when", "scenario", "operator", "verdict", "action", "failed", "auto")]
    for r in reports:
        rows.append(
            (
                time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started_at)),
                r.scenario,
                r.operator.split("@")[0] + ("" if r.mode == "interactive" else " (headless)"),
                r.verdict,
                _secs(r.right_action),
                str(r.failed),
                str(r.automatic_failed),
            )
        )
    if len(rows) == 1:
        return "no drills recorded yet; run one with `rollout drill NAME`"
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
