"""What a drill does when: the timeline entries that fall due. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from console.drills.model import Event


def due(events: Sequence[Event], played: int, elapsed: float) -> list[Event]:
    """The entries after the first ``played`` ones whose time has come (events are sorted)."""
    out = []
    for event in events[played:]:
        if event.at > elapsed:
            break
        out.append(event)
    return out


def parse_respond(value: str) -> tuple[str, float]:
    """``ACTION@SECONDS`` (``rollback@12``, ``pause@8.5s``) -> (action, seconds); raises
    ValueError saying what is expected."""
    from backends.units import parse_duration
    from console.drills.model import ACTIONS

    action, sep, when = value.partition("@")
    if not sep or action not in ACTIONS:
        raise ValueError(
            f"--respond {value!r}: expected ACTION@SECONDS with ACTION one of {', '.join(ACTIONS)}"
        )
    try:
        at = parse_duration(when)
    except ValueError:
        raise ValueError(f"--respond {value!r}: {when!r} is not a time like 12 or 12s") from None
    if at < 0:
        raise ValueError(f"--respond {value!r}: the time must be 0 or more")
    return action, at
