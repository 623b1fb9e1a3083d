"""The background loop the simulated controllers share (argosim.py, flaggersim.py): one
reconciliation every ``period`` seconds on a daemon thread until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Periodic:
    """Calls ``reconcile()`` every ``period()`` seconds (read before each wait, so a test may
    change it) until ``stop()``. An exception in one call does not end the loop: a
    half-written test object must not kill the thread."""

    def __init__(self, reconcile: Callable[[], object], period: Callable[[], float]) -> None:
        self._reconcile, self._period = reconcile, period
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """End the loop and wait up to ``timeout`` s for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._period()):
            try:
                self._reconcile()
            except Exception:  # a half-written test object must not kill the thread
                continue
