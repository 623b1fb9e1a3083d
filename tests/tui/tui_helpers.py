"""Stand-ins for the console tests: a command recorder and a null driver."""

from __future__ import annotations

from typing import Any

from tests.support.records import canary_record


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
