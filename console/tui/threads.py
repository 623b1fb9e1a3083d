"""Messages from the console's background threads, and the runner for those threads.

Backend calls never run on the UI thread: they run in daemon threads that post these
messages back (``post_message`` is thread-safe), and the app updates state on receipt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from textual.message import Message

from console.view.overview import Snapshot


class SnapshotReady(Message):
    """A poll finished. Only the newest matters, so queued ones replace each other."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


class HistoryReady(Message):
    def __init__(self, service: str, history: dict[str, list[Any]]) -> None:
        super().__init__()
        self.service = service
        self.history = history


class Flash(Message):
    """Text for the flash line, from any thread."""

    def __init__(self, text: str, severity: str = "info") -> None:
        super().__init__()
        self.text = text
        self.severity = severity


class Background:
    """One blocking job at a time in a daemon thread; ``start`` skips while one still runs.

    Daemon threads rather than Textual thread workers: a backend call that hangs (a dead
    API server without a timeout) must not keep the console from quitting.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def start(self, fn: Callable[..., Any], *args: Any) -> bool:
        if not self._lock.acquire(blocking=False):
            return False

        def run() -> None:
            try:
                fn(*args)
            finally:
                self._lock.release()

        threading.Thread(target=run, name=f"rollout-{self.name}", daemon=True).start()
        return True


def spawn(fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` once in a daemon thread (a hung backend must not block quitting)."""
    threading.Thread(target=fn, args=args, daemon=True).start()
