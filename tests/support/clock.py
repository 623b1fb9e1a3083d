"""The one hand-moved clock for tests: pass it wherever code takes ``clock: () -> float``."""

from __future__ import annotations

T0 = 1_700_000_000.0  # a fixed instant (2023-11-14 22:13:20 UTC) for deterministic output


class Clock:
    """Time stands still until the test moves it: ``clock()`` and ``clock.now`` read it,
    ``advance(seconds)`` moves it (or assign ``clock.now``)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward; returns the new time."""
        self.now += seconds
        return self.now
