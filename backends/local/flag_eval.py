"""Feature flags inside a demo service instance, evaluated through OpenFeature.

The instance evaluates through the OpenFeature Python SDK (a client of the global API) with
``CheckedFlagdProvider`` (backends/local/flag_provider.py: flagd's own evaluator, fed only
checked definitions; it says why not flagd's file-mode provider). A task in the instance's
event loop polls the demo's flag file (every 0.1 s: a change shows within about 0.2 s), checks it with
``backends.flagd.model`` and loads only a good one into the provider. A malformed file is
reported on stderr (the demo log) once per change, with file and field, and the instance
keeps serving the last good flags.

The evaluation context: the targeting key is the user (header ``x-lms-user``, else cookie
``lms_user``), attribute ``user`` too, and each ``x-lms-*`` request header by its
lower-case name (``x-lms-beta``). Importing this module is cheap; OpenFeature is imported
when ``ServiceFlags.start`` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from backends.base import FlagFileError
from backends.flagd import model

POLL = 0.1  # seconds between checks of the flag file
USER_HEADER = b"x-lms-user"
USER_COOKIE = "lms_user"
DEFAULT_LABEL = "default"  # the variant label when the code default was served


def request_context(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, dict[str, str]]:
    """(targeting key, attributes) from request headers: the user and every x-lms-* header."""
    user = ""
    cookie_user = ""
    attrs: dict[str, str] = {}
    for name, value in headers:
        if name.startswith(b"x-lms-"):
            text = value.decode("latin-1").strip()
            attrs[name.decode("latin-1")] = text
            if name == USER_HEADER:
                user = text
        elif name == b"cookie" and not cookie_user:
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == USER_COOKIE:
                    cookie_user = v.strip()
    user = user or cookie_user
    if user:
        attrs["user"] = user
    return user, attrs


class ServiceFlags:
    """The flags one instance evaluates; ``variants(keys, headers)`` per request."""

    def __init__(self, source: Path, instance: str, log: Any = None) -> None:
        self.source = source
        self.instance = instance
        self.log = log or sys.stderr
        self.kinds: dict[str, str] = {}  # flag key -> boolean/string/number/object
        self.loaded_at = 0.0
        self.error = ""  # the last refusal, "" once a good file loads again
        self._seen: tuple[int, int, int] | None = None
        self._client: Any = None
        self._ctx: Any = None
        self._provider: Any = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> bool:
        """Load the flags and start watching; False if there is no good file yet (the
        watcher loads one when it appears; until then the code defaults answer)."""
        from openfeature import api
        from openfeature.evaluation_context import EvaluationContext

        from backends.local.flag_provider import CheckedFlagdProvider

        # flagd's evaluator logs every request without a user at warning level.
        logging.getLogger("openfeature").setLevel(logging.ERROR)
        self._provider = CheckedFlagdProvider()
        loaded = self._refresh()
        api.set_provider_and_wait(self._provider)
        self._client = api.get_client()
        self._ctx = EvaluationContext
        return loaded

    async def watch(self) -> None:
        """Poll the file every POLL seconds, in the instance's event loop: a thread of its
        own would take the GIL from the loop ten times a second (on a loaded machine each
        hand-back waits for the scheduler)."""
        while True:
            await asyncio.sleep(POLL)
            self.poll()

    def poll(self) -> None:
        """One check of the file (what ``watch`` does every POLL seconds)."""
        try:
            self._refresh()
        except Exception as exc:  # the watch must outlive any surprise
            self._report(f"flags: {self.source}: {exc}; keeping the last good flags")

    # ------------------------------------------------------------------ the check

    def _refresh(self) -> bool:
        """Load the file into the provider if it changed and is good; True if loaded."""
        try:
            st = os.stat(self.source)
        except OSError:
            return False
        seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            doc = model.parse(self.source.read_bytes(), str(self.source))
        except OSError:
            self._seen = None  # try again on the next poll
            return False
        except FlagFileError as exc:
            self._report(f"flags: {exc}; keeping the last good flags")
            self.error = str(exc)
            return False
        self._provider.load(doc.raw)
        self.kinds = {k: _kind(f.variants) for k, f in doc.flags.items()}
        self.loaded_at = time.time()
        if self.error:
            self._report(f"flags: {self.source} is good again; loaded")
        self.error = ""
        return True

    def _report(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            print(f"{self.instance}: {text}", file=self.log, flush=True)

    # ------------------------------------------------------------------ evaluation

    def evaluate(
        self, key: str, headers: Iterable[tuple[bytes, bytes]], default: Any
    ) -> tuple[Any, str]:
        """(value, variant label) of one flag for a request; the code default and
        ``"default"`` when the flag is absent, disabled or not loaded."""
        return self.evaluate_many({key: default}, headers)[key]

    def evaluate_many(
        self, defaults: Mapping[str, Any], headers: Iterable[tuple[bytes, bytes]]
    ) -> dict[str, tuple[Any, str]]:
        if self._client is None:
            return {k: (d, DEFAULT_LABEL) for k, d in defaults.items()}
        user, attrs = request_context(headers)
        ctx = self._ctx(targeting_key=user or None, attributes=attrs)
        out: dict[str, tuple[Any, str]] = {}
        for key, default in defaults.items():
            getter = {
                "boolean": self._client.get_boolean_details,
                "string": self._client.get_string_details,
                "number": self._client.get_float_details,
            }.get(self.kinds.get(key, ""), self._client.get_object_details)
            details = getter(key, default, ctx)
            label = details.variant if details.variant is not None else DEFAULT_LABEL
            out[key] = (details.value, str(label))
        return out

    def status(self) -> dict[str, Any]:
        """For ``GET /_admin/flags``: what is loaded and the last refusal."""
        return {
            "source": str(self.source),
            "loaded": bool(self.loaded_at),
            "loaded_at": self.loaded_at,
            "error": self.error,
            "flags": sorted(self.kinds),
        }


def _kind(variants: Mapping[str, Any]) -> str:
    first = next(iter(variants.values()), None)
    if isinstance(first, bool):
        return "boolean"
    if isinstance(first, int | float):
        return "number"
    if isinstance(first, str):
        return "string"
    return "object"


def from_environment(instance: str) -> ServiceFlags | None:
    """The instance's flags when the demo gave a flag file (``LMS_FLAGS_FILE``), else None."""
    path = os.environ.get("LMS_FLAGS_FILE")
    if not path:
        return None
    return ServiceFlags(Path(path), instance)
