"""Webhook notifications (Slack-compatible JSON), sent off the driver's thread.

``Notifier.send`` only puts the event on a bounded queue; a background thread POSTs it with
a short timeout and a couple of retries. Nothing here ever blocks or fails a rollout: a
delivery that gives up, or an event dropped because the queue is full, becomes a
``notify-failed`` event that the driver collects with ``drain_failures()`` on its own thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from backends.base import Event

# The events worth waking someone up for (DESIGN.md: start, each step, pause, breach,
# rollback, completion); the rest (analysis ticks, health waits) stay in the log.
NOTIFY_KINDS = frozenset(
    {"started", "step", "weight", "pause", "breach", "rollback", "completed", "aborted"}
)

_COLORS = {
    "started": "#439FE0",
    "step": "#439FE0",
    "weight": "#439FE0",
    "pause": "warning",
    "breach": "danger",
    "rollback": "danger",
    "aborted": "danger",
    "completed": "good",
}

_STOP = object()


def redact_url(url: str) -> str:
    """Scheme and host only: webhook paths are secrets (Slack puts the token there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "<webhook>"


def payload(event: Event) -> dict[str, Any]:
    """The Slack-compatible body for one event: ``text`` plus one attachment with fields."""
    text = f"rollout {event.service}: {event.kind}: {event.message}"
    return {
        "text": text,
        "attachments": [
            {
                "fallback": text,
                "color": _COLORS.get(event.kind, "#888888"),
                "fields": [
                    {"title": "service", "value": event.service, "short": True},
                    {"title": "event", "value": event.kind, "short": True},
                ],
                "ts": int(event.at),
            }
        ],
    }


class Notifier:
    """POSTs events to webhooks from a background thread; ``send`` never blocks."""

    def __init__(
        self,
        webhooks: Iterable[str],
        timeout: float = 2.0,
        *,
        retries: int = 2,
        backoff: float = 0.5,
        queue_size: int = 100,
        kinds: Iterable[str] = NOTIFY_KINDS,
    ) -> None:
        self.webhooks = tuple(webhooks)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.kinds = frozenset(kinds)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._failures: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.sent = 0  # deliveries that got a 2xx (for tests and the summary)

    def send(self, event: Event) -> None:
        """Queue the event for every webhook if its kind is notified; returns at once."""
        if self._closed or not self.webhooks or event.kind not in self.kinds:
            return
        self._ensure_thread()
        body = payload(event)
        for url in self.webhooks:
            try:
                self._queue.put_nowait((url, body, event))
            except queue.Full:
                self._fail(event, url, "notification queue full; event dropped")

    def drain_failures(self) -> list[Event]:
        """``notify-failed`` events since the last call (call from the driver's thread)."""
        out = []
        while True:
            try:
                out.append(self._failures.get_nowait())
            except queue.Empty:
                return out

    def close(self, wait: float = 5.0) -> None:
        """Stop accepting events; give queued deliveries up to ``wait`` seconds to finish."""
        self._closed = True
        if self._thread is None:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                self._queue.put(_STOP, timeout=max(0.01, deadline - time.monotonic()))
                break
            except queue.Full:
                continue
        self._thread.join(max(0.0, deadline - time.monotonic()))
        # Whatever is still queued will never go out: say so rather than lose it silently.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                url, _body, event = item
                self._fail(event, url, f"not sent: still queued after {wait:g} s at exit")

    # ------------------------------------------------------------------ worker

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="rollout-notify", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                url, body, event = item
                self._deliver(client, url, body, event)

    def _deliver(
        self, client: httpx.Client, url: str, body: Mapping[str, Any], event: Event
    ) -> None:
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                resp = client.post(url, json=body)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}"
                continue
            if 200 <= resp.status_code < 300:
                self.sent += 1
                return
            error = f"HTTP {resp.status_code}"
        self._fail(event, url, f"{error} after {self.retries + 1} attempts")

    def _fail(self, event: Event, url: str, why: str) -> None:
        self._failures.put(
            Event(
                at=time.time(),
                service=event.service,
                kind="notify-failed",
                message=f"webhook {redact_url(url)}: {event.kind} not delivered: {why}",
                data={"event": event.kind, "webhook": redact_url(url), "error": why},
            )
        )
