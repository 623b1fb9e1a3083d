"""Bounded waits for tests that watch real processes: poll a condition until a deadline.

Every loop here ends by itself (count and time are bounded), as the project's tests require.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def eventually(cond: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """True as soon as ``cond()`` is truthy; False if it still is not after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(interval)
    return bool(cond())


def wait_until(
    cond: Callable[[], object],
    timeout: float = 15.0,
    what: str = "condition",
    interval: float = 0.05,
) -> None:
    """Return once ``cond()`` is truthy; fail the test naming ``what`` after ``timeout`` s."""
    if not eventually(cond, timeout, interval):
        raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy and return that; an AssertionError
    counts as "not yet". Fails naming ``what`` (and the last result) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: last={last!r}")
