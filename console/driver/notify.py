"""Webhook notifications (Slack-compatible JSON), sent off the driver's thread.

``Notifier.send`` only puts the event on each webhook's own bounded queue; one background
thread per webhook POSTs it with a short timeout and a couple of retries, so a hanging or
failing webhook never delays the others. Nothing here ever blocks or fails a rollout: a
delivery that gives up, or an event dropped because the queue is full, becomes a
``notify-failed`` event that the driver collects with ``drain_failures()`` on its own thread.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from backends.base import Event

# The events worth waking someone up for (docs/ci-cd.md: start, each step, pause, breach,
# rollback, completion); the rest (analysis ticks, health waits) stay in the log.
NOTIFY_KINDS = frozenset(
    {
        "started",
        "step",
        "weight",
        "pause",
        "breach",
        "rollback",
        "completed",
        "aborted",
        "unguarded",
    }
)

_COLORS = {
    "started": "#439FE0",
    "step": "#439FE0",
    "weight": "#439FE0",
    "pause": "warning",
    "breach": "danger",
    "rollback": "danger",
    "aborted": "danger",
    "unguarded": "danger",
    "completed": "good",
}

_STOP = object()


def redact_url(url: str) -> str:
    """Scheme, host, port and the path but its last segment: enough to tell webhooks apart,
    while the last segment (where Slack and most services put the token) stays hidden."""
    parts = urlsplit(url)
    if not parts.netloc:
        return "<webhook>"
    segments = [s for s in parts.path.split("/") if s]
    shown = "/".join(segments[:-1])
    return f"{parts.scheme}://{parts.netloc}/{shown + '/' if shown else ''}…"


def webhook_label(url: str, index: int | None = None) -> str:
    """How failure lines name a webhook: ``webhook #2 (http://host:port/hooks/…)``."""
    number = f" #{index}" if index is not None else ""
    return f"webhook{number} ({redact_url(url)})"


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


class _Channel:
    """One webhook's own bounded queue and worker thread, so a slow URL delays only itself."""

    def __init__(self, url: str, label: str, queue_size: int) -> None:
        self.url = url
        self.label = label
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self.thread: threading.Thread | None = None


class Notifier:
    """POSTs events to webhooks, one background thread per URL; ``send`` never blocks."""

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
        many = len(self.webhooks) > 1
        self._channels = [
            _Channel(url, webhook_label(url, i + 1 if many else None), queue_size)
            for i, url in enumerate(self.webhooks)
        ]
        self._failures: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self.sent = 0  # deliveries that got a 2xx (for tests and the summary)

    def send(self, event: Event) -> None:
        """Queue the event for every webhook if its kind is notified; returns at once."""
        if self._closed or not self.webhooks or event.kind not in self.kinds:
            return
        body = payload(event)
        for channel in self._channels:
            self._ensure_thread(channel)
            try:
                channel.queue.put_nowait((body, event))
            except queue.Full:
                self._fail(event, channel, "notification queue full; event dropped")

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
        running = [c for c in self._channels if c.thread is not None]
        deadline = time.monotonic() + wait
        for channel in running:
            # A full queue means that worker is stuck; it gets no stop marker, and what it
            # still holds is reported below (its thread is a daemon and dies with us).
            try:
                channel.queue.put_nowait(_STOP)
            except queue.Full:
                pass
        for channel in running:
            assert channel.thread is not None
            channel.thread.join(max(0.0, deadline - time.monotonic()))
        # Whatever is still queued will never go out: say so rather than lose it silently.
        for channel in running:
            while True:
                try:
                    item = channel.queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    _body, event = item
                    self._fail(event, channel, f"not sent: still queued after {wait:g} s at exit")

    # ------------------------------------------------------------------ workers

    def _ensure_thread(self, channel: _Channel) -> None:
        if channel.thread is None:
            channel.thread = threading.Thread(
                target=self._work, args=(channel,), name="rollout-notify", daemon=True
            )
            channel.thread.start()

    def _work(self, channel: _Channel) -> None:
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            while True:
                item = channel.queue.get()
                if item is _STOP:
                    return
                body, event = item
                self._deliver(client, channel, body, event)

    def _deliver(
        self, client: httpx.Client, channel: _Channel, body: Mapping[str, Any], event: Event
    ) -> None:
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                resp = client.post(channel.url, json=body)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}"
                continue
            if 200 <= resp.status_code < 300:
                with self._lock:  # several workers count deliveries
                    self.sent += 1
                return
            error = f"HTTP {resp.status_code}"
        self._fail(event, channel, f"{error} after {self.retries + 1} attempts")

    def _fail(self, event: Event, channel: _Channel, why: str) -> None:
        self._failures.put(
            Event(
                at=time.time(),
                service=event.service,
                kind="notify-failed",
                message=f"{channel.label}: {event.kind} not delivered: {why}",
                data={"event": event.kind, "webhook": channel.label, "error": why},
            )
        )


# Notifiers made for drivers that were given none: one per service and webhook list in this
# process, flushed (up to 5 s) when the interpreter exits, so a one-shot command's webhook
# still goes out after its tick.
_PLAN_NOTIFIERS: dict[tuple[str, tuple[str, ...]], Notifier] = {}
_PLAN_LOCK = threading.Lock()
_AT_EXIT: list[bool] = []  # close_plan_notifiers registered with atexit


def plan_notifier(service: str, plan: Mapping[str, Any]) -> Notifier | None:
    """The notifier for a recorded plan's webhooks (``plan["webhooks"]``), or None if it
    names none. The same one for the same service and webhooks, for the process's life."""
    hooks = plan.get("webhooks") or ()
    if not isinstance(hooks, list | tuple) or not hooks:
        return None
    key = (service, tuple(str(h) for h in hooks))
    with _PLAN_LOCK:
        notifier = _PLAN_NOTIFIERS.get(key)
        if notifier is None:
            if not _AT_EXIT:
                atexit.register(close_plan_notifiers)
                _AT_EXIT.append(True)
            notifier = _PLAN_NOTIFIERS[key] = Notifier(key[1])
        return notifier


def close_plan_notifiers(wait: float = 5.0) -> list[Event]:
    """Flush and close every notifier ``plan_notifier`` made (within ``wait`` seconds in
    all); returns the deliveries that failed, as ``notify-failed`` events."""
    with _PLAN_LOCK:
        notifiers = list(_PLAN_NOTIFIERS.values())
        _PLAN_NOTIFIERS.clear()
    deadline = time.monotonic() + wait
    failures: list[Event] = []
    for n in notifiers:
        n.close(wait=max(0.0, deadline - time.monotonic()))
        failures.extend(n.drain_failures())
    return failures
