"""Unguarded rollouts in the console: red everywhere, the bell once, the webhook marker, `D`
to drive one from here, `--standby` taking over, and a breach held by `onFailure: pause`
alerting like a rollback."""

from __future__ import annotations

from typing import Any

from backends.base import Phase
from console.analysis.verdicts import Measurement, MetricVerdict, Status
from console.engine.state import AnalysisState, EngineState, Pause
from console.tui.screens.detail import DetailScreen
from console.tui.screens.dialogs import ConfirmDialog
from tests.support.pilot import flash_text, ready, settle
from tests.support.records import canary_record

SIZE = (100, 30)


def banner(app: Any) -> str:
    return str(app.screen.query_one("#banner").render())


def abandoned(env: Any, clock: Any, **kw: Any) -> None:
    """Replace the courses rollout with one whose driver wrote last 30 s ago and holds no
    lease: v2 takes 10 % and nobody would revert a breach."""
    current = env.store.load("courses")
    env.store.save(canary_record(updated_at=clock.now - 30, **kw), current.revision)


async def test_unguarded_rollout_is_red_rings_once_and_is_reported(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    env, _ = env_parts
    abandoned(env, clock)
    app = make_app()
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        assert await settle(pilot, lambda: "UNGUARDED" in banner(app))
        assert "courses since" in banner(app) and "D drives it from here" in banner(app)
        assert "UNGUARDED: courses" in flash_text(app)
        table = app.screen.query_one("#services")
        row = [str(c) for c in table.get_row("courses")]
        assert "UNGUARDED" in row[1]
        assert any(c.startswith("UNGUARDED since") for c in row)  # the driver column
        # Reported once through the store: the first noticer marks the record.
        assert await settle(
            pilot, lambda: any(e.kind == "unguarded" for e in env.store.load("courses").events)
        )
        for _ in range(3):  # more polls of the same stretch: no second bell
            await pilot.pause(0.4)
        assert bells == [1]
        marks = [e for e in env.store.load("courses").events if e.kind == "unguarded"]
        assert len(marks) == 1 and "tester@host" in str(marks[0].data.get("noticed_by"))


async def test_a_rollout_within_its_drivers_lease_is_not_unguarded(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    env, _ = env_parts
    abandoned(env, clock)
    assert env.store.acquire_lease("courses", "bob@ops:auto:42", 60.0)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.pause(0.5)
        assert "UNGUARDED" not in banner(app)
        assert not any(e.kind == "unguarded" for e in env.store.load("courses").events)


async def test_detail_marks_the_dead_drivers_last_measurement_with_its_age(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    env, _ = env_parts
    ok = MetricVerdict("error-rate", "v2", 0.0, None, 0.05, Status.SUCCESSFUL, "error-rate 0")
    last = Measurement(clock.now - 12, "v2", Status.SUCCESSFUL, "all metrics pass", (ok,), 40)
    engine = EngineState(sub="steps", analysis=AnalysisState(stage="steps", last=last))
    abandoned(env, clock, engine=engine.to_dict())
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        analysis = app.screen.query_one("#analysis")
        assert await settle(pilot, lambda: "no driver" in str(analysis.render()))
        text = str(analysis.render())
        assert "12 s ago, no driver" in text
        measured = next(line for line in text.splitlines() if "error-rate" in line)
        assert measured.startswith("?")  # the dead driver's pass is not shown as a fresh ✓
        assert "UNGUARDED" in text


async def test_D_asks_then_drives_the_unguarded_rollout_here(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    env, _ = env_parts
    abandoned(env, clock)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("D")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await pilot.pause(0.1)
        assert not app.drivers.drives("courses") and "courses" not in app.drivers
        await pilot.press("D", "y")
        assert await settle(pilot, lambda: "courses" in app.drivers)
        assert "driving courses from this console" in flash_text(app)


async def test_D_is_refused_read_only_and_while_another_driver_holds_it(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    env, _ = env_parts
    abandoned(env, clock)
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("D")
        assert not isinstance(app.screen, ConfirmDialog)
        assert "read-only" in flash_text(app)
        assert "D drives" not in banner(app)
    assert env.store.acquire_lease("courses", "bob@ops:auto:42", 60.0)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("D")
        assert not isinstance(app.screen, ConfirmDialog)
        assert "driven by bob@ops:auto:42" in flash_text(app)


async def test_a_standby_console_takes_over_by_itself(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    env, _ = env_parts
    app = make_app(standby=True)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.pause(0.3)
        assert "courses" not in app.drivers  # within its driver's lease: nothing to do
        abandoned(env, clock)
        assert await settle(pilot, lambda: "courses" in app.drivers)
        assert "standby: driving courses" in flash_text(app)


async def test_a_breach_held_by_onfailure_pause_alerts_like_a_rollback(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    env, _ = env_parts
    app = make_app()
    bells: list[int] = []
    async with app.run_test(size=SIZE) as pilot:
        app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
        await ready(pilot, app)
        reason = "error-rate 0.31 > max 0.05 on v2 (1/1 failures) -> paused"
        pause = Pause("breach", reason, clock.now, "engine")
        current = env.store.load("courses")
        env.store.save(
            canary_record(
                phase=Phase.PAUSED,
                message=reason,
                updated_at=clock.now,
                engine=EngineState(sub="steps", pause=pause).to_dict(),
            ),
            current.revision,
        )
        assert await settle(pilot, lambda: "PAUSED ON BREACH courses" in banner(app))
        assert bells == [1]
        assert "courses PAUSED ON BREACH: error-rate 0.31" in flash_text(app)
        assert any("PAUSED ON BREACH" in n.message for n in app._notifications)


async def test_one_unreadable_poll_does_not_raise_the_rollback_alert_again(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    from backends.base import BackendError

    env, _ = env_parts
    app = make_app()
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        current = env.store.load("courses")
        reason = "error-rate 0.31 > max 0.05 on v2 (2/2 failures) -> rolled back"
        env.store.save(
            canary_record(phase=Phase.ROLLED_BACK, message=reason, updated_at=clock.now),
            current.revision,
        )
        assert await settle(pilot, lambda: bells == [1])
        real_load, failed = env.store.load, []

        def flaky(service: str) -> Any:
            if service == "courses" and not failed:
                failed.append(service)
                raise BackendError("timed out")
            return real_load(service)

        env.store.load = flaky
        assert await settle(pilot, lambda: failed)
        for _ in range(4):  # the polls after the failed one see the same rollback
            await pilot.pause(0.4)
        assert bells == [1]
        assert sum("ROLLED BACK" in n.message for n in app._notifications) == 1


async def test_D_wakes_this_consoles_own_parked_driver(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    env, _ = env_parts
    abandoned(env, clock)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        state = app.service_state("courses")
        assert app.drivers.adopt("courses", state.record, state.lease, clock.now)
        app.drivers.close_all()  # parked here: in the pool, not driving
        assert "courses" in app.drivers and not app.drivers.drives("courses")
        await pilot.press("D", "y")
        assert await settle(pilot, lambda: "driving courses from this console" in flash_text(app))
        assert "another driver took it first" not in flash_text(app)
