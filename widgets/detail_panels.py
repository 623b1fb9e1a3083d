"""Text panels of the detail screen: step timeline, analysis, health, event and audit log.

Each panel renders plain data from ``console.view.detail``; marks (▶ ✓ ✗ ?) carry the meaning
so nothing depends on colour alone (NO_COLOR, 16-colour terminals). Colours and emphasis are
component classes, so a theme or app.tcss can restyle them; the defaults are the terminal's
own ANSI colours.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from console.view.detail import AnalysisPanel, HealthRow, LogLine, TimelineItem
from console.view.text import clock_time


class TextPanel(Static):
    """A panel drawn by ``render`` from one reactive value: set it, and the panel repaints
    and is measured again only if the value differs."""

    DEFAULT_CSS = """
    TextPanel > .text-panel--dim { text-style: dim; }
    """
    COMPONENT_CLASSES = {"text-panel--dim"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)

    def component_style(self, component: str) -> Style:
        """The Rich style of one of the panel's component classes."""
        return self.get_component_rich_style(component, partial=True)

    def empty(self, text: str) -> Text:
        return Text(text, style=self.component_style("text-panel--dim"))


class TimelinePanel(TextPanel):
    """Every step of the plan; the current one highlighted with its countdown or gate."""

    DEFAULT_CSS = """
    TimelinePanel > .timeline--done { text-style: dim; }
    TimelinePanel > .timeline--current { text-style: bold reverse; }
    TimelinePanel > .timeline--note { color: ansi_yellow; text-style: bold; }
    """
    COMPONENT_CLASSES = {"timeline--done", "timeline--current", "timeline--note"}

    items: reactive[tuple[TimelineItem, ...]] = reactive((), layout=True)

    def show(self, items: Sequence[TimelineItem]) -> None:
        self.items = tuple(items)

    def render(self) -> Text:
        items = self.items
        if not items:
            return self.empty("no rollout")
        out = Text()
        for i, item in enumerate(items):
            if item.state == "done":
                out.append(f"✓ {item.label}", style=self.component_style("timeline--done"))
            elif item.state == "current":
                out.append(f"▶ {item.label}", style=self.component_style("timeline--current"))
                if item.note:
                    out.append(f"  {item.note}", style=self.component_style("timeline--note"))
            else:
                out.append(f"  {item.label}")
            if i < len(items) - 1:
                out.append("\n")
        return out


class AnalysisView(TextPanel):
    """Each metric's value against its threshold, failures k/limit, and what comes next."""

    DEFAULT_CSS = """
    AnalysisView > .analysis--pass { color: ansi_green; }
    AnalysisView > .analysis--fail { color: ansi_red; text-style: bold; }
    AnalysisView > .analysis--unknown { color: ansi_yellow; }
    AnalysisView > .analysis--next { text-style: bold; }
    """
    COMPONENT_CLASSES = {"analysis--pass", "analysis--fail", "analysis--unknown", "analysis--next"}

    panel: reactive[AnalysisPanel | None] = reactive(None, layout=True)

    def show(self, panel: AnalysisPanel | None) -> None:
        self.panel = panel

    def render(self) -> Text:
        panel = self.panel
        if panel is None:
            return self.empty("no analysis")
        dim = self.component_style("text-panel--dim")
        out = Text()
        for row in panel.rows:
            mark, component = {
                True: ("✓", "analysis--pass"),
                False: ("✗", "analysis--fail"),
                None: ("?", "analysis--unknown"),
            }[row.ok]
            out.append(f"{mark} ", style=self.component_style(component))
            out.append(f"{row.metric:<14} {row.value:>9}  {row.threshold}")
            out.append(" (live)\n" if row.live else "\n", style=dim)
        next_style = "analysis--fail" if panel.stale else "analysis--next"
        out.append(panel.next_step, style=self.component_style(next_style))
        if panel.status:
            age = f" ({panel.stale})" if panel.stale else ""
            out.append(f"\nlast: {panel.status}{age}", style=dim)
        return out


class HealthView(TextPanel):
    """Instances ready/total per version, restarts and failure reasons."""

    DEFAULT_CSS = """
    HealthView > .health--ok { color: ansi_green; }
    HealthView > .health--bad { color: ansi_red; text-style: bold; }
    HealthView > .health--reason { color: ansi_red; }
    """
    COMPONENT_CLASSES = {"health--ok", "health--bad", "health--reason"}

    rows: reactive[tuple[HealthRow, ...]] = reactive((), layout=True)

    def show(self, rows: Sequence[HealthRow]) -> None:
        self.rows = tuple(rows)

    def render(self) -> Text:
        rows = self.rows
        if not rows:
            return self.empty("no health data")
        out = Text()
        for i, r in enumerate(rows):
            if r.ok:
                out.append("✓ ", style=self.component_style("health--ok"))
            else:
                out.append("✗ ", style=self.component_style("health--bad"))
            out.append(f"{r.version:<6} ready {r.ready:<6} restarts {r.restarts}")
            if r.reasons:
                out.append(f"  {r.reasons}", style=self.component_style("health--reason"))
            if i < len(rows) - 1:
                out.append("\n")
        return out


# The component class that styles each kind of log line; any other kind is `event-log--kind`.
_KIND_CLASS = {
    "rollback": "event-log--rollback",
    "breach": "event-log--failure",
    "aborted": "event-log--failure",
    "completed": "event-log--success",
    "audit": "event-log--audit",
    "metrics-error": "event-log--warning",
    "health": "event-log--warning",
}


class EventLog(TextPanel):
    """Decisions with their reasons and operator actions with who, oldest first."""

    DEFAULT_CSS = """
    EventLog > .event-log--kind { text-style: bold; }
    EventLog > .event-log--rollback { color: ansi_red; text-style: bold; }
    EventLog > .event-log--failure { color: ansi_red; }
    EventLog > .event-log--success { color: ansi_green; }
    EventLog > .event-log--audit { color: ansi_cyan; }
    EventLog > .event-log--warning { color: ansi_yellow; }
    """
    COMPONENT_CLASSES = {"event-log--kind", *_KIND_CLASS.values()}

    lines: reactive[tuple[LogLine, ...]] = reactive((), layout=True)

    def show(self, lines: Sequence[LogLine]) -> None:
        self.lines = tuple(lines)

    def render(self) -> Text:
        lines = self.lines
        if not lines:
            return self.empty("no events yet")
        dim = self.component_style("text-panel--dim")
        out = Text()
        for i, line in enumerate(lines):
            out.append(f"{clock_time(line.at)} ", style=dim)
            kind = self.component_style(_KIND_CLASS.get(line.kind, "event-log--kind"))
            out.append(f"{line.kind:<9} ", style=kind)
            out.append(line.text)
            if i < len(lines) - 1:
                out.append("\n")
        return out
