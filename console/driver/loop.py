"""The driver: the only loop that changes a rollout (docs/internals.md, "Driver contract").

One driver per rollout holds the store's lease (TTL ~10 s, renewed every tick). Each tick:
renew or take the lease -> take posted commands -> observe (health, split, metrics; backend
errors become fields of the Observation) -> ``engine.step`` once per command and once for
time -> save the record with compare-and-swap -> append audit entries -> apply the actions
to the traffic backend -> emit events (callback and webhooks).

The record is saved before any action is applied, and actions are idempotent "set to"
operations, so a driver killed at any instant leaves a record the next driver resumes from:
it observes the actual split and the engine re-issues whatever is missing. A driver that
cannot get the lease is a viewer: it reads the record and reports its new events, and takes
over once the holder's lease expires.

The tick's steps (lease, commands, save-before-apply, conflict redo, viewer takeover) share
that invariant, so they are one file; observing and applying live in ``edges.py``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from backends.base import (
    Action,
    AuditEntry,
    BackendError,
    BackendUnavailable,
    Command,
    CommandInbox,
    ConflictError,
    CorruptRecord,
    Environment,
    Event,
    Observation,
    RolloutRecord,
    StateStore,
    TrafficBackend,
    action_to_dict,
    command_key,
)
from console.driver.edges import analysis_spec as analysis_spec
from console.driver.edges import (
    apply_action,
    describe,
    holder_display,
    holder_gone,
    observe,
    unsupported_metrics,
)
from console.driver.edges import make_holder as make_holder  # callers import it from here
from console.driver.edges import whoami as whoami
from console.driver.flags import for_plan
from console.driver.notify import Notifier, plan_notifier
from console.driver.preflight import flag_preflight
from console.engine import context as engine_common
from console.engine import machine as engine
from console.engine.commands import ignored_reason, refused_audit
from console.engine.context import split_text
from console.plan.model import Plan

_CAS_ATTEMPTS = 3
_COMMANDS_KEPT = 100  # keys of applied commands kept in the record, to skip a redelivery


class DriverError(Exception):
    """The driver refused to start: the message says why and what to do (exit 2)."""


def event_key(e: Event) -> tuple[float, str, str]:
    return (e.at, e.kind, e.message)


class Driver:
    """Drives one service's rollout: lease, observe, engine, save, apply, audit, notify."""

    def __init__(
        self,
        env: Environment,
        service: str,
        *,
        holder: str,
        clock: Callable[[], float] = time.time,
        lease_ttl: float = 10.0,
        notifier: Notifier | None = None,
        on_event: Callable[[Event], None] | None = None,
        tick_interval: float = 1.0,
        backend_grace: float | None = None,
    ) -> None:
        if env.store is None or env.traffic is None:
            raise DriverError(
                f"environment '{env.name}' has no traffic backend or state store; "
                "it can only be used for analysis"
            )
        self.env = env
        self.store: StateStore = env.store
        self.traffic: TrafficBackend = env.traffic
        self.service = service
        self.holder = holder
        self.actor = holder_display(holder)
        user, _, host = self.actor.partition("@")
        self.user, self.host = user, host
        self.clock = clock
        self.lease_ttl = lease_ttl
        self.notifier = notifier
        self.on_event = on_event
        self.tick_interval = tick_interval
        # How long the traffic backend may fail on every tick before run() gives up (exit 4).
        self.backend_grace = lease_ttl if backend_grace is None else backend_grace
        self.backend_down_since: float | None = None
        self.backend_error: str = ""
        self.last_observation: Observation | None = None
        self._record: RolloutRecord | None = None
        self._driving = False
        self._seen: set[tuple[float, str, str]] = set()
        self._pending: list[Command] = []
        # The driver's own events (apply failures, lease changes, webhook failures) go into
        # the record with the next save, so every console watching sees them too.
        self._unsaved: list[Event] = []
        self._seen_env: Environment = env  # the environment as the current plan sees it

    # ------------------------------------------------------------------ properties

    @property
    def driving(self) -> bool:
        """True while this driver holds the lease."""
        return self._driving

    @property
    def record(self) -> RolloutRecord | None:
        """The last record this driver saved or read."""
        return self._record

    # ------------------------------------------------------------------ begin

    def begin(self, plan: Plan) -> RolloutRecord:
        """Start the plan's rollout, or resume the recorded one for the same candidate.

        If another driver holds the lease, wait (up to the lease TTL) for its record and
        return it: this driver is then a viewer until the lease frees up.
        """
        if plan.service != self.service:
            raise DriverError(f"plan is for '{plan.service}', driver for '{self.service}'")
        unsupported = unsupported_metrics(self.env.metrics, plan)
        if unsupported:
            raise DriverError(f"{plan.source or plan.service}: {unsupported}")
        if plan.flag is not None:
            # The flag source, the flag and its variants, for every caller (the console too).
            refused = flag_preflight(self.env, plan)
            if refused is not None:
                raise DriverError(refused.message)
        try:
            if not self._take_lease():
                return self._begin_as_viewer(plan)
            return self._begin_driving(plan)
        except CorruptRecord as exc:
            # Bad input to fix by hand (exit 2), not an outage to wait out.
            self.close()
            raise DriverError(str(exc)) from None
        except DriverError:
            self.close()
            raise

    def _begin_as_viewer(self, plan: Plan) -> RolloutRecord:
        deadline = time.monotonic() + self.lease_ttl + 1.0
        while time.monotonic() < deadline:
            rec = self.store.load(self.service)
            if rec is not None and not rec.phase.terminal:
                self._check_candidate(rec, plan)
                self._record = rec
                self._seen.update(event_key(e) for e in rec.events)
                lease = self.store.lease(self.service)
                who = holder_display(lease.holder) if lease else "another driver"
                self._emit([self._driver_event("lease", f"{who} drives {self.service}; watching")])
                return rec
            if self._take_lease():
                return self._begin_driving(plan)
            time.sleep(0.2)
        lease = self.store.lease(self.service)
        who = holder_display(lease.holder) if lease else "another driver"
        raise DriverError(
            f"{self.service}: {who} holds the driver lease but no rollout is in progress; "
            "try again in a few seconds"
        )

    def _check_candidate(self, rec: RolloutRecord, plan: Plan) -> None:
        if rec.candidate != plan.candidate:
            raise DriverError(
                f"{self.service}: a rollout to {rec.candidate} is in progress ({rec.phase}); "
                f"it is not this plan's candidate {plan.candidate}. Finish it, or "
                f"'rollout abort {self.service}', before starting another."
            )
        if rec.strategy is not plan.strategy:
            raise DriverError(
                f"{self.service}: a {rec.strategy} rollout to {rec.candidate} is in progress "
                f"({rec.phase}); this plan is a {plan.strategy}. Let it finish, or "
                f"'rollout abort {self.service}', before starting another."
            )

    def _begin_driving(self, plan: Plan) -> RolloutRecord:
        existing = self.store.load(self.service)
        if existing is not None and not existing.phase.terminal:
            self._check_candidate(existing, plan)
            self._record = existing
            self._seen.update(event_key(e) for e in existing.events)
            note = ""
            recorded = dict(existing.plan)
            if {k: v for k, v in recorded.items() if k != "source"} != {
                k: v for k, v in plan.to_dict().items() if k != "source"
            }:
                note = "; the plan file changed since it started: continuing the recorded plan"
            msg = f"resuming {existing.phase} rollout to {existing.candidate}{note}"
            self.store.append_audit(
                self._audit(
                    "resume-driver",
                    msg,
                    step_index=existing.step_index,
                    phase=str(existing.phase),
                    revision=existing.revision,
                )
            )
            self._emit([self._driver_event("driver", msg)])
            return existing
        now = self.clock()
        obs = self._observe(None, plan, now)
        try:
            t = engine.start(plan, obs, now, actor=self.actor)
        except engine.EngineError as exc:
            raise DriverError(str(exc)) from None
        try:
            saved = self.store.save(t.record, existing.revision if existing else 0)
        except ConflictError as exc:
            raise DriverError(
                f"{self.service}: another process wrote the record while starting ({exc}); "
                "try again"
            ) from None
        self._record = saved
        self._finish(t.actions, list(t.events), list(t.audit))
        return saved

    # ------------------------------------------------------------------ tick

    def tick(self) -> RolloutRecord | None:
        """One iteration; None if another driver holds the lease (or there is no rollout)."""
        if not self._take_lease():
            return None
        if not self._pending:
            try:
                self._pending = (
                    self.store.peek_commands(self.service)
                    if isinstance(self.store, CommandInbox)
                    else self.store.take_commands(self.service)
                )
            except BackendError as exc:
                self._emit([self._driver_event("driver", f"cannot read commands: {exc}")])
        for _ in range(_CAS_ATTEMPTS):
            try:
                record = self.store.load(self.service)
            except BackendError as exc:
                self._mark_down(f"state store: {exc}")
                return self._record
            if record is None:
                self._drop_pending("no rollout recorded")
                return None
            if self._record is not None:
                # Events another driver recorded since we last looked (we were watching).
                self._catch_up(record)
            plan = Plan.from_dict(record.plan)
            now = self.clock()
            obs = self._observe(record, plan, now)
            actions: list[Action] = []
            events: list[Event] = []
            audit: list[AuditEntry] = []
            rec = record
            done = set(record.commands_done)
            # Applied and saved before a driver died, but never acknowledged: not again.
            fresh = [c for c in self._pending if command_key(c) not in done]
            for cmd in fresh:
                t = engine.step(rec, plan, obs, cmd, now)
                rec = self._collect(t, actions, events, audit)
                if not t.audit:  # not applied: still on the record, with why
                    why = ignored_reason(t.events) or "not applicable now"
                    audit.append(refused_audit(cmd, why, now))
            if not rec.phase.terminal:
                t = engine.step(rec, plan, obs, None, now)
                rec = self._collect(t, actions, events, audit)
            if fresh:
                keys = (*record.commands_done, *(command_key(c) for c in fresh))
                rec = dataclasses.replace(rec, commands_done=keys[-_COMMANDS_KEPT:])
            elif rec.commands_done != record.commands_done:
                rec = dataclasses.replace(rec, commands_done=record.commands_done)
            if self._unsaved:
                rec = dataclasses.replace(
                    rec, events=(*rec.events, *self._unsaved)[-engine_common.MAX_EVENTS :]
                )
            # A tick that changed nothing but the time is not worth a write (or an fsync).
            if dataclasses.replace(rec, updated_at=record.updated_at) != record:
                try:
                    rec = self.store.save(rec, record.revision)
                except ConflictError:
                    # Someone wrote under us: if we still hold the lease, reload and redo the
                    # tick; if a slow tick let the lease lapse and another driver took it, stop.
                    if not self._take_lease():
                        return None
                    continue
                except BackendError as exc:
                    self._mark_down(f"state store: {exc}")
                    return self._record
            self._ack(self._pending)
            self._pending = []
            self._unsaved = []
            self._record = rec
            self._finish(actions, events, audit, obs)
            return rec
        self._emit([self._driver_event("driver", "record kept changing under the driver")])
        return self._record

    @staticmethod
    def _collect(
        t: engine.Transition,
        actions: list[Action],
        events: list[Event],
        audit: list[AuditEntry],
    ) -> RolloutRecord:
        actions.extend(t.actions)
        events.extend(t.events)
        audit.extend(t.audit)
        return t.record

    def _finish(
        self,
        actions: Sequence[Action],
        events: list[Event],
        audit: list[AuditEntry],
        obs: Observation | None = None,
    ) -> None:
        """After the record is saved: append the audit, apply the actions, emit events.

        The audit goes first: the decisions are already saved with the record, so a driver
        killed while applying leaves them in the audit too (the next driver re-applies the
        actions without deciding, and writing, them again)."""
        for entry in audit:
            if not entry.user:
                entry = dataclasses.replace(entry, user=self.user, host=self.host)
            entry = dataclasses.replace(entry, data={**entry.data, "driver": self.holder})
            try:
                self.store.append_audit(entry)
            except (BackendError, OSError) as exc:  # the decision is saved: apply it anyway
                events.append(self._driver_event("driver", f"audit not written: {exc}"))
        applied_ok = self._apply(actions, events)
        if obs is not None and obs.traffic_error is None and applied_ok:
            self.backend_down_since = None
        notifier = self._notifier()
        if notifier is not None:
            failures = notifier.drain_failures()
            events.extend(failures)
            if self._driving:
                self._unsaved.extend(failures)
        self._emit(events)

    # ------------------------------------------------------------------ lease

    def _take_lease(self) -> bool:
        try:
            if self._driving:
                if self.store.renew(self.service, self.holder, self.lease_ttl):
                    return True
                self._driving = False
                lease = self.store.lease(self.service)
                who = holder_display(lease.holder) if lease else "another driver"
                self._emit([self._driver_event("lease", f"lost the driver lease to {who}")])
                return False
            if not self.store.acquire_lease(self.service, self.holder, self.lease_ttl):
                if not self._release_dead_holder():
                    return False
                if not self.store.acquire_lease(self.service, self.holder, self.lease_ttl):
                    return False
        except BackendError as exc:
            self._mark_down(f"state store: {exc}")
            return False
        self._driving = True
        if self._record is None:
            return True
        try:
            rec = self.store.load(self.service)
        except BackendError:
            rec = None
        if rec is not None and not rec.phase.terminal:
            # We were watching someone else's rollout and their lease ran out.
            msg = (
                f"took over driving {self.service} (the previous driver released its lease "
                "or stopped renewing it)"
            )
            self.store.append_audit(self._audit("take-over", msg))
            self._emit([self._driver_event("lease", msg)])
        return True

    def _release_dead_holder(self) -> bool:
        """Free a lease whose holder ran on this host and whose process is gone.

        Saves waiting out the TTL after a crash on the same machine (a killed ``rollout
        auto`` restarted by its supervisor). A holder on another host is never second-guessed.
        """
        if not getattr(self.store, "local_leases", False):
            # A shared store (a Kubernetes Lease) may be held from another machine or a
            # container whose pids we cannot see: only the TTL is trustworthy there.
            return False
        lease = self.store.lease(self.service)
        if lease is None:
            return True
        if not holder_gone(lease.holder, f"{self.user}@{self.host}"):
            return False
        self.store.release(self.service, lease.holder)
        return True

    def close(self) -> None:
        """Release the lease if held; traffic stays where it is."""
        if self._driving:
            try:
                self.store.release(self.service, self.holder)
            except BackendError:
                pass  # it expires on its own
            self._driving = False

    # ------------------------------------------------------------------ observe and apply

    def _observe(self, record: RolloutRecord | None, plan: Plan, now: float) -> Observation:
        """Everything the engine may look at; backend failures become error fields."""
        # A flag plan sees the environment through its flag (console/driver/flags.py).
        self._seen_env = for_plan(self.env, plan)
        obs = observe(self._seen_env, self.service, record, plan, now)
        if obs.traffic_error:
            self._mark_down(obs.traffic_error)
        self.last_observation = obs
        return obs

    def _apply(self, actions: Sequence[Action], events: list[Event]) -> bool:
        """Apply in order; stop at the first failure (the next tick re-issues the rest)."""
        for a in actions:
            try:
                apply_action(self._seen_env.traffic or self.traffic, self.service, a)
            except Exception as exc:  # any failure: say so, and let the engine re-issue it
                why = describe(exc)
                self._mark_down(why)
                events.append(
                    self._driver_event(
                        "driver",
                        f"could not apply {type(a).__name__}: {why}; retrying next tick",
                        {"action": action_to_dict(a), "error": why},
                    )
                )
                return False
        return True

    def _mark_down(self, why: str) -> None:
        if self.backend_down_since is None:
            self.backend_down_since = self.clock()
        self.backend_error = why

    # ------------------------------------------------------------------ run

    def run(
        self, *, timeout: float | None = None, stop: threading.Event | None = None
    ) -> RolloutRecord:
        """Tick until the rollout ends, ``timeout`` seconds pass or ``stop`` is set.

        While another driver holds the lease this one watches the record and reports its
        events. Raises BackendUnavailable when the traffic backend or the store keeps failing
        for longer than ``backend_grace`` seconds.
        """
        start = time.monotonic()
        while True:
            if stop is not None and stop.is_set():
                break
            rec = self.tick()
            if rec is None:
                rec = self._watch()
            if rec is not None and rec.phase.terminal and not self._pending:
                break
            if (
                self.backend_down_since is not None
                and self.clock() - self.backend_down_since > self.backend_grace
            ):
                raise BackendUnavailable(
                    f"backend unreachable for more than {self.backend_grace:g} s: "
                    f"{self.backend_error}"
                )
            if timeout is not None and time.monotonic() - start >= timeout:
                break
            wait = self.tick_interval
            if rec is not None and self._driving and not rec.phase.terminal:
                plan = Plan.from_dict(rec.plan)
                now = self.clock()
                wait = min(wait, max(0.05, engine.next_tick(rec, plan, now) - now))
            if timeout is not None:
                wait = min(wait, max(0.0, timeout - (time.monotonic() - start)))
            if stop is not None:
                stop.wait(wait)
            else:
                time.sleep(wait)
        if self._record is None:
            self._record = self.store.load(self.service)
        if self._record is None:
            raise DriverError(f"{self.service}: no rollout recorded")
        return self._record

    def watch(self) -> RolloutRecord | None:
        """Read the record without the lease and report its events not seen yet; a later
        tick that gets the lease then records that this driver took the rollout over."""
        return self._watch()

    def _watch(self) -> RolloutRecord | None:
        """Viewer: reload the record and report events the driver added since last time."""
        try:
            rec = self.store.load(self.service)
        except BackendError as exc:
            self._mark_down(f"state store: {exc}")
            return self._record
        if rec is None:
            return self._record
        self._catch_up(rec)
        self._record = rec
        return rec

    def _catch_up(self, rec: RolloutRecord) -> None:
        """Show the record's events not seen yet; their driver already notified them."""
        for e in rec.events:
            key = event_key(e)
            if key in self._seen:
                continue
            self._seen.add(key)
            if self.on_event is not None:
                self.on_event(e)

    # ------------------------------------------------------------------ events and audit

    def _notifier(self) -> Notifier | None:
        """The caller's notifier, else the one for the webhooks of the plan being driven, so
        every driver (controller, console, one-shot command) sends the plan's webhooks."""
        if self.notifier is not None or self._record is None:
            return self.notifier
        return plan_notifier(self.service, self._record.plan)

    def _emit(self, events: Sequence[Event]) -> None:
        notifier = self._notifier() if events else None
        for e in events:
            key = event_key(e)
            if key in self._seen:
                continue
            self._seen.add(key)
            if self.on_event is not None:
                self.on_event(e)
            if notifier is not None:
                notifier.send(e)

    def _driver_event(
        self, kind: str, message: str, data: Mapping[str, Any] | None = None
    ) -> Event:
        """An event of this driver's own (not the engine's); kept for the record while
        this driver drives."""
        e = Event(
            at=self.clock(),
            service=self.service,
            kind=kind,
            message=message,
            data=dict(data or {"holder": self.actor}),
        )
        if self._driving:
            self._unsaved = [*self._unsaved, e][-engine_common.MAX_EVENTS :]
        return e

    def _audit(self, action: str, reason: str, **data: Any) -> AuditEntry:
        return AuditEntry(
            at=self.clock(),
            service=self.service,
            actor=self.actor,
            action=action,
            reason=reason,
            user=self.user,
            host=self.host,
            data={"driver": self.holder, **data},
        )

    def record_stop(self, reason: str) -> None:
        """Audit and report that this driver stops (signal, timeout); traffic stays put."""
        rec = self._record
        where = f" at {rec.phase}, weights {split_text(rec.weights)}" if rec else ""
        if not self._driving:
            self._emit([self._driver_event("driver", f"stopped watching ({reason}){where}")])
            return
        msg = f"driver stopped ({reason}){where}; traffic left where it is"
        try:
            self.store.append_audit(self._audit("stop-driver", msg))
        except BackendError:
            pass  # the store is what failed; the event below still tells the operator
        self._emit([self._driver_event("driver", msg)])

    def _drop_pending(self, why: str) -> None:
        for cmd in self._pending:
            self._emit(
                [self._driver_event("command", f"{cmd.kind} from {cmd.user or '?'} ignored: {why}")]
            )
        self._ack(self._pending)
        self._pending = []

    def _ack(self, commands: Sequence[Command]) -> None:
        """Take handled commands off the queue (after the record that applied them is saved).
        If this fails they come back next tick and ``commands_done`` skips them."""
        if not commands or not isinstance(self.store, CommandInbox):
            return
        try:
            self.store.ack_commands(self.service, {command_key(c) for c in commands})
        except BackendError as exc:
            self._emit([self._driver_event("driver", f"commands not acknowledged: {exc}")])
