"""What the console shows about unguarded rollouts, as plain text and sets (no Textual).

The verdicts come from ``console.driver.guard`` (``Guard`` per rollout); this turns them into
the header line, a row's driver cell, the analysis panel's "N s ago, no driver", the set of
rollouts to ring the bell for (once per unguarded stretch), and what a ``--standby`` console
takes over by itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from console.driver.guard import Guard
from console.view.text import clock_time


def row_text(guard: Guard | None) -> str | None:
    """``UNGUARDED since 12:00:03`` for an unguarded rollout, else None."""
    if guard is None or guard.guarded or guard.since is None:
        return None
    return f"UNGUARDED since {clock_time(guard.since)}"


def header_line(guards: Mapping[str, Guard]) -> str | None:
    """One line naming every unguarded rollout, oldest first; None when there is none."""
    bad = sorted(
        ((g.since, name) for name, g in guards.items() if not g.guarded and g.since is not None),
    )
    if not bad:
        return None
    names = ", ".join(f"{name} since {clock_time(since)}" for since, name in bad)
    return f"UNGUARDED (no driver; nothing reverts a breach): {names}"


def measurement_age(last_at: float | None, now: float, guard: Guard | None) -> str | None:
    """``12 s ago, no driver`` for the last measurement of an unguarded rollout, else None
    (a driven rollout's measurement is fresh enough to show as it is)."""
    if last_at is None or guard is None or guard.guarded:
        return None
    return f"{max(0, int(now - last_at))} s ago, no driver"


def newly_unguarded(
    alerted: Mapping[str, float], guards: Mapping[str, Guard]
) -> tuple[set[str], dict[str, float]]:
    """Which rollouts to ring the bell for now, and the memory to keep for the next call.

    ``alerted`` maps a service to the ``since`` of the stretch already rung for; a rollout
    rings once per stretch (a new ``since`` rings again), and one guarded again is forgotten.
    """
    ring: set[str] = set()
    keep: dict[str, float] = {}
    for name, g in guards.items():
        if g.guarded or g.since is None:
            continue
        keep[name] = g.since
        if alerted.get(name) != g.since:
            ring.add(name)
    return ring, keep


def to_take_over(
    guards: Mapping[str, Guard], *, standby: bool, read_only: bool, driving: Set[str] = frozenset()
) -> list[str]:
    """The rollouts a ``--standby`` console drives by itself: every unguarded one it does not
    drive already; none when it is not a standby or is read-only."""
    if not standby or read_only:
        return []
    return sorted(n for n, g in guards.items() if not g.guarded and n not in driving)
