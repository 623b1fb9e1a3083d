"""Text panels of the detail screen: step timeline, analysis, health, event and audit log.

Each panel renders plain data from ``console.view.overview``; marks (▶ ✓ ✗ ?) carry the meaning
so nothing depends on colour alone (NO_COLOR, 16-colour terminals).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from console.view.detail import AnalysisPanel, HealthRow, LogLine, TimelineItem
from console.view.overview import fmt_clock


class _Panel(Static):
    """A Static that only re-renders when its data changed."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self._data: object = ()

    def _changed(self, data: object) -> bool:
        if data == self._data:
            return False
        self._data = data
        return True


class TimelinePanel(_Panel):
    """Every step of the plan; the current one highlighted with its countdown or gate."""

    def show(self, items: Sequence[TimelineItem]) -> None:
        if not self._changed(tuple(items)):
            return
        if not items:
            self.update(Text("no rollout", style="dim"))
            return
        out = Text()
        for i, item in enumerate(items):
            if item.state == "done":
                out.append(f"✓ {item.label}", style="dim")
            elif item.state == "current":
                out.append(f"▶ {item.label}", style="bold reverse")
                if item.note:
                    out.append(f"  {item.note}", style="bold yellow")
            else:
                out.append(f"  {item.label}")
            if i < len(items) - 1:
                out.append("\n")
        self.update(out)


class AnalysisView(_Panel):
    """Each metric's value against its threshold, failures k/limit, and what comes next."""

    def show(self, panel: AnalysisPanel | None) -> None:
        if not self._changed(panel):
            return
        if panel is None:
            self.update(Text("no analysis", style="dim"))
            return
        out = Text()
        for row in panel.rows:
            mark, style = {True: ("✓", "green"), False: ("✗", "bold red"), None: ("?", "yellow")}[
                row.ok
            ]
            out.append(f"{mark} ", style=style)
            out.append(f"{row.metric:<14} {row.value:>9}  {row.threshold}")
            out.append(" (live)\n" if row.live else "\n", style="dim")
        out.append(panel.next_step, style="bold")
        if panel.status:
            out.append(f"\nlast: {panel.status}", style="dim")
        self.update(out)


class HealthView(_Panel):
    """Instances ready/total per version, restarts and failure reasons."""

    def show(self, rows: Sequence[HealthRow]) -> None:
        if not self._changed(tuple(rows)):
            return
        if not rows:
            self.update(Text("no health data", style="dim"))
            return
        out = Text()
        for i, r in enumerate(rows):
            out.append("✓ " if r.ok else "✗ ", style="green" if r.ok else "bold red")
            out.append(f"{r.version:<6} ready {r.ready:<6} restarts {r.restarts}")
            if r.reasons:
                out.append(f"  {r.reasons}", style="red")
            if i < len(rows) - 1:
                out.append("\n")
        self.update(out)


_KIND_STYLE = {
    "rollback": "bold red",
    "breach": "red",
    "aborted": "red",
    "completed": "green",
    "audit": "cyan",
    "metrics-error": "yellow",
    "health": "yellow",
}


class EventLog(_Panel):
    """Decisions with their reasons and operator actions with who, oldest first."""

    def show(self, lines: Sequence[LogLine]) -> None:
        if not self._changed(tuple(lines)):
            return
        if not lines:
            self.update(Text("no events yet", style="dim"))
            return
        out = Text()
        for i, line in enumerate(lines):
            out.append(f"{fmt_clock(line.at)} ", style="dim")
            out.append(f"{line.kind:<9} ", style=_KIND_STYLE.get(line.kind, "bold"))
            out.append(line.text)
            if i < len(lines) - 1:
                out.append("\n")
        self.update(out)
