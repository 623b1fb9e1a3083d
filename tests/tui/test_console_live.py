"""Live data: stale backends, the rollback alert, the real command path, the chart buffer."""

from __future__ import annotations

from typing import Any

from backends.base import Phase
from console.tui.screens.detail import DetailScreen
from console.tui.screens.overview import OverviewScreen
from tests.support.pilot import header_line, ready, settle
from tests.support.records import canary_record

SIZE = (80, 24)


async def test_dead_backend_shows_stale_and_keys_still_work(
    make_app: Any, env_parts: Any, clock: Any, recorder: Any
) -> None:
    _env, switch = env_parts
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        switch.dead = True
        clock.now += 7
        # At least one poll and one repaint; bounded, however slow the machine.
        assert await settle(pilot, lambda: "stale 7s" in header_line(app), tries=100)
        assert "connection refused" in header_line(app)
        table = app.screen.query_one("#services")
        assert table.row_count == 3  # the last data stays on screen
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        switch.dead = False
        clock.now += 1
        assert await settle(pilot, lambda: "stale" not in header_line(app), tries=60)


async def test_hanging_backend_shows_stale_without_freezing_input(
    make_app: Any, env_parts: Any, clock: Any, recorder: Any
) -> None:
    _env, switch = env_parts
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        switch.hang()
        try:
            # The next poll gets stuck inside the backend; the repaint still says how old
            # the last data is (bounded waits, however slow the machine).
            assert await settle(pilot, lambda: app._poll.busy, tries=100)
            clock.now += 9
            assert await settle(pilot, lambda: "stale 9s" in header_line(app), tries=100)
            assert app._poll.busy  # still stuck, and no second poll was started
            await pilot.press("a")  # the UI thread answers keys while the poll hangs
            assert await settle(pilot, lambda: recorder.sent == [("courses", "promote")])
            await pilot.press("question_mark", "escape", "o")
            assert app.screen.sort_key == "phase"
        finally:
            switch.release.set()


async def test_rollback_raises_banner_notification_and_bell(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    env, _ = env_parts
    app = make_app()
    bells: list[int] = []
    async with app.run_test(size=SIZE) as pilot:
        app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
        await ready(pilot, app)
        rec = env.store.load("courses")
        reason = "error-rate 0.31 > max 0.05 on v2 (2/2 failures) -> rolled back"
        env.store.save(
            canary_record(phase=Phase.ROLLED_BACK, message=reason, updated_at=clock.now),
            rec.revision,
        )
        assert await settle(pilot, lambda: bells)
        await pilot.pause(1.1)
        banner = app.screen.query_one("#banner")
        assert banner.display
        assert f"ROLLED BACK courses: {reason}" in str(banner.render())
        notes = [n for n in app._notifications]
        assert any(n.severity == "error" and reason in n.message for n in notes)
        assert len(bells) == 1  # once per rollback, not once per poll
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert "ROLLED BACK courses" in str(app.screen.query_one("#banner").render())


async def test_commands_go_through_the_store_to_the_engine(make_app: Any, env_parts: Any) -> None:
    """The real console.driver.send.send_command: no driver holds the lease, so it applies now."""
    env, _ = env_parts
    env.store.save(
        canary_record(phase=Phase.PAUSED, step=3, message="waiting for promote"),
        env.store.load("courses").revision,
    )
    app = make_app(sender=None)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("r", "y")
        assert await settle(pilot, lambda: env.store.load("courses").phase.terminal, tries=100)
        rec = env.store.load("courses")
        assert rec.phase == Phase.ABORTED
        audit = env.store.read_audit("courses")
        assert any(a.action == "abort" and "roll back from the console" in a.reason for a in audit)
        assert env.traffic.splits["courses"] == {"v1": 100, "v2": 0}


async def test_detail_fills_charts_from_history_and_live_samples(make_app: Any, clock: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("enter")
        assert await settle(
            pilot, lambda: len(app.buffer.series("courses", "v2", "p99", 900, clock.now)[0]) > 100
        )
        xs, ys = app.buffer.series("courses", "v2", "request_rate", 60, clock.now)
        assert xs and min(xs) >= -60 and max(xs) <= 0 and set(ys) == {10.0}
