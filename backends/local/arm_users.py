"""Distinct users per flag variant, kept by the demo gateway for experiment reports. Pure,
injected clock.

A request names its user in ``x-lms-user`` (else the ``lms_user`` cookie), as the flag
evaluation does (backends/local/flag_eval.py); its answer names the variants it used in
``x-lms-flags``. ``users(flag, variants, window)`` counts the users seen on each variant in
the last ``window`` seconds. Bounded: at most ``MAX_PAIRS`` (flag, variant) pairs and
``MAX_USERS`` users per pair are remembered (more are not counted).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from backends.local.flag_metrics import parse_header

MAX_PAIRS = 32
MAX_USERS = 20_000
USER_HEADER = b"x-lms-user"
USER_COOKIE = "lms_user"


def user_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The request's user: ``x-lms-user``, else the ``lms_user`` cookie, else ""."""
    cookie = ""
    for name, value in headers:
        if name == USER_HEADER:
            return value.decode("latin-1").strip()[:128]
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == USER_COOKIE:
                    cookie = val.strip()[:128]
    return cookie


class ArmUsers:
    """When each user was last seen on each flag variant (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.seen: dict[tuple[str, str], dict[str, float]] = {}

    def observe(self, flags_header: str, user: str) -> None:
        if not user:
            return
        now = self.clock()
        for pair in parse_header(flags_header):
            users = self.seen.get(pair)
            if users is None:
                if len(self.seen) >= MAX_PAIRS:
                    continue
                users = self.seen[pair] = {}
            if user in users or len(users) < MAX_USERS:
                users[user] = now

    def users(self, flag: str, variants: Sequence[str], window: float) -> dict[str, int]:
        """Users seen on each variant in the last ``window`` seconds."""
        since = self.clock() - window
        out = {}
        for v in variants:
            seen = self.seen.get((flag, v), {})
            out[v] = sum(1 for at in seen.values() if at >= since)
        return out
