"""Is a rollout guarded? Pure logic: a record, the store's lease and the time in; a verdict out.

A rollout is *unguarded* when all three hold:

- it is not finished (its phase is not terminal);
- the candidate gets some traffic: weight, match routes or mirroring, as the record says
  (``weights``, and the engine's ``match_on`` / ``mirror_on``) or as the live split shows;
- no driver has renewed its lease for longer than the lease TTL.

A driver renews its lease every tick for ``ttl`` seconds, so "no live driver for longer than
the TTL" is the moment its last lease ran out. When that moment is:

- the stored lease's ``expires_at`` when the store still holds the expired lease (a driver
  killed without releasing it: the file store keeps the file; a Kubernetes Lease keeps its
  ``renewTime``);
- otherwise ``record.updated_at + ttl``: whoever last wrote the record held the lease then,
  so it ran at least that long (a released or forgotten lease leaves only this). A driver
  does not write a tick that changes nothing, so when it released its lease long after its
  last write this says "since" earlier than the truth.

The later of the two is used: both are lower bounds of when the last driver's promise ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from backends.base import Lease, RolloutRecord, TrafficSplit
from console.engine.state import EngineState

DEFAULT_TTL = 10.0  # seconds: the Driver's default lease TTL


class GuardReason(StrEnum):
    NO_ROLLOUT = "no rollout"
    FINISHED = "finished"  # a terminal phase: all traffic on one version, nothing to guard
    NOT_EXPOSED = "candidate takes no traffic"
    DRIVEN = "driven"  # a live lease
    GRACE = "no driver, within the lease TTL"  # a handover (start -> controller) looks so
    UNGUARDED = "unguarded"


@dataclass(frozen=True)
class Guard:
    """The verdict. ``driver`` is the live lease's holder; ``since`` when it became unguarded
    (set only when ``guarded`` is False)."""

    guarded: bool
    reason: GuardReason
    driver: str | None = None
    since: float | None = None


def candidate_exposed(record: RolloutRecord, split: TrafficSplit | None = None) -> bool:
    """Does the candidate get any traffic, by the record's account or the live split's?"""
    cand = record.candidate
    eng = EngineState.of_record(record)
    if record.weights.get(cand, 0) > 0 or eng.match_on or eng.mirror_on:
        return True
    if split is None:
        return False
    return (
        split.weights.get(cand, 0) > 0
        or split.match_version == cand
        or (split.mirror_version == cand and split.mirror_percent > 0)
    )


def unguarded_since(
    record: RolloutRecord, ttl: float = DEFAULT_TTL, expired_at: float | None = None
) -> float:
    """When the last driver's lease ran out, as far as the store can tell (module docstring)."""
    since = record.updated_at + ttl
    if expired_at is not None and expired_at > since:
        since = expired_at
    return since


def guard_state(
    record: RolloutRecord | None,
    lease: Lease | None,
    now: float,
    *,
    ttl: float = DEFAULT_TTL,
    expired_at: float | None = None,
    split: TrafficSplit | None = None,
) -> Guard:
    """The guard verdict for ``record`` at ``now``.

    ``lease`` is the lease as the store has it: live, or expired (then its ``expires_at``
    counts as ``expired_at``), or None. ``split`` is the live traffic split when known.
    """
    if record is None:
        return Guard(True, GuardReason.NO_ROLLOUT)
    if record.phase.terminal:
        return Guard(True, GuardReason.FINISHED)
    if lease is not None and lease.expires_at > now:
        return Guard(True, GuardReason.DRIVEN, driver=lease.holder)
    if not candidate_exposed(record, split):
        return Guard(True, GuardReason.NOT_EXPOSED)
    if lease is not None and (expired_at is None or lease.expires_at > expired_at):
        expired_at = lease.expires_at
    since = unguarded_since(record, ttl, expired_at)
    if now < since:
        return Guard(True, GuardReason.GRACE)
    return Guard(False, GuardReason.UNGUARDED, since=since)


# An ``unguarded`` event in the record marks one unguarded stretch as already reported, so
# that of everyone who notices it (controllers, ``status --check``, consoles) one sends the
# webhook: the one whose compare-and-swap save of the marked record wins.
UNGUARDED_KIND = "unguarded"


def already_reported(record: RolloutRecord, since: float) -> bool:
    """True when the record carries an ``unguarded`` event for the stretch that began at
    ``since`` (one recorded at or after it)."""
    return any(e.kind == UNGUARDED_KIND and e.at >= since for e in record.events)
