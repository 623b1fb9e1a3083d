"""Changing feature flags, audited: the one path for ``rollout flags`` and the Flags screen.

``apply(env, change, reason=...)`` runs one change on the environment's ``FlagBackend`` and
appends an ``AuditEntry`` to its store under ``FLAG_AUDIT_SERVICE`` ("flags", so
``rollout history flags`` lists them): the actor, the action (``flag-set``, ``flag-percent``,
``flag-off``, ``flag-kill-all``, ``flag-enable``, ``flag-disable``), a reason that says what
changed and the operator's words, and the flags before and after in ``data``. A failing
audit write does not undo the change; the result says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from backends.base import (
    FLAG_AUDIT_SERVICE,
    AuditEntry,
    BackendError,
    Environment,
    Flag,
    FlagBackend,
    percent_split,
)
from console.driver.edges import whoami

ACTIONS = ("flag-set", "flag-percent", "flag-off", "flag-kill-all", "flag-enable", "flag-disable")


class NoFlags(Exception):
    """The environment has no flag source configured (exit 2: the config to fix)."""


@dataclass(frozen=True)
class FlagChange:
    """What to change: ``action`` one of ACTIONS; ``flag`` (None for flag-kill-all)."""

    action: str
    flag: str | None = None
    variant: str | None = None
    percent: int | None = None

    def words(self) -> str:
        """``new-gradebook -> on for 20% of users``: the change as the audit says it."""
        if self.action == "flag-set":
            return f"{self.flag} -> {self.variant} for everyone outside the cohorts"
        if self.action == "flag-percent":
            return f"{self.flag} -> {self.variant} for {self.percent}% of users"
        if self.action == "flag-off":
            return f"{self.flag} -> off (kill switch)"
        if self.action == "flag-kill-all":
            return "every flag -> off (kill switch)"
        if self.action == "flag-enable":
            return f"{self.flag} enabled"
        return f"{self.flag} disabled"


@dataclass(frozen=True)
class Applied:
    """The flags as written, and a warning when the audit could not be written."""

    flags: list[Flag]
    audit: AuditEntry
    warning: str = ""
    before: list[Flag] = field(default_factory=list)


def backend_of(env: Environment) -> FlagBackend:
    """The environment's flags, or NoFlags naming what to configure."""
    if env.flags is None:
        raise NoFlags(
            f"environment '{env.name}' has no flags; add environments.{env.name}.flags: "
            "{kind: flagd, file: PATH} to the config"
        )
    return env.flags


def apply(
    env: Environment,
    change: FlagChange,
    *,
    reason: str = "",
    actor: str | None = None,
    clock: Callable[[], float] = time.time,
) -> Applied:
    """Make the change and audit it. Raises UnknownFlag/UnknownVariant, FlagFileError,
    Unsupported, BackendError (unreachable), ValueError (a percent out of range)."""
    backend = backend_of(env)
    user, host = whoami()
    before: list[Flag] = []
    if change.action == "flag-kill-all":
        before = backend.flags()
        after = backend.kill_all()
    else:
        key = change.flag or ""
        current = backend.flag(key)
        before = [current]
        after = [_one(backend, current, change)]
    words = change.words()
    entry = AuditEntry(
        at=clock(),
        service=FLAG_AUDIT_SERVICE,
        actor=actor or f"{user}@{host}",
        action=change.action,
        reason=f"{words}; {reason}" if reason else words,
        user=user,
        host=host,
        data={
            "flag": change.flag,
            "variant": change.variant,
            "percent": change.percent,
            "before": [f.to_dict() for f in before],
            "after": [f.to_dict() for f in after],
        },
    )
    warning = ""
    if env.store is None:
        warning = f"environment '{env.name}' keeps no audit log; the change is not recorded"
    else:
        try:
            env.store.append_audit(entry)
        except (OSError, BackendError) as exc:
            warning = f"the change is made but the audit entry could not be written: {exc}"
    return Applied(flags=after, audit=entry, warning=warning, before=before)


def _one(backend: FlagBackend, current: Flag, change: FlagChange) -> Flag:
    key = current.key
    if change.action == "flag-set":
        return backend.set_default(key, change.variant or "")
    if change.action == "flag-percent":
        weights = percent_split(current, change.variant or "", int(change.percent or 0))
        return backend.set_fractional(key, weights)
    if change.action == "flag-off":
        return backend.kill(key)
    if change.action in ("flag-enable", "flag-disable"):
        return backend.set_enabled(key, change.action == "flag-enable")
    raise ValueError(f"unknown flag change {change.action!r}; known: {', '.join(ACTIONS)}")
