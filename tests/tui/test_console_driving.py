"""The console as a driver: the lease after a rollout ends, the reply to its own commands, and
the rollback notification after a retry."""

from __future__ import annotations

from typing import Any

from backends.base import Phase
from tests.support.pilot import header_line, settle
from tests.support.records import canary_record, set_phase

SIZE = (100, 30)
HOLDER = "tester@host:console:1"


class LeaseDriver:
    """A driver that holds the real file store's lease like console.driver.loop.Driver does
    (taken or renewed on every tick, released by close) and returns the stored record."""

    def __init__(self, env: Any, service: str) -> None:
        self.store = env.store
        self.service = service
        self.driving = False
        self.ticks = 0

    def begin(self, plan: Any) -> Any:
        raise AssertionError("not started from a plan here")

    def tick(self) -> Any:
        self.ticks += 1
        take = self.store.renew if self.driving else self.store.acquire_lease
        self.driving = take(self.service, HOLDER, 10.0)
        return self.store.load(self.service) if self.driving else None

    def close(self) -> None:
        if self.driving:
            self.store.release(self.service, HOLDER)
            self.driving = False


async def drive_courses(pilot: Any, app: Any, drivers: dict[str, LeaseDriver]) -> LeaseDriver:
    """Open the detail of courses (its lease is free): the console drives it."""
    assert await settle(pilot, lambda: app.snapshot is not None and app.snapshot.services)
    await pilot.press("enter")
    assert await settle(pilot, lambda: "courses" in drivers and drivers["courses"].driving)
    assert await settle(pilot, lambda: "driving" in header_line(app), tries=60)
    return drivers["courses"]


async def test_the_lease_is_released_and_the_header_says_viewing_once_the_rollout_ends(
    make_app: Any, env_parts: Any
) -> None:
    # The header said "driving courses" until quit after a Completed rollout, and the
    # console kept renewing the lease, so `rollout auto` of the next release was refused.
    env, _ = env_parts
    drivers: dict[str, LeaseDriver] = {}
    app = make_app(driver_factory=lambda s: drivers.setdefault(s, LeaseDriver(env, s)))
    async with app.run_test(size=SIZE) as pilot:
        driver = await drive_courses(pilot, app, drivers)
        assert env.store.lease("courses").holder == HOLDER
        set_phase(env, Phase.COMPLETED, message="v2 takes 100%")
        assert await settle(pilot, lambda: env.store.lease("courses") is None, tries=80)
        assert await settle(pilot, lambda: "viewing" in header_line(app), tries=60)
        assert "driving" not in header_line(app)
        await pilot.press("escape")
        assert await settle(pilot, lambda: "viewing" in header_line(app), tries=40)
        ticks = driver.ticks
        await pilot.pause(1.5)  # a parked driver is not ticked: it would take the lease again
        assert driver.ticks == ticks and env.store.lease("courses") is None


async def test_retry_after_the_end_drives_again_and_the_reply_names_this_console(
    make_app: Any, env_parts: Any, recorder: Any
) -> None:
    env, _ = env_parts
    drivers: dict[str, LeaseDriver] = {}
    app = make_app(driver_factory=lambda s: drivers.setdefault(s, LeaseDriver(env, s)))
    async with app.run_test(size=SIZE) as pilot:
        driver = await drive_courses(pilot, app, drivers)
        await pilot.press("p")  # this console drives courses: the sender is told so
        assert await settle(pilot, lambda: recorder.sent == [("courses", "pause")])
        assert recorder.caller_drives == [True]
        set_phase(env, Phase.ABORTED, message="aborted by tester")
        assert await settle(pilot, lambda: env.store.lease("courses") is None, tries=80)
        assert await settle(
            pilot,
            lambda: "aborted" in str(app.screen.query_one("#title").render()).lower(),
            tries=40,
        )
        ticks = driver.ticks
        await pilot.press("R")
        assert await settle(pilot, lambda: ("courses", "retry") in recorder.sent)
        assert recorder.caller_drives[-1] is True
        # The parked driver ticks again: it takes the lease to apply the retry.
        assert await settle(pilot, lambda: driver.ticks > ticks, tries=60)
        set_phase(env, Phase.PROGRESSING)  # what the retry does (the recorder applies nothing)
        assert await settle(
            pilot, lambda: driver.driving and "driving" in header_line(app), tries=60
        )
        assert env.store.lease("courses").holder == HOLDER


async def test_a_viewer_is_not_told_it_drives(make_app: Any, env_parts: Any, recorder: Any) -> None:
    env, _ = env_parts
    assert env.store.acquire_lease("courses", "bob@elsewhere:auto:7", 60.0)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert await settle(pilot, lambda: app.snapshot is not None and app.snapshot.services)
        await pilot.press("p")
        assert await settle(pilot, lambda: recorder.sent == [("courses", "pause")])
        assert recorder.caller_drives == [False]


def test_send_command_reply_when_the_caller_is_the_driver(env_parts: Any) -> None:
    from console.driver.send import send_command

    env, _ = env_parts
    assert env.store.acquire_lease("courses", "root@vm:console:42", 60.0)
    mine = send_command(env, "courses", "pause", user="root", caller_drives=True)
    assert mine == "pause posted; this console drives courses and applies it on its next tick"
    theirs = send_command(env, "courses", "pause", user="root")
    assert "the driver (" in theirs and "within ~1 s" in theirs
    # Applied here and now (the lease was free): no "no driver is running" when the caller
    # is the console that drives it from its next tick on.
    env.store.save(canary_record("enrollments", phase=Phase.ABORTED), 0)
    applied = send_command(env, "enrollments", "retry", user="root", caller_drives=True)
    assert applied.startswith("retried") and "no driver is running" not in applied
    assert not env.store.load("enrollments").phase.terminal


async def test_the_rollback_notification_goes_when_the_rollout_runs_again(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    env, _ = env_parts
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.bell = lambda: None  # type: ignore[method-assign]
        assert await settle(pilot, lambda: app.snapshot is not None and app.snapshot.services)
        set_phase(env, Phase.ROLLED_BACK, message="error-rate 0.3 > max 0.05 -> rolled back")
        assert await settle(
            pilot, lambda: any("ROLLED BACK" in n.message for n in app._notifications)
        )
        # Retried (here or from anywhere): the rollout is Progressing again.
        set_phase(env, Phase.PROGRESSING, message="step 1/5: set weight 10%")
        assert await settle(
            pilot, lambda: not any("ROLLED BACK" in n.message for n in app._notifications)
        )
        assert not app.screen.query_one("#banner").display
        # A second rollback alerts again.
        set_phase(env, Phase.ROLLED_BACK, message="latency-p99 0.9 > max 0.25 -> rolled back")
        assert await settle(pilot, lambda: any("latency" in n.message for n in app._notifications))
