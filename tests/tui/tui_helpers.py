"""Helpers for the console tests: a hand-moved clock, a command recorder, a null driver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tui_fakes import T0, canary_record


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Stands in for console.driver.send.send_command and records what the console sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.users: list[Any] = []
        self.caller_drives: list[bool] = []

    def __call__(
        self,
        env: Any,
        service: str,
        kind: str,
        *,
        reason: str = "",
        user: Any = None,
        caller_drives: bool = False,
    ) -> str:
        self.sent.append((service, str(kind)))
        self.caller_drives.append(caller_drives)
        self.users.append(user)
        return f"{kind} posted for {service}"


class NullDriver:
    """A driver that records calls and never touches the environment."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.driving = False
        self.begun: list[Any] = []
        self.ticks = 0

    def begin(self, plan: Any) -> Any:
        self.begun.append(plan)
        self.driving = True
        return canary_record(plan.service)

    def tick(self) -> None:
        self.ticks += 1

    def close(self) -> None:
        self.driving = False


async def settle(pilot: Any, until: Callable[[], bool], tries: int = 100) -> bool:
    """Let the app run until ``until()`` holds (bounded: ``tries`` pauses of 50 ms)."""
    for _ in range(tries):
        if until():
            return True
        await pilot.pause(0.05)
    return until()
