"""One rollout in detail: traffic split, live charts, steps, analysis, health, events.

Below 120 columns everything stacks in one scrolling column (80x24 over SSH), the steps and
analysis first; wider, the charts sit side by side and the panels in two columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Static

from console.view import detail as dv
from console.view import overview as vm
from widgets.detail_panels import AnalysisView, EventLog, HealthView, TimelinePanel
from widgets.key_bar import KeyBar
from widgets.status_bar import FlashLine, HeaderLine
from widgets.traffic_bar import TrafficBar

if TYPE_CHECKING:
    from console.tui.app import RolloutApp

WIDE = 120
# The key bar keeps these first when the terminal is narrow (`? help` always stays).
KEY_ORDER = (
    "promote", "promote_full", "pause", "rollback", "retry", "back",
    "window", "inject_fault", "clear_fault", "palette", "start", "quit",
)  # fmt: skip


class DetailScreen(Screen[None]):
    """The detail of one service; ``esc`` goes back to the overview."""

    BINDINGS = [
        Binding("w", "cycle_window", "Window", id="window", tooltip="Chart window: 1, 5, 15 min"),
    ]

    def __init__(self, service: str) -> None:
        super().__init__(id="detail")
        self.service = service
        self.window_index = 0

    @property
    def rollout_app(self) -> RolloutApp:
        return cast("RolloutApp", self.app)

    @property
    def window(self) -> float:
        return dv.WINDOWS[self.window_index]

    def compose(self) -> ComposeResult:
        # plotext is imported only when a detail screen opens: the overview starts faster.
        from widgets.metric_chart import MetricChart

        yield HeaderLine(id="header")
        yield FlashLine(id="flash")
        yield Static("", id="banner", classes="banner")
        with VerticalScroll(id="body"):
            yield Static("", id="title")
            yield TrafficBar(id="split")
            with Horizontal(classes="panels"):
                with Vertical(classes="column"):
                    yield Static("Steps", classes="panel-title")
                    yield TimelinePanel(id="timeline", classes="panel")
                with Vertical(classes="column"):
                    yield Static("Analysis", classes="panel-title")
                    yield AnalysisView(id="analysis", classes="panel")
            with Horizontal(id="charts"):
                yield MetricChart("requests/s", id="chart-0", classes="chart")
                yield MetricChart("error ratio", id="chart-1", classes="chart")
                yield MetricChart("latency ms", id="chart-2", classes="chart")
            with Horizontal(classes="panels"):
                with Vertical(classes="column"):
                    yield Static("Health", classes="panel-title")
                    yield HealthView(id="health", classes="panel")
                with Vertical(classes="column"):
                    yield Static("Events and audit", classes="panel-title")
                    yield EventLog(id="log", classes="panel")
        yield KeyBar(KEY_ORDER, id="keys")

    def on_mount(self) -> None:
        self.set_class(self.app.size.width >= WIDE, "wide")
        self.query_one("#body").focus()
        self.repaint()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width >= WIDE, "wide")

    def repaint(self) -> None:
        """Redraw from the app's snapshot and sample buffer."""
        app = self.rollout_app
        now = app.clock()
        app.paint_chrome(self, service=self.service)
        state = app.service_state(self.service)
        rec = state.record
        title = Text()
        title.append(f"{self.service}", style="bold")
        if rec is None:
            title.append(f"  no rollout{app.start_hint()}")
        else:
            title.append(
                f"  {rec.phase}", style="bold red" if rec.phase == "RolledBack" else "bold"
            )
            title.append(
                f"  {rec.strategy} {rec.stable} → {rec.candidate}  step {vm.step_text(rec)}"
            )
            if rec.message:
                title.append(f"\n{rec.message}")
        if state.split is not None and state.split.approximate:
            # Replica-ratio splitting (no Gateway API): the weights are what the pod counts
            # allow, not an exact per-request split.
            title.append("\nsplit is approximate: replica ratio behind one Service", style="yellow")
        if state.errors:
            title.append(f"\n! {state.errors[0]}", style="yellow")
        self.query_one("#title", Static).update(title)
        self.query_one("#split", TrafficBar).show(dv.split_shares(state))
        self._paint_charts(app, state, now)
        self.query_one("#timeline", TimelinePanel).show(dv.timeline(rec, now))
        self.query_one("#analysis", AnalysisView).show(dv.analysis_panel(state))
        self.query_one("#health", HealthView).show(dv.health_rows(state))
        events = rec.events if rec else ()
        self.query_one("#log", EventLog).show(dv.log_lines(events, state.audit))

    def _paint_charts(self, app: RolloutApp, state: vm.ServiceState, now: float) -> None:
        from widgets.metric_chart import MetricChart

        versions = dv.versions_of(state) or app.buffer.versions(self.service)
        for i, spec in enumerate(dv.chart_specs(state.record)):
            series = {}
            for v in versions:
                for field in spec.fields:
                    xs, ys = app.buffer.series(self.service, v, field, self.window, now)
                    label = v if len(spec.fields) == 1 else f"{v} {field}"
                    series[label] = (xs, [y * spec.scale for y in ys])
            chart = self.query_one(f"#chart-{i}", MetricChart)
            chart.title = f"{spec.title} · last {dv.window_label(self.window)}"
            chart.show(series, window=self.window, threshold=spec.threshold)

    def action_cycle_window(self) -> None:
        self.window_index = (self.window_index + 1) % len(dv.WINDOWS)
        self.rollout_app.flash(f"chart window {dv.window_label(self.window)}")
        self.repaint()
