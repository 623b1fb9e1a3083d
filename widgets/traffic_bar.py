"""Traffic split bar: per version, the weight the router was given and the share measured."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

from console.view.detail import SplitShare
from console.view.overview import fmt_pct

# Distinct bar glyph per version position, so the split reads without colour (NO_COLOR).
_GLYPHS = ("█", "▓", "▒", "░")
_COLOURS = ("green", "magenta", "cyan", "yellow")


class TrafficBar(Widget):
    """One line per version: a bar of its set weight, then 'set N%  measured M%'."""

    DEFAULT_CSS = """
    TrafficBar { height: auto; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._shares: tuple[SplitShare, ...] = ()

    def show(self, shares: Sequence[SplitShare]) -> None:
        """Replace the data; repaints only when it changed."""
        new = tuple(shares)
        if new != self._shares:
            self._shares = new
            self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._shares))

    def render(self) -> Text:
        if not self._shares:
            return Text("no traffic data", style="dim")
        width = max(10, self.size.width)
        label_w = max(len(s.version) for s in self._shares)
        bar_w = max(5, width - label_w - 29)
        out = Text()
        for i, s in enumerate(self._shares):
            glyph, colour = _GLYPHS[i % len(_GLYPHS)], _COLOURS[i % len(_COLOURS)]
            filled = round(bar_w * s.set_weight / 100)
            out.append(f"{s.version:<{label_w}} ")
            out.append(glyph * filled, style=colour)
            out.append("·" * (bar_w - filled), style="dim")
            out.append(f" set {s.set_weight:>3}%  measured {fmt_pct(s.measured):>6}")
            if i < len(self._shares) - 1:
                out.append("\n")
        return out
