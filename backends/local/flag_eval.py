"""Feature flags inside a demo service instance, evaluated through OpenFeature.

The instance evaluates with the OpenFeature Python SDK and the flagd provider in its file
(in-process) mode. The provider would load any file it can parse, and then answer errors
for a flag whose default variant does not exist, or split users by percentages that do not
sum to 100. So it never watches the demo's flag file itself: a guard thread here polls that
file (every 0.1 s), checks it with ``backends.flagd.model`` and copies only a good one to
the instance's own copy (``<dir>/.flags-live/<instance>.json``, written atomically), which
the provider watches (every 0.1 s). A malformed file is reported once on stderr (the demo
log), with file and field, and the instance keeps serving the last good flags.

The evaluation context: the targeting key is the user (header ``x-lms-user``, else cookie
``lms_user``), attribute ``user`` too, and each ``x-lms-*`` request header by its
lower-case name (``x-lms-beta``). Importing this module is cheap; OpenFeature is imported
when ``ServiceFlags.start`` runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from backends.base import FlagFileError
from backends.flagd import model
from backends.flagd.file import write_atomic

POLL = 0.1  # seconds between checks of the flag file, and the provider's own poll
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
        self.copy = source.parent / ".flags-live" / f"{instance}.json"
        self.log = log or sys.stderr
        self.kinds: dict[str, str] = {}  # flag key -> boolean/string/number/object
        self.loaded_at = 0.0
        self.error = ""  # the last refusal, "" once a good file loads again
        self._seen: tuple[int, int, int] | None = None
        self._client: Any = None
        self._ctx: Any = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> bool:
        """Load the flags and start watching; False (and no flags) if no good file yet."""
        if not self._refresh() and not self.copy.exists():
            self._watch_in_background()
            return False
        self._start_provider()
        self._watch_in_background()
        return True

    def _start_provider(self) -> None:
        from openfeature import api
        from openfeature.contrib.provider.flagd import FlagdProvider
        from openfeature.contrib.provider.flagd.config import ResolverType
        from openfeature.evaluation_context import EvaluationContext

        # The provider logs every user without a targeting key at warning level.
        logging.getLogger("openfeature").setLevel(logging.ERROR)
        provider = FlagdProvider(
            resolver_type=ResolverType.FILE,
            offline_flag_source_path=str(self.copy),
            deadline_ms=int(POLL * 1000),
        )
        api.set_provider_and_wait(provider)
        self._client = api.get_client()
        self._ctx = EvaluationContext

    def _watch_in_background(self) -> None:
        threading.Thread(target=self._watch, daemon=True, name="flag-guard").start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.copy.unlink()

    def _watch(self) -> None:
        while not self._stop.wait(POLL):
            try:
                changed = self._refresh()
            except Exception as exc:  # the guard must outlive any surprise
                self._report(f"flags: {self.source}: {exc}; keeping the last good flags")
                continue
            if changed and self._client is None:
                self._start_provider()

    # ------------------------------------------------------------------ the guard

    def _refresh(self) -> bool:
        """Copy the source to the provider's file if it changed and is good; True if copied."""
        try:
            st = os.stat(self.source)
        except OSError:
            return False
        seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            data = self.source.read_bytes()
            doc = model.parse(data, str(self.source))
        except OSError:
            self._seen = None  # try again on the next poll
            return False
        except FlagFileError as exc:
            self._report(f"flags: {exc}; keeping the last good flags")
            self.error = str(exc)
            return False
        self.copy.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.copy, data)
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
            "loaded": self._client is not None,
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


def header_value(labels: Mapping[str, str]) -> bytes:
    """``x-lms-flags`` value: ``new-gradebook=on, course-recommendations=off``."""
    return ", ".join(f"{k}={v}" for k, v in labels.items()).encode("latin-1", "replace")


def from_environment(instance: str) -> ServiceFlags | None:
    """The instance's flags when the demo gave a flag file (``LMS_FLAGS_FILE``), else None."""
    path = os.environ.get("LMS_FLAGS_FILE")
    if not path:
        return None
    return ServiceFlags(Path(path), instance)
