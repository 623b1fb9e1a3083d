"""Informer-style caches: list once, then watch from that resourceVersion in a thread.

One ``WatchCache`` per kind (Deployments, Pods, HTTPRoutes, our ConfigMaps). Reads are
served from memory, so a console refreshing every second costs no API calls. A watch that
ends (server timeout) resumes from the last resourceVersion seen; a 410 Gone (history
compacted) relists. Each watch request lives ``watch_timeout`` seconds, which bounds the
calls per minute while nothing changes (see docs/kubernetes.md, "API calls per minute").
"""

from __future__ import annotations

import atexit
import copy
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from backends.base import BackendError
from backends.kubernetes.api import Kind, KubeApi

log = logging.getLogger(__name__)

_LIVE: weakref.WeakSet[WatchCache] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    # A daemon thread still inside the HTTP client when the interpreter finalizes can abort
    # the process (SIGABRT after a clean exit); stop and join the watches first.
    for cache in list(_LIVE):
        cache.stop()


class WatchCache:
    """A live, thread-safe map name -> object for one kind in one namespace."""

    def __init__(
        self,
        api: KubeApi,
        kind: Kind,
        label_selector: str = "",
        *,
        watch_timeout: int = 300,
        retry_delay: float = 1.0,
        on_change: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.api, self.kind, self.selector = api, kind, label_selector
        self.watch_timeout, self.retry_delay = watch_timeout, retry_delay
        self.on_change = on_change
        self._items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resp: Any = None  # the open watch response, to cut it short on stop()
        self.resource_version = ""
        self.relists = 0
        self.error: BackendError | None = None  # the last failure, cleared on success

    # ------------------------------------------------------------------ reading

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(o) for o in self._items.values()]

    def get(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._items.get(name)
            return copy.deepcopy(obj) if obj is not None else None

    def ensure(self, timeout: float = 10.0) -> None:
        """Start the watch if needed and wait for the first list; raise its error if it failed."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"watch-{self.kind.plural}", daemon=True
            )
            self._thread.start()
            _LIVE.add(self)
        if not self._synced.wait(timeout):
            raise self.error or BackendError(
                f"no answer listing {self.kind.plural} within {timeout:.0f}s"
            )
        # A cache whose watch is failing is stale: say so rather than serve old health.
        if self.error is not None:
            raise self.error

    def observe(self, obj: dict[str, Any]) -> None:
        """Fold in an object we just wrote, so our own reads see it before the watch does."""
        self._apply("MODIFIED", obj)

    def stop(self, timeout: float = 2.0) -> None:
        """End the watch thread: cut the open stream and wait (bounded) for it to finish."""
        self._stop.set()
        resp = self._resp
        if resp is not None:
            try:
                resp.shutdown()
            except Exception:
                pass  # already closed
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # ------------------------------------------------------------------ the loop

    def _relist(self) -> None:
        body = self.api.list(self.kind, self.selector)
        fresh = {o["metadata"]["name"]: o for o in body.get("items") or []}
        with self._lock:
            self._items = fresh
            self.resource_version = str(body.get("metadata", {}).get("resourceVersion", ""))
        self.relists += 1
        self.error = None
        self._synced.set()

    def _apply(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if not name:
            return
        with self._lock:
            old = self._items.get(name)
            if kind == "DELETED":
                self._items.pop(name, None)
            elif old is None or _rv(obj) >= _rv(old):
                self._items[name] = obj
            else:
                return
        if self.on_change is not None:
            self.on_change(kind, obj)

    def _opened(self, resp: Any) -> None:
        self._resp = resp
        if self._stop.is_set():
            resp.shutdown()

    def _run(self) -> None:
        need_list = True
        while not self._stop.is_set():
            try:
                if need_list:
                    self._relist()
                    need_list = False
                for event in self.api.watch(
                    self.kind,
                    self.resource_version,
                    self.selector,
                    self.watch_timeout,
                    on_open=self._opened,
                ):
                    if self._stop.is_set():
                        return
                    kind, obj = event.get("type", ""), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            need_list = True  # history compacted: start again from a list
                            break
                        raise BackendError(
                            f"watch of {self.kind.plural} failed: {obj.get('message', obj)}"
                        )
                    self.error = None
                    rv = str((obj.get("metadata") or {}).get("resourceVersion", ""))
                    if rv:
                        self.resource_version = rv
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        self._apply(kind, obj)
                if not need_list:
                    self.error = None
            except BackendError as exc:
                if self._stop.is_set():
                    return  # stop() cut the stream: not an error
                self.error = exc
                self._synced.set()  # let readers fail fast with the error instead of hanging
                log.warning("%s", exc)
                if "410" in str(exc):
                    need_list = True
                if self._stop.wait(self.retry_delay):
                    return
                if self.relists == 0:
                    need_list = True


def _rv(obj: dict[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion", "0"))
    except ValueError:
        return 0  # resourceVersions are opaque; fall back to "newest event wins"
