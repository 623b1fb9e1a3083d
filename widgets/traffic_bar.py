"""Traffic split bar: per version, the weight the router was given and the share measured."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from console.view.detail import SplitShare
from console.view.overview import fmt_pct

# Distinct bar glyph per version position, so the split reads without colour (NO_COLOR).
_GLYPHS = ("█", "▓", "▒", "░")
# The colour of each version position: component classes, so a theme can restyle them.
_VERSION_CLASSES = tuple(f"traffic-bar--version-{i}" for i in range(len(_GLYPHS)))


class TrafficBar(Widget):
    """One line per version: a bar of its set weight, then 'set N%  measured M%'."""

    DEFAULT_CSS = """
    TrafficBar { height: auto; }
    TrafficBar > .traffic-bar--version-0 { color: ansi_green; }
    TrafficBar > .traffic-bar--version-1 { color: ansi_magenta; }
    TrafficBar > .traffic-bar--version-2 { color: ansi_cyan; }
    TrafficBar > .traffic-bar--version-3 { color: ansi_yellow; }
    TrafficBar > .traffic-bar--dim { text-style: dim; }
    """
    COMPONENT_CLASSES = {*_VERSION_CLASSES, "traffic-bar--dim"}

    # One line per version, hence layout: a version more or less changes the height.
    shares: reactive[tuple[SplitShare, ...]] = reactive((), layout=True)

    def show(self, shares: Sequence[SplitShare]) -> None:
        self.shares = tuple(shares)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self.shares))

    def render(self) -> Text:
        shares = self.shares
        dim = self.get_component_rich_style("traffic-bar--dim", partial=True)
        if not shares:
            return Text("no traffic data", style=dim)
        width = max(10, self.size.width)
        label_w = max(len(s.version) for s in shares)
        bar_w = max(5, width - label_w - 29)
        out = Text()
        for i, s in enumerate(shares):
            glyph = _GLYPHS[i % len(_GLYPHS)]
            colour = self.get_component_rich_style(
                _VERSION_CLASSES[i % len(_VERSION_CLASSES)], partial=True
            )
            filled = round(bar_w * s.set_weight / 100)
            out.append(f"{s.version:<{label_w}} ")
            out.append(glyph * filled, style=colour)
            out.append("·" * (bar_w - filled), style=dim)
            out.append(f" set {s.set_weight:>3}%  measured {fmt_pct(s.measured):>6}")
            if i < len(shares) - 1:
                out.append("\n")
        return out
