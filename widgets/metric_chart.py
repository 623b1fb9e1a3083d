"""A live line chart of one metric per version, with an optional threshold line.

Each chart owns its plot through ``self.plt`` (never the module-global plotext), and redraws
only when ``show`` is given data that differs from what is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual_plotext import PlotextPlot

Series = tuple[Sequence[float], Sequence[float]]


class MetricChart(PlotextPlot):
    """Lines per label (e.g. 'v2 p99') over seconds before now; threshold drawn dashed."""

    DEFAULT_CSS = """
    MetricChart { height: 10; min-width: 30; }
    """

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self._drawn: object = None

    def show(
        self, series: Mapping[str, Series], *, window: float, threshold: float | None = None
    ) -> None:
        """Replot if the data changed: clear, plot each series, draw the threshold, refresh."""
        key = (
            tuple((k, tuple(x), tuple(y)) for k, (x, y) in series.items()),
            window,
            threshold,
        )
        if key == self._drawn:
            return
        self._drawn = key
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        plt.xlim(-window, 0)
        plt.xlabel("seconds ago")
        plotted = False
        for label, (xs, ys) in series.items():
            if xs:
                plt.plot(list(xs), list(ys), label=label, marker="braille")
                plotted = True
        if threshold is not None:
            plt.hline(threshold, "red")
        if not plotted:
            plt.text("no data", 0 - window / 2, 0)
        self.refresh()
