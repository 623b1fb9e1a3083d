"""Helpers for Textual Pilot tests of the console: bounded waits and what the chrome says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


async def settle(pilot: Any, until: Callable[[], object], tries: int = 100) -> bool:
    """Let the app run until ``until()`` holds (bounded: ``tries`` pauses of 50 ms)."""
    for _ in range(tries):
        if until():
            return True
        await pilot.pause(0.05)
    return bool(until())


async def ready(pilot: Any, app: Any) -> None:
    """Wait for the first snapshot with services, then paint it."""
    assert await settle(pilot, lambda: app.snapshot is not None and app.snapshot.services)
    app.repaint()
    await pilot.pause()


def flash_text(app: Any) -> str:
    """The last flash message the app showed."""
    return str(app.last_flash[0])


def header_line(app: Any) -> str:
    """The current screen's header line as shown."""
    return str(app.screen.query_one("#header").render())
