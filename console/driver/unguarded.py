"""The guard's I/O: read what the store knows of a rollout's lease, and report an unguarded
rollout once, whoever notices it first (a controller, ``rollout status --check``, a console).

Reporting is deduplicated through the store: the reporter appends an ``unguarded`` event to
the record and saves it with compare-and-swap (``updated_at`` untouched, so the "since" time
stays put). Only the reporter whose save wins sends the plan's ``unguarded`` webhook; the
others see the event in the record (``guard.already_reported``) or lose the save.
"""

from __future__ import annotations

import dataclasses
import time

from backends.base import (
    BackendError,
    ConflictError,
    Event,
    Lease,
    RolloutRecord,
    StateStore,
    TrafficSplit,
)
from console.driver.edges import holder_display
from console.driver.guard import (
    DEFAULT_TTL,
    UNGUARDED_KIND,
    Guard,
    already_reported,
    guard_state,
)
from console.driver.notify import Notifier, plan_notifier
from console.engine.context import MAX_EVENTS, split_text


def stored_lease(store: StateStore, service: str) -> Lease | None:
    """The live lease, else the expired one if the store still keeps it (optional
    ``stored_lease`` method of a store), else None."""
    lease = store.lease(service)
    if lease is not None:
        return lease
    read = getattr(store, "stored_lease", None)
    if read is None:
        return None
    try:
        found = read(service)
    except BackendError:
        return None
    return found if isinstance(found, Lease) else None


def check(
    store: StateStore,
    record: RolloutRecord | None,
    now: float,
    *,
    split: TrafficSplit | None = None,
    ttl: float = DEFAULT_TTL,
) -> Guard:
    """``guard.guard_state`` with the lease read from the store."""
    if record is None or record.phase.terminal:
        return guard_state(record, None, now, ttl=ttl, split=split)
    return guard_state(record, stored_lease(store, record.service), now, ttl=ttl, split=split)


def unguarded_text(record: RolloutRecord, since: float) -> str:
    """The one-line reason: what takes traffic and since when nobody drives it."""
    return (
        f"UNGUARDED since {time.strftime('%H:%M:%S', time.localtime(since))}: no driver holds the lease of {record.service} "
        f"while {record.candidate} takes traffic ({split_text(record.weights)}); "
        "run `rollout controller` (or `rollout auto PLAN`) to guard it"
    )


def report(
    store: StateStore,
    record: RolloutRecord,
    guard: Guard,
    now: float,
    *,
    reporter: str,
    notifier: Notifier | None = None,
) -> Event | None:
    """Mark the record as reported for this unguarded stretch and send the webhook.

    Returns the event when this caller won the report, None when it was reported already,
    another writer got there first, or the store failed. ``notifier`` defaults to the one
    for the record's plan webhooks.
    """
    if guard.guarded or guard.since is None or already_reported(record, guard.since):
        return None
    event = Event(
        at=now,
        service=record.service,
        kind=UNGUARDED_KIND,
        message=unguarded_text(record, guard.since),
        data={
            "since": guard.since,
            "candidate": record.candidate,
            "weights": dict(record.weights),
            "noticed_by": holder_display(reporter),
        },
    )
    marked = dataclasses.replace(record, events=(*record.events, event)[-MAX_EVENTS:])
    try:
        store.save(marked, record.revision)
    except (ConflictError, BackendError):
        return None
    sender = notifier if notifier is not None else plan_notifier(record.service, record.plan)
    if sender is not None:
        sender.send(event)
    return event
