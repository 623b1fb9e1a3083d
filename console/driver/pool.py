"""The rollouts one process drives: one driver per service, parked while its rollout is over.

A console drives a rollout it started, and one it opened whose lease was free (its driver
died). When that rollout ends (Completed, RolledBack, Aborted) nothing is left to drive, so
the driver releases the lease and is *parked*: no longer ticked, so it does not take the lease
again and the next ``rollout auto`` or console can drive the next release. A retry or a new
start *wakes* it.

Threads: ``tick_all`` runs in a background thread (one at a time) while the UI thread adds,
wakes and reads; a lock keeps the bookkeeping consistent and is never held while a driver does
I/O. Every wake bumps the service's wake count, and a tick parks its driver only if the count
did not change while it ran, so a retry posted as the rollout ended is still applied.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from backends.base import Lease, RolloutRecord
from console.plan.model import Plan


class RolloutDriver(Protocol):
    """What the pool needs of a driver; ``console.driver.loop.Driver`` is one."""

    @property
    def driving(self) -> bool:
        """True while this driver holds the rollout's lease."""
        ...

    def begin(self, plan: Plan) -> RolloutRecord: ...

    def tick(self) -> RolloutRecord | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class TickFailure:
    """A driver's tick raised: the service and the error, for the caller to report."""

    service: str
    error: Exception


def free_for(lease: Lease | None, holder: str, now: float) -> bool:
    """True if ``holder`` may drive: no lease, its own, or an expired one."""
    return lease is None or lease.holder == holder or lease.expires_at <= now


class DriverPool(Mapping[str, RolloutDriver]):
    """Service -> its driver in this process, and which of them tick.

    ``factory(service)`` makes a driver; ``holder`` is the lease holder those drivers use.
    """

    def __init__(self, factory: Callable[[str], RolloutDriver], holder: str) -> None:
        self._factory = factory
        self.holder = holder
        self._lock = threading.Lock()
        self._drivers: dict[str, RolloutDriver] = {}
        self._parked: set[str] = set()
        self._wakes: dict[str, int] = {}

    # ------------------------------------------------------------------ mapping

    def __getitem__(self, service: str) -> RolloutDriver:
        with self._lock:
            return self._drivers[service]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._drivers))

    def __len__(self) -> int:
        with self._lock:
            return len(self._drivers)

    # ------------------------------------------------------------------ questions

    def parked(self, service: str) -> bool:
        """True while ``service``'s rollout is over and its driver is not ticked."""
        with self._lock:
            return service in self._parked

    def drives(self, service: str) -> bool:
        """True if this pool's driver of ``service`` holds the lease right now."""
        driver = self.get(service)
        return driver is not None and driver.driving

    def driving_services(self) -> list[str]:
        """The services whose lease this pool's drivers hold, sorted."""
        return sorted(s for s, d in self.items() if d.driving)

    def drives_here(self, service: str, lease: Lease | None, now: float) -> bool:
        """True if a command for ``service`` is applied by this pool's driver: it ticks, and
        holds the lease or can take it."""
        driver = self.get(service)
        if driver is None or self.parked(service):
            return False
        return driver.driving or free_for(lease, self.holder, now)

    # ------------------------------------------------------------------ who drives

    def adopt(
        self,
        service: str,
        record: RolloutRecord | None,
        lease: Lease | None,
        now: float,
        *,
        force: bool = False,
    ) -> bool:
        """Make a driver for ``service`` if it has none, its rollout is live (or ``force``:
        ended, about to be retried) and nobody else holds the lease. True if one was made;
        the factory's errors propagate."""
        if service in self or record is None or (record.phase.terminal and not force):
            return False
        if not free_for(lease, self.holder, now):
            return False
        driver = self._factory(service)
        with self._lock:
            self._drivers.setdefault(service, driver)
        return True

    def drive_again(
        self, service: str, record: RolloutRecord | None, lease: Lease | None, now: float
    ) -> None:
        """A retry: the parked driver of ``service`` ticks again, or one is made for it."""
        if service in self:
            self.wake(service)
        self.adopt(service, record, lease, now, force=True)

    def wake(self, service: str, *, unpark: bool = True) -> None:
        """``service`` runs again (a retry or a new start): its driver ticks from now on.
        ``unpark=False`` only keeps an end seen by a tick already under way from parking it."""
        with self._lock:
            self._wakes[service] = self._wakes.get(service, 0) + 1
            if unpark:
                self._parked.discard(service)

    def follow(
        self, service: str, record: RolloutRecord | None, lease: Lease | None, now: float
    ) -> None:
        """Wake a parked driver whose rollout runs again (retried or started elsewhere) while
        nobody holds its lease: this process drove it before it ended."""
        if record is None or record.phase.terminal or not self.parked(service):
            return
        if lease is None or lease.expires_at <= now:
            self.wake(service)

    def begin(self, service: str, plan: Plan) -> tuple[RolloutDriver, RolloutRecord]:
        """Start ``plan`` (or join its rollout) on this pool's driver of ``service``, made if
        needed; it ticks from now on. Blocking: call it off the UI thread."""
        driver = self.get(service) or self._factory(service)
        record = driver.begin(plan)
        with self._lock:
            self._drivers[service] = driver
        self.wake(service)
        return driver, record

    def begin_and_hand_over(self, service: str, plan: Plan) -> tuple[RolloutRecord, bool]:
        """Start ``plan`` (or join its rollout) and leave it to another driver of the store (a
        running controller): the lease is released at once and no driver of ``service`` is
        kept here, so this process only watches and never races that driver for the lease.
        Returns the record and whether this process started or resumed it (held the lease).
        Blocking: call it off the UI thread."""
        driver = self._factory(service)
        try:
            record = driver.begin(plan)
            handed = driver.driving
        finally:
            driver.close()
        with self._lock:
            self._drivers.pop(service, None)  # a parked one from an earlier rollout too
            self._parked.discard(service)
        return record, handed

    # ------------------------------------------------------------------ the loop

    def tick_all(self) -> list[TickFailure]:
        """Tick every driver that is not parked, once; park those whose rollout ended (after
        releasing the lease). Blocking: one call at a time, off the UI thread."""
        with self._lock:
            due = [
                (service, driver, self._wakes.get(service, 0))
                for service, driver in self._drivers.items()
                if service not in self._parked
            ]
        failures: list[TickFailure] = []
        for service, driver, wake in due:
            try:
                record = driver.tick()
            except Exception as exc:
                failures.append(TickFailure(service, exc))
                continue
            if record is not None and record.phase.terminal and driver.driving:
                driver.close()
                with self._lock:
                    if self._wakes.get(service, 0) == wake:
                        self._parked.add(service)
        return failures

    def close_all(self) -> None:
        """Release every driver's lease; errors are ignored (leases expire on their own)."""
        for driver in self.values():
            try:
                driver.close()
            except Exception:
                pass  # quitting: the lease expires on its own
