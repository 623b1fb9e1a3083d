"""DriverPool: who drives after adopt and start, release and park when a rollout ends, wake on
retry or start, and the wake count that keeps a retry posted mid-tick from being parked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from backends.base import Lease, Phase, RolloutRecord, Strategy
from console.driver.pool import DriverPool, free_for

HOLDER = "me@host:console:1"
NOW = 1_000.0


def record(phase: Phase = Phase.PROGRESSING, service: str = "courses") -> RolloutRecord:
    return RolloutRecord(service, Strategy.CANARY, "v1", "v2", phase, plan={})


def lease(holder: str = "bob@ops:auto:7", expires_at: float = NOW + 10) -> Lease:
    return Lease("courses", holder, expires_at)


class FakeDriver:
    """Takes the lease on its first tick and returns ``self.record``; ``on_tick`` runs inside
    the tick (to act as the UI thread would meanwhile)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.record: RolloutRecord | None = record(service=service)
        self.driving = False
        self.ticks = 0
        self.closes = 0
        self.begun: list[Any] = []
        self.on_tick: Callable[[], None] | None = None
        self.fail: Exception | None = None

    def begin(self, plan: Any) -> RolloutRecord:
        if self.fail is not None:
            raise self.fail
        self.begun.append(plan)
        self.driving = True
        self.record = record(service=self.service)
        return self.record

    def tick(self) -> RolloutRecord | None:
        self.ticks += 1
        if self.fail is not None:
            raise self.fail
        if self.on_tick is not None:
            self.on_tick()
        self.driving = True
        return self.record

    def close(self) -> None:
        self.closes += 1
        self.driving = False


class Factory:
    def __init__(self) -> None:
        self.made: dict[str, FakeDriver] = {}

    def __call__(self, service: str) -> FakeDriver:
        assert service not in self.made, "one driver per service"
        self.made[service] = FakeDriver(service)
        return self.made[service]


@pytest.fixture
def factory() -> Factory:
    return Factory()


@pytest.fixture
def pool(factory: Factory) -> DriverPool:
    return DriverPool(factory, HOLDER)


def driven(pool: DriverPool, factory: Factory, service: str = "courses") -> FakeDriver:
    """A pool that drives ``service`` after one tick."""
    assert pool.adopt(service, record(service=service), None, NOW)
    pool.tick_all()
    driver = factory.made[service]
    assert driver.driving and service in pool.driving_services()
    return driver


def end(pool: DriverPool, driver: FakeDriver, phase: Phase = Phase.COMPLETED) -> None:
    driver.record = record(phase)
    pool.tick_all()


# ---------------------------------------------------------------------------- adopt


def test_a_live_rollout_with_a_free_lease_is_driven_from_the_next_tick(
    pool: DriverPool, factory: Factory
) -> None:
    assert pool.adopt("courses", record(), None, NOW)
    driver = factory.made["courses"]
    assert list(pool) == ["courses"] and pool["courses"] is driver
    assert not pool.drives("courses")  # made, not yet ticked
    assert pool.tick_all() == []
    assert driver.ticks == 1 and pool.drives("courses")
    assert pool.driving_services() == ["courses"]


@pytest.mark.parametrize(
    ("held", "adopted"),
    [
        (lease(), False),  # another driver holds it
        (lease(expires_at=NOW), True),  # expired
        (lease(holder=HOLDER), True),  # ours already
        (None, True),
    ],
)
def test_adopt_only_when_nobody_else_holds_the_lease(
    pool: DriverPool, factory: Factory, held: Lease | None, adopted: bool
) -> None:
    assert pool.adopt("courses", record(), held, NOW) is adopted
    assert ("courses" in factory.made) is adopted and ("courses" in pool) is adopted


def test_adopt_needs_a_live_rollout_unless_forced(pool: DriverPool, factory: Factory) -> None:
    assert not pool.adopt("courses", None, None, NOW)
    assert not pool.adopt("courses", record(Phase.ABORTED), None, NOW)
    assert factory.made == {}
    assert pool.adopt("courses", record(Phase.ABORTED), None, NOW, force=True)
    assert not pool.adopt("courses", record(), None, NOW)  # one driver per service
    assert len(pool) == 1


def test_factory_errors_reach_the_caller_and_add_nothing() -> None:
    def no_store(service: str) -> FakeDriver:
        raise RuntimeError("no store")

    broken = DriverPool(no_store, HOLDER)
    with pytest.raises(RuntimeError, match="no store"):
        broken.adopt("courses", record(), None, NOW)
    assert len(broken) == 0


# ---------------------------------------------------------------------------- end and park


def test_when_the_rollout_ends_the_lease_is_released_and_the_driver_parked(
    pool: DriverPool, factory: Factory
) -> None:
    driver = driven(pool, factory)
    end(pool, driver)
    assert driver.closes == 1 and not driver.driving
    assert pool.parked("courses") and pool.driving_services() == []
    ticks = driver.ticks
    pool.tick_all()
    pool.tick_all()
    assert driver.ticks == ticks  # parked: not ticked, so it does not take the lease again
    assert "courses" in pool  # kept for a retry


def test_a_viewer_that_sees_the_end_is_neither_closed_nor_parked(
    pool: DriverPool, factory: Factory
) -> None:
    assert pool.adopt("courses", record(), None, NOW)
    driver = factory.made["courses"]
    driver.record = record(Phase.ROLLED_BACK)

    def tick_as_viewer() -> RolloutRecord | None:
        driver.ticks += 1
        return driver.record  # another process holds the lease: driving stays False

    driver.tick = tick_as_viewer  # type: ignore[method-assign]
    pool.tick_all()
    assert driver.closes == 0 and not pool.parked("courses")


def test_a_wake_during_the_tick_that_saw_the_end_keeps_the_driver_ticking(
    pool: DriverPool, factory: Factory
) -> None:
    driver = driven(pool, factory)
    driver.on_tick = lambda: pool.wake("courses")  # a retry posted while the tick ran
    end(pool, driver, Phase.ROLLED_BACK)
    assert driver.closes == 1  # the lease is released all the same
    assert not pool.parked("courses")
    driver.on_tick = None
    driver.record = record()  # the retry applied
    ticks = driver.ticks
    pool.tick_all()
    assert driver.ticks == ticks + 1 and pool.drives("courses")


def test_a_wake_without_unpark_only_keeps_a_tick_under_way_from_parking(
    pool: DriverPool, factory: Factory
) -> None:
    driver = driven(pool, factory)
    driver.on_tick = lambda: pool.wake("courses", unpark=False)
    end(pool, driver)
    assert not pool.parked("courses")
    driver.on_tick = None
    end(pool, driver)  # the next tick sees it ended again: nothing woke it since
    assert pool.parked("courses")
    pool.wake("courses", unpark=False)
    assert pool.parked("courses")  # an already parked driver stays so


# ---------------------------------------------------------------------------- wake


def test_a_retry_drives_the_parked_driver_again(pool: DriverPool, factory: Factory) -> None:
    driver = driven(pool, factory)
    end(pool, driver, Phase.ABORTED)
    pool.drive_again("courses", record(Phase.ABORTED), None, NOW)
    assert not pool.parked("courses") and factory.made == {"courses": driver}
    driver.record = record()  # the next tick takes the lease and applies the retry
    pool.tick_all()
    assert pool.drives("courses")


def test_a_retry_of_a_rollout_nobody_here_drove_makes_a_driver(
    pool: DriverPool, factory: Factory
) -> None:
    pool.drive_again("courses", record(Phase.ROLLED_BACK), None, NOW)
    assert "courses" in factory.made
    pool.tick_all()
    assert pool.drives("courses")


def test_a_retry_while_another_driver_holds_the_lease_makes_no_driver(
    pool: DriverPool, factory: Factory
) -> None:
    pool.drive_again("courses", record(Phase.ROLLED_BACK), lease(), NOW)
    assert factory.made == {}


@pytest.mark.parametrize(
    ("phase", "held", "woken"),
    [
        (Phase.PROGRESSING, None, True),  # retried or restarted elsewhere, lease free
        (Phase.PROGRESSING, lease(expires_at=NOW), True),
        (Phase.PROGRESSING, lease(), False),  # someone else drives it now
        (Phase.COMPLETED, None, False),  # still over
    ],
)
def test_a_parked_driver_follows_its_rollout_when_it_runs_again(
    pool: DriverPool, factory: Factory, phase: Phase, held: Lease | None, woken: bool
) -> None:
    driver = driven(pool, factory)
    end(pool, driver)
    pool.follow("courses", record(phase), held, NOW)
    assert pool.parked("courses") is not woken


def test_follow_leaves_unknown_and_ticking_services_alone(
    pool: DriverPool, factory: Factory
) -> None:
    pool.follow("grades", record(), None, NOW)
    assert "grades" not in pool
    driver = driven(pool, factory)
    pool.follow("courses", record(), None, NOW)
    assert not pool.parked("courses") and driver.ticks == 1


# ---------------------------------------------------------------------------- start


def test_start_makes_a_driver_that_ticks_from_then_on(pool: DriverPool, factory: Factory) -> None:
    driver, rec = pool.begin("courses", "plan")  # type: ignore[arg-type]
    assert driver is factory.made["courses"] and driver.begun == ["plan"]
    assert rec.phase == Phase.PROGRESSING
    pool.tick_all()
    assert driver.ticks == 1 and pool.driving_services() == ["courses"]


def test_start_after_the_end_reuses_the_parked_driver(pool: DriverPool, factory: Factory) -> None:
    driver = driven(pool, factory)
    end(pool, driver)
    pool.wake("courses", unpark=False)  # as the console does before begin() runs
    assert pool.parked("courses")  # not ticked while begin() runs on it
    again, _ = pool.begin("courses", "next")  # type: ignore[arg-type]
    assert again is driver and not pool.parked("courses")
    ticks = driver.ticks
    pool.tick_all()
    assert driver.ticks == ticks + 1


def test_a_start_that_fails_adds_no_driver() -> None:
    broken = FakeDriver("courses")
    broken.fail = RuntimeError("plan refused")
    failing = DriverPool(lambda service: broken, HOLDER)
    with pytest.raises(RuntimeError, match="plan refused"):
        failing.begin("courses", "plan")  # type: ignore[arg-type]
    assert len(failing) == 0


# ---------------------------------------------------------------------------- errors, quit


def test_a_failing_tick_is_reported_and_the_others_still_tick(
    pool: DriverPool, factory: Factory
) -> None:
    pool.adopt("courses", record(), None, NOW)
    pool.adopt("grades", record(service="grades"), None, NOW)
    factory.made["courses"].fail = RuntimeError("store unreadable")
    failures = pool.tick_all()
    assert [(f.service, str(f.error)) for f in failures] == [("courses", "store unreadable")]
    assert factory.made["grades"].ticks == 1 and pool.driving_services() == ["grades"]


def test_close_all_releases_every_lease_and_ignores_errors(
    pool: DriverPool, factory: Factory
) -> None:
    first = driven(pool, factory, "courses")
    second = driven(pool, factory, "grades")

    def broken_close() -> None:
        raise RuntimeError("store gone")

    first.close = broken_close  # type: ignore[method-assign]
    pool.close_all()
    assert second.closes == 1 and not second.driving


# ---------------------------------------------------------------------------- drives here


def test_drives_here_means_this_pool_applies_the_command(
    pool: DriverPool, factory: Factory
) -> None:
    assert not pool.drives_here("courses", None, NOW)  # no driver here
    pool.adopt("courses", record(), None, NOW)
    assert pool.drives_here("courses", None, NOW)  # not yet ticked, the lease is free
    assert pool.drives_here("courses", lease(holder=HOLDER), NOW)
    assert pool.drives_here("courses", lease(expires_at=NOW - 1), NOW)
    assert not pool.drives_here("courses", lease(), NOW)  # someone else holds it
    pool.tick_all()
    assert pool.drives_here("courses", lease(), NOW)  # it holds the lease itself
    end(pool, factory.made["courses"])
    assert not pool.drives_here("courses", None, NOW)  # parked


def test_free_for() -> None:
    assert free_for(None, HOLDER, NOW)
    assert free_for(lease(holder=HOLDER), HOLDER, NOW)
    assert free_for(lease(expires_at=NOW), HOLDER, NOW)
    assert not free_for(lease(), HOLDER, NOW)
