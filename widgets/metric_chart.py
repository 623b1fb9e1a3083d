"""A live line chart of one metric per version, with an optional threshold line.

Each chart owns its plot through ``self.plt`` (never the module-global plotext). What it shows
is one reactive value, ``figure``: setting an equal one does nothing, a different one replots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from textual.reactive import reactive
from textual_plotext import PlotextPlot

Series = tuple[Sequence[float], Sequence[float]]


@dataclass(frozen=True)
class Figure:
    """A chart's content: title, (label, xs, ys) lines, the x window, the threshold."""

    title: str
    lines: tuple[tuple[str, tuple[float, ...], tuple[float, ...]], ...]
    window: float
    threshold: float | None = None


class MetricChart(PlotextPlot):
    """Lines per label (e.g. 'v2 p99') over seconds before now; threshold drawn dashed."""

    DEFAULT_CSS = """
    MetricChart { height: 10; min-width: 30; }
    """

    figure: reactive[Figure | None] = reactive(None)

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title

    def show(
        self, series: Mapping[str, Series], *, window: float, threshold: float | None = None
    ) -> None:
        """Show these lines under the current ``title``; replots only if anything differs."""
        lines = tuple((label, tuple(xs), tuple(ys)) for label, (xs, ys) in series.items())
        self.figure = Figure(self.title, lines, window, threshold)

    def watch_figure(self, figure: Figure | None) -> None:
        """Replot: clear, plot each line, draw the threshold (the reactive then refreshes)."""
        if figure is None:
            return
        window = figure.window
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(figure.title)
        plt.xlim(-window, 0)
        plt.xlabel("seconds ago")
        plotted = False
        for label, xs, ys in figure.lines:
            if xs:
                plt.plot(list(xs), list(ys), label=label, marker="braille")
                plotted = True
        if figure.threshold is not None:
            plt.hline(figure.threshold, "red")
        if not plotted:
            plt.text("no data", 0 - window / 2, 0)
