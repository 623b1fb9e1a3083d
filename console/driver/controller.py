"""The controller: one headless process that drives every unfinished rollout of a store.

Each pass (about once a second): hold the controller key (``presence``; a standby that
cannot get it drives nothing), list ``store.services()``, and tick every rollout that is due
with the same ``Driver`` the console and ``rollout auto`` use, so leases, the command queue,
save-before-apply and webhooks work exactly as there. Per rollout:

- a finished rollout is left alone (its lease released), unless a command waits for it
  (``rollout retry``);
- one whose lease another driver holds (a console, ``rollout auto``) is watched: the
  controller takes it over when that lease is released or runs out;
- one found unguarded for longer than ``report_after`` (a TTL by default: a failover right at
  the lease's expiry is a handover, not a gap) is reported once (``unguarded``) before the
  controller takes it.

Ticks run on a few worker threads; a rollout whose tick still runs is skipped, so one slow or
failing rollout (a backend timing out, an unreadable record) never holds up the others. Its
trouble is logged when it starts and when it ends. ``close()`` hands every lease back at
once, so a standby takes over without waiting out the TTL.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backends.base import (
    BackendError,
    CommandInbox,
    CorruptRecord,
    Environment,
    Event,
    RolloutRecord,
    StateStore,
)
from console.driver import presence, unguarded
from console.driver.controller_metrics import ControllerMetrics
from console.driver.edges import describe, holder_display, make_holder
from console.driver.guard import DEFAULT_TTL
from console.driver.loop import Driver, DriverError
from console.engine import machine as engine
from console.plan.model import Plan

MIN_WAIT = 0.05  # seconds: never spin faster than this between passes
WARNING_KINDS = frozenset({"breach", "rollback", "aborted", "unguarded", "notify-failed"})

LogFn = Callable[[dict[str, Any]], None]


def log_record(
    level: str, kind: str, message: str, service: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One log object: time (ISO, UTC), level, service, kind, message, then any extras."""
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "time": at,
        "level": level,
        "service": service,
        "kind": kind,
        "message": message,
        **extra,
    }


@dataclass
class _Slot:
    """One rollout the controller knows: its driver and its schedule."""

    driver: Driver
    first_seen: float
    due: float = 0.0
    busy: bool = False
    trouble: str = ""  # the trouble last logged, so each is logged once


@dataclass
class _Role:
    active: bool = False
    checked_at: float = field(default=float("-inf"))  # last claim of the controller key
    said_standby: bool = False
    peers_checked_at: float = field(default=float("-inf"))  # a standby's last look around


class Controller:
    """Drives every unfinished rollout in ``env``'s store while it holds the controller key."""

    def __init__(
        self,
        env: Environment,
        *,
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
        lease_ttl: float = DEFAULT_TTL,
        interval: float = 1.0,
        log: LogFn | None = None,
        metrics: ControllerMetrics | None = None,
        workers: int = 4,
        report_after: float | None = None,
    ) -> None:
        if env.store is None or env.traffic is None:
            raise DriverError(
                f"environment '{env.name}' has no traffic backend or state store; "
                "a controller has nothing to drive there"
            )
        self.env = env
        self.store: StateStore = env.store
        self.holder = holder or make_holder()
        self.clock = clock
        self.lease_ttl = lease_ttl
        self.interval = interval
        self.log: LogFn = log or (lambda _obj: None)
        self.metrics = metrics or ControllerMetrics()
        self.workers = workers
        self.report_after = lease_ttl if report_after is None else report_after
        self.slots: dict[str, _Slot] = {}
        self.role = _Role()
        self.last_pass: float | None = None  # time.monotonic() of the last finished pass
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._reserved_logged = False
        self._store_trouble = ""
        self._listed: tuple[float, list[str]] | None = None  # (when, rollouts) of the last listing

    # ------------------------------------------------------------------ the pass

    @property
    def active(self) -> bool:
        return self.role.active

    def driving(self) -> list[str]:
        """Services whose lease this controller holds now."""
        with self._lock:
            return sorted(n for n, s in self.slots.items() if s.driver.driving)

    def pass_once(self) -> float:
        """One pass: hold the key, list the rollouts, tick those that are due (inline when
        ``workers`` is 0). Returns the seconds until the next pass is worth making."""
        now = self.clock()
        try:
            if not self._hold_key(now):
                self._watch_as_standby(now)
                return self.interval
            names = self._listing(now)
        except BackendError as exc:
            self._trouble(None, f"state store: {describe(exc)}")
            return self.interval
        finally:
            self.last_pass = time.monotonic()
        self._trouble(None, "")
        self._forget_missing(set(names))
        for name in names:
            slot = self._slot(name, now)
            with self._lock:
                if slot.busy or slot.due > now:
                    continue
                slot.busy = True
            if self.workers <= 0:
                self._run_tick(name)
            else:
                self._ensure_workers()
                self._queue.put(name)
        with self._lock:
            dues = [s.due for s in self.slots.values() if not s.busy]
        wait = min(dues, default=now + self.interval) - self.clock()
        return min(self.interval, max(MIN_WAIT, wait))

    def run(self, stop: threading.Event) -> None:
        """Make passes until ``stop`` is set (then call ``close``)."""
        while not stop.is_set():
            stop.wait(self.pass_once())

    def _listing(self, now: float) -> list[str]:
        """The store's rollouts, listed at most once per interval: passes come as often as
        ticks fall due (every few tens of ms with many rollouts), and a listing may read
        every record (the file store does)."""
        if self._listed is None or now - self._listed[0] >= self.interval:
            self._listed = (now, [n for n in self.store.services() if self._drivable(n)])
        return self._listed[1]

    # ------------------------------------------------------------------ the controller key

    def _hold_key(self, now: float) -> bool:
        """Renew or take the controller key; on losing it, hand every rollout back."""
        if self.role.active and now - self.role.checked_at < min(self.interval, self.lease_ttl / 3):
            return True
        held = presence.claim(self.store, self.holder, self.lease_ttl)
        self.role.checked_at = now
        if held and not self.role.active:
            self.role.active = True
            self.metrics.active.set(1)
            self.log(log_record("info", "controller", "active: driving this store's rollouts"))
        elif not held and (self.role.active or not self.role.said_standby):
            other = presence.controller_running(self.store, now)
            who = holder_display(other) if other else "another controller"
            if self.role.active:
                self.role.active = False
                self.metrics.active.set(0)
                self.log(
                    log_record(
                        "warning", "controller", f"lost the controller key to {who}: standby"
                    )
                )
                self._release_all()
            else:
                self.log(
                    log_record("info", "controller", f"standby: {who} is the active controller")
                )
        self.role.said_standby = not held
        return held

    def _watch_as_standby(self, now: float) -> None:
        """A standby drives nothing but still reports rollouts nobody guards (at most once a
        TTL): the active controller may be wedged while it keeps its key."""
        if now - self.role.peers_checked_at < self.lease_ttl:
            return
        self.role.peers_checked_at = now
        try:
            names = [n for n in self.store.services() if self._drivable(n)]
        except BackendError:
            return
        for name in names:
            try:
                rec = self.store.load(name)
            except BackendError:
                continue
            if rec is not None and not rec.phase.terminal:
                self._report_if_unguarded(rec, now)

    # ------------------------------------------------------------------ rollouts

    def _drivable(self, name: str) -> bool:
        if name != presence.CONTROLLER_KEY:
            return True
        if not self._reserved_logged:
            self._reserved_logged = True
            self.log(
                log_record(
                    "error",
                    "controller",
                    f"a rollout named '{name}' is not driven: the name is reserved",
                    name,
                )
            )
        return False

    def _slot(self, name: str, now: float) -> _Slot:
        with self._lock:
            slot = self.slots.get(name)
        if slot is not None:
            return slot
        slot = _Slot(driver=self._make_driver(name), first_seen=now)
        with self._lock:
            self.slots[name] = slot
        return slot

    def _make_driver(self, name: str) -> Driver:
        def on_event(e: Event, name: str = name) -> None:
            self._on_event(name, e)

        return Driver(
            self.env,
            name,
            holder=self.holder,
            clock=self.clock,
            lease_ttl=self.lease_ttl,
            on_event=on_event,
            tick_interval=self.interval,
        )

    def _forget_missing(self, names: set[str]) -> None:
        """Drop rollouts whose record is gone (moved aside by hand)."""
        with self._lock:
            gone = [n for n, s in self.slots.items() if n not in names and not s.busy]
            slots = [self.slots.pop(n) for n in gone]
        for slot in slots:
            slot.driver.close()
        self._update_driven()

    def _run_tick(self, name: str) -> None:
        """Tick one rollout; whatever goes wrong is logged and kept to this rollout."""
        with self._lock:
            slot = self.slots.get(name)
        if slot is None:
            return
        driver = slot.driver
        was_driving = driver.driving
        started = time.perf_counter()
        rec: RolloutRecord | None = None
        ticked = took = False
        try:
            rec, ticked, took = self._tick(name, driver)
            trouble = driver.backend_error if driver.backend_down_since is not None else ""
        except CorruptRecord as exc:
            trouble = str(exc)
        except Exception as exc:  # one rollout's bug or outage must not stop the others
            trouble = describe(exc)
        if ticked:
            self.metrics.ticks.inc()
            self.metrics.tick_seconds.observe(time.perf_counter() - started)
        if trouble:
            self.metrics.errors.inc()
        self._trouble(name, trouble, slot)
        if took:
            self.metrics.takeovers.inc()
            self.log(log_record("info", "lease", f"driving {name}", name))
        if (was_driving or took) and not driver.driving:
            why = "finished" if rec is not None and rec.phase.terminal else "lease lost"
            self.log(log_record("info", "lease", f"no longer driving {name} ({why})", name))
        if driver.driving and not self.role.active:
            driver.close()  # lost the key while this tick ran
        now = self.clock()
        with self._lock:
            slot.due = now + self._wait(driver, rec, now)
            slot.busy = False
        self._update_driven()

    def _tick(self, name: str, driver: Driver) -> tuple[RolloutRecord | None, bool, bool]:
        """The rollout's record after this pass, whether the driver ticked, and whether it
        took the lease in this tick."""
        was_driving = driver.driving
        if not was_driving:
            if driver.record is None:
                # Read it first: taking the lease of a known rollout is then audited as a
                # take-over, and the events already in it are not news.
                driver.watch()
            rec = self.store.load(name)
            if rec is None:
                return None, False, False
            if rec.phase.terminal and not self._commands_wait(name):
                return rec, False, False
            if not rec.phase.terminal:
                self._report_if_unguarded(rec, self.clock())
        rec = driver.tick()
        if rec is None:
            return driver.watch(), True, False
        if rec.phase.terminal and not self._commands_wait(name):
            # Finished: nothing left to drive, so free the lease (``rollout auto`` of the next
            # release, or a console, may begin at once); a retry brings it back.
            driver.close()
        return rec, True, not was_driving

    def _commands_wait(self, name: str) -> bool:
        if not isinstance(self.store, CommandInbox):
            return False
        try:
            return bool(self.store.peek_commands(name))
        except BackendError:
            return False

    def _report_if_unguarded(self, rec: RolloutRecord, now: float) -> None:
        try:
            guard = unguarded.check(self.store, rec, now, ttl=self.lease_ttl)
        except BackendError:
            return
        if guard.guarded or guard.since is None or now - guard.since < self.report_after:
            return
        event = unguarded.report(self.store, rec, guard, now, reporter=self.holder)
        if event is not None:
            self.metrics.unguarded.inc()
            self.log(log_record("warning", "unguarded", event.message, rec.service))

    def _wait(self, driver: Driver, rec: RolloutRecord | None, now: float) -> float:
        """Seconds until this rollout's next tick: the interval, or sooner when the engine
        has a deadline (as ``Driver.run`` does)."""
        wait = self.interval
        if rec is not None and driver.driving and not rec.phase.terminal:
            try:
                due = engine.next_tick(rec, Plan.from_dict(rec.plan), now)
            except Exception:
                return wait
            wait = min(wait, max(MIN_WAIT, due - now))
        return wait

    # ------------------------------------------------------------------ events and trouble

    def _on_event(self, name: str, e: Event) -> None:
        with self._lock:
            slot = self.slots.get(name)
        if slot is None or e.at < slot.first_seen:
            return  # an old event of the record, read when the controller first looked
        if slot.driver.driving:
            self.metrics.decision(e.kind)
        level = "warning" if e.kind in WARNING_KINDS else "info"
        self.log(log_record(level, e.kind, e.message, name))

    def _trouble(self, name: str | None, trouble: str, slot: _Slot | None = None) -> None:
        """Log a rollout's (or, with no slot, the store's) trouble when it starts or changes,
        and when it ends."""
        before = slot.trouble if slot is not None else self._store_trouble
        if trouble and trouble != before:
            self.log(log_record("error", "error", trouble, name))
        elif not trouble and before:
            what = name or "the state store"
            self.log(log_record("info", "recovered", f"{what}: working again", name))
        if slot is not None:
            slot.trouble = trouble
        else:
            self._store_trouble = trouble

    def _update_driven(self) -> None:
        self.metrics.driven.set(len(self.driving()))

    # ------------------------------------------------------------------ workers and shutdown

    def _ensure_workers(self) -> None:
        if self._threads or self._closed:
            return
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"controller-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _work(self) -> None:
        while True:
            name = self._queue.get()
            if name is None:
                return
            self._run_tick(name)

    def _release_all(self, reason: str = "") -> None:
        """Release the lease of every rollout not being ticked right now (a ticking one is
        released when its tick ends, since the role is no longer active)."""
        with self._lock:
            idle = [s for s in self.slots.values() if not s.busy]
        for slot in idle:
            if slot.driver.driving:
                if reason:
                    slot.driver.record_stop(reason)
                slot.driver.close()
        self._update_driven()

    def close(self, reason: str = "controller stopped", grace: float = 5.0) -> None:
        """Hand every lease back now (traffic stays where it is) and the controller key, so
        a standby takes over on its next pass. Ticks still running get ``grace`` seconds."""
        self._closed = True
        self.role.active = False
        while True:  # ticks queued but not started: none runs after this
            try:
                name = self._queue.get_nowait()
            except queue.Empty:
                break
            with self._lock:
                queued = self.slots.get(name) if name is not None else None
                if queued is not None:
                    queued.busy = False
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + grace
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._release_all(reason)
        with self._lock:
            stuck = [s for s in self.slots.values() if s.busy and s.driver.driving]
        for slot in stuck:  # a tick hung past the grace: release under it all the same
            slot.driver.close()
        presence.give_up(self.store, self.holder)
        self.metrics.active.set(0)
        self.metrics.driven.set(0)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """For ``/healthz``: alive while passes keep coming (active or standby)."""
        age = None if self.last_pass is None else time.monotonic() - self.last_pass
        ok = age is not None and age <= max(3 * self.interval, 5.0)
        return ok, {
            "status": "ok" if ok else "stalled",
            "role": "active" if self.role.active else "standby",
            "driving": len(self.driving()),
            "last_pass_seconds_ago": None if age is None else round(age, 3),
        }
