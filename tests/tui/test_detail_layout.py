"""The detail screen's arrangement: at 80x24 the split, the analysis and the candidate's error
and latency charts are on the first screenful; wide, every version's charts side by side."""

from __future__ import annotations

from typing import Any

from textual.geometry import Region

from console.tui.screens.detail import DetailScreen
from tests.support.pilot import settle


async def open_detail(pilot: Any, app: Any) -> DetailScreen:
    """Open courses (a canary v1 -> v2) and wait for its chart history."""
    assert await settle(pilot, lambda: app.snapshot is not None and app.snapshot.services)
    await pilot.press("enter")
    assert await settle(pilot, lambda: isinstance(app.screen, DetailScreen))
    assert await settle(
        pilot, lambda: len(app.buffer.series("courses", "v2", "p99", 900, app.clock())[0]) > 100
    )
    await pilot.pause(0.2)
    return app.screen


def figure_lines(screen: DetailScreen, selector: str) -> list[tuple[str, int]]:
    """(label, points) of each line a chart plots now."""
    figure = screen.query_one(selector).figure
    assert figure is not None
    return [(label, len(xs)) for label, xs, _ in figure.lines]


async def test_at_80x24_the_first_screenful_has_split_analysis_and_candidate_charts(
    make_app: Any,
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_detail(pilot, app)
        assert screen.query_one("#body").scroll_offset.y == 0
        # Between the flash line and the key bar, nothing scrolled.
        keys = screen.query_one("#keys").region
        room = Region(0, 0, 80, keys.y)
        for selector in ("#split", "#analysis", "#chart-1", "#chart-2"):
            region = screen.query_one(selector).region
            assert region.width > 0 and region.height > 0, selector
            assert room.contains_region(region), (selector, region, room)
        for selector in ("#chart-1", "#chart-2"):
            assert screen.query_one(selector).region.height >= 7  # a plot, not a sliver
        assert "error-rate" in str(screen.query_one("#analysis").render())
        # The glance's charts are the candidate's alone: its version in the title.
        error, latency = screen.query_one("#chart-1"), screen.query_one("#chart-2")
        assert error.figure.title == "v2 error ratio · last 1m"
        assert latency.figure.title == "v2 latency ms · last 1m"
        assert [label for label, n in figure_lines(screen, "#chart-1") if n] == ["v2"]
        assert [label for label, n in figure_lines(screen, "#chart-2") if n] == [
            "p50",
            "p95",
            "p99",
        ]
        assert error.figure.threshold == 0.05  # the plan's max, drawn as a line
        # Further down: steps, and the request rate of every version.
        assert {label for label, n in figure_lines(screen, "#chart-0") if n} == {"v1", "v2"}
        assert screen.query_one("#timeline").region.y >= keys.y


async def test_crossing_120_columns_rearranges_the_detail_and_keeps_its_data(
    make_app: Any,
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_detail(pilot, app)
        assert screen.query("#glance")
        await pilot.resize_terminal(160, 48)
        assert await settle(pilot, lambda: bool(screen.query("#charts")))
        assert not screen.query("#glance") and screen.has_class("wide")
        await pilot.pause(0.2)
        # Every version on every chart, side by side in one row.
        charts = [screen.query_one(f"#chart-{i}") for i in range(3)]
        assert len({c.region.y for c in charts}) == 1
        assert {label for label, n in figure_lines(screen, "#chart-1") if n} == {"v1", "v2"}
        assert "Progressing" in str(screen.query_one("#title").render())
        assert "error-rate" in str(screen.query_one("#analysis").render())
        await pilot.resize_terminal(80, 24)
        assert await settle(pilot, lambda: bool(screen.query("#glance")))
        await pilot.pause(0.2)
        assert [label for label, n in figure_lines(screen, "#chart-1") if n] == ["v2"]
        assert screen.query_one("#body").has_focus  # keys still scroll the body
