"""One rollout in detail: traffic split, live charts, steps, analysis, health, events.

Below 120 columns (80x24 over SSH) the first screenful is a glance: the split, the analysis
and the candidate's error ratio and latency charts; the rest follows in one scrolling column.
Wider, the charts of every version sit side by side and the panels in two columns.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.reactive import reactive
from textual.widgets import Static

from backends.base import Phase
from console.tui.screens.base import RolloutScreen
from console.view.detail import (
    WINDOWS,
    analysis_panel,
    chart_specs,
    health_rows,
    log_lines,
    split_shares,
    timeline,
    versions_of,
    window_label,
)
from console.view.overview import ServiceState, step_text
from widgets.detail_panels import AnalysisView, EventLog, HealthView, TimelinePanel
from widgets.traffic_bar import TrafficBar

WIDE = 120
# The key bar keeps these first when the terminal is narrow (`? help` always stays).
KEY_ORDER = (
    "promote", "promote_full", "pause", "rollback", "retry", "back",
    "window", "inject_fault", "clear_fault", "palette", "start", "quit",
)  # fmt: skip


class DetailBody(VerticalScroll):
    """The scrolling content of the detail screen, arranged for the terminal's width.

    Wide (``WIDE`` columns and more): title and split, steps beside analysis, the three charts
    of every version side by side, health beside the log. Narrower: first a glance that fills
    the terminal (title, split, analysis, then the candidate's error ratio and latency charts
    side by side, as tall as the room left), then the steps, the request rate of every
    version, health and the log, one under the other.
    """

    def __init__(self, *, wide: bool, id: str | None = None) -> None:
        super().__init__(id=id)
        self.wide = wide

    def compose(self) -> ComposeResult:
        # plotext is imported only when a detail screen opens: the overview starts faster.
        from widgets.metric_chart import MetricChart

        if self.wide:
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
            return
        with Vertical(id="glance"):
            yield Static("", id="title")
            yield TrafficBar(id="split")
            yield Static("Analysis", classes="panel-title")
            yield AnalysisView(id="analysis", classes="panel")
            with Horizontal(id="candidate-charts"):
                yield MetricChart("error ratio", id="chart-1", classes="chart candidate")
                yield MetricChart("latency ms", id="chart-2", classes="chart candidate")
        yield Static("Steps", classes="panel-title")
        yield TimelinePanel(id="timeline", classes="panel")
        yield MetricChart("requests/s", id="chart-0", classes="chart")
        yield Static("Health", classes="panel-title")
        yield HealthView(id="health", classes="panel")
        yield Static("Events and audit", classes="panel-title")
        yield EventLog(id="log", classes="panel")


class DetailScreen(RolloutScreen):
    """The detail of one service; ``esc`` goes back to the overview."""

    KEY_ORDER = KEY_ORDER
    PLACE = "detail screen"
    COMPONENT_CLASSES = {"detail--name", "detail--phase", "detail--rolled-back", "detail--note"}

    BINDINGS = [
        Binding("w", "cycle_window", "Window", id="window", tooltip="Chart window: 1, 5, 15 min"),
    ]

    # The charts' window, an index into WINDOWS (`w` cycles it).
    window_index = reactive(0)

    def __init__(self, service: str) -> None:
        super().__init__(id="detail")
        self.service: str = service

    @property
    def window(self) -> float:
        return WINDOWS[self.window_index]

    def compose_body(self) -> ComposeResult:
        yield DetailBody(wide=self.app.size.width >= WIDE, id="body")

    def on_mount(self) -> None:
        self.set_class(self.app.size.width >= WIDE, "wide")
        self.query_one("#body").focus()
        self.repaint()

    async def on_resize(self, event: Resize) -> None:
        wide = event.size.width >= WIDE
        self.set_class(wide, "wide")
        body = self.query_one("#body", DetailBody)
        if body.wide != wide:
            # Recomposed here rather than by a reactive(recompose=True): the new widgets are
            # empty until painted, so the repaint must follow the recompose at once.
            body.wide = wide
            await body.recompose()
            self.repaint()

    def go_back(self) -> None:
        self.rollout_app.close_detail()

    def watch_window_index(self) -> None:
        self.repaint()

    def paint_body(self) -> None:
        """Redraw from the app's snapshot and sample buffer."""
        app = self.rollout_app
        now = app.clock()
        state = app.service_state(self.service)
        if state.foreign is not None:
            self._paint_foreign(state, now)
            return
        rec = state.record
        self.query_one("#title", Static).update(self._title(state))
        self.query_one("#split", TrafficBar).show(split_shares(state))
        self._paint_charts(state, now)
        self.query_one("#timeline", TimelinePanel).show(timeline(rec, now))
        self.query_one("#analysis", AnalysisView).show(analysis_panel(state, now))
        self.query_one("#health", HealthView).show(health_rows(state))
        events = rec.events if rec else ()
        self.query_one("#log", EventLog).show(log_lines(events, state.audit))

    def _title(self, state: ServiceState) -> Text:
        """The service, phase, strategy and step, the phase's reason, and warnings."""
        rec = state.record

        def style(component: str) -> Style:
            return self.get_component_rich_style(component, partial=True)

        title = Text()
        title.append(f"{self.service}", style=style("detail--name"))
        if rec is None:
            title.append(f"  no rollout{self.rollout_app.start_hint()}")
        else:
            rolled_back = rec.phase == Phase.ROLLED_BACK
            title.append(
                f"  {rec.phase}",
                style=style("detail--rolled-back" if rolled_back else "detail--phase"),
            )
            title.append(f"  {rec.strategy} {rec.stable} → {rec.candidate}  step {step_text(rec)}")
            if rec.message:
                title.append(f"\n{rec.message}")
        if state.split is not None and state.split.approximate:
            # Replica-ratio splitting (no Gateway API): the weights are what the pod counts
            # allow, not an exact per-request split.
            title.append(
                "\nsplit is approximate: replica ratio behind one Service",
                style=style("detail--note"),
            )
        if state.errors:
            title.append(f"\n! {state.errors[0]}", style=style("detail--note"))
        return title

    def _paint_charts(self, state: ServiceState, now: float) -> None:
        """Chart ``i`` shows ``chart_specs()[i]`` for every version, or for the candidate
        alone in the narrow glance (a chart of class ``candidate``)."""
        from widgets.metric_chart import MetricChart

        buffer = self.rollout_app.buffer
        every = list(versions_of(state) or buffer.versions(self.service))
        candidate = state.record.candidate if state.record else None
        window = window_label(self.window)
        for i, spec in enumerate(chart_specs(state.record)):
            chart = self.query_one(f"#chart-{i}", MetricChart)
            alone = chart.has_class("candidate") and candidate is not None
            versions = [candidate] if alone and candidate else every
            series = {}
            for v in versions:
                for field in spec.fields:
                    xs, ys = buffer.series(self.service, v, field, self.window, now)
                    if alone:
                        label = field if len(spec.fields) > 1 else v
                    else:
                        label = v if len(spec.fields) == 1 else f"{v} {field}"
                    series[label] = (xs, [y * spec.scale for y in ys])
            if alone:
                # Narrow: the version in the title, the fields in the legend.
                chart.title = f"{candidate} {spec.title.split(' (')[0]} · last {window}"
            else:
                chart.title = f"{spec.title} · last {window}"
            chart.show(series, window=self.window, threshold=spec.threshold)

    def _paint_foreign(self, state: ServiceState, now: float) -> None:
        """A rollout another controller drives: its steps, analysis runs with every
        measurement, replicas and Events (console/view/foreign_detail.py)."""
        from console.view import foreign_detail as fd

        fr = state.foreign
        assert fr is not None
        title = Text()
        title.append(
            self.service, style=self.get_component_rich_style("detail--name", partial=True)
        )
        alert = fr.aborted or fr.phase == Phase.ROLLED_BACK
        phase_style = "detail--rolled-back" if alert else "detail--phase"
        head, *rest = fd.title_lines(fr)
        phase, _, tail = head.partition("  ")
        title.append(f"  {phase}", style=self.get_component_rich_style(phase_style, partial=True))
        title.append(f"  {tail}")
        for line in rest:
            title.append(f"\n{line}")
        if state.errors:
            note = self.get_component_rich_style("detail--note", partial=True)
            title.append(f"\n! {state.errors[0]}", style=note)
        self.query_one("#title", Static).update(title)
        self.query_one("#split", TrafficBar).show(fd.split_shares(fr))
        self.query_one("#timeline", TimelinePanel).show(fd.timeline(fr))
        self.query_one("#analysis", AnalysisView).show(fd.analysis_panel(fr))
        self.query_one("#health", HealthView).show(fd.health_rows(fr))
        lines = [*fd.measurement_lines(fr), *log_lines((), state.audit)]
        lines.sort(key=lambda line: line.at)
        self.query_one("#log", EventLog).show(lines[-200:])
        metrics = self.rollout_app.env.metrics is not None
        if metrics:  # requests and latency of the stable and canary versions
            self._paint_charts(state, now)
        queried = {k: (list(xs), list(ys)) for k, (xs, ys) in state.query_series.items()}
        what = "analysis query" if queried else "analysis measurements"
        self._paint_analysis_chart(queried or fd.measurement_series(fr), now, what, metrics)

    def _paint_analysis_chart(self, series: dict, now: float, what: str, metrics: bool) -> None:
        """The middle chart: the analysis' Prometheus query over time (asked of the
        environment's Prometheus, else of the analysis' own address), else the measurements
        the controller took; the others say there are no metrics when there are none."""
        from widgets.metric_chart import MetricChart

        window = window_label(self.window)
        for i in range(3):
            chart = self.query_one(f"#chart-{i}", MetricChart)
            if i == 1:
                chart.title = f"{what} · last {window}" if series else "no measurements yet"
                recent = {
                    name: ([x - now for x in xs], ys) for name, (xs, ys) in series.items()
                }  # seconds relative to now, as the live charts
                chart.show(recent, window=self.window, threshold=None)
            elif not metrics:
                chart.title = "no metrics for this environment"
                chart.show({}, window=self.window, threshold=None)

    def action_cycle_window(self) -> None:
        index = (self.window_index + 1) % len(WINDOWS)
        self.rollout_app.flash(f"chart window {window_label(WINDOWS[index])}")
        self.window_index = index
