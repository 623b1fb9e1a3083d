"""The console's audit on a foreign controller's object (an Argo Rollout, a Flagger Canary).

Each verb writes one core/v1 Event on the object: ``reason: RolloutConsole``, ``action`` the
verb, the operator (``user@host``) in ``reportingInstance`` and the annotation
``rollout.console/user``, ``message`` ``"<verb> by <user>[: <why>]"``. ``history`` reads the
object's Events back, ours and the controller's, as ``AuditEntry`` rows oldest first. Pure:
the callers send the requests (backends/kubernetes/argo.py, flagger.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from backends.base import AuditEntry

EVENT_REASON = "RolloutConsole"
REPORTER = "rollout-console"


def epoch(stamp: Any) -> float | None:
    """RFC 3339 (``2026-12-03T16:00:00Z``) -> POSIX seconds; None when absent or unreadable."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def verb_message(verb: str, user: str, reason: str = "") -> str:
    """``promote by alice@laptop: dashboards`` (no colon part without a reason)."""
    return f"{verb} by {user}" + (f": {reason}" if reason else "")


def event_body(
    involved: Mapping[str, Any],
    namespace: str,
    action: str,
    user: str,
    message: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The Event recording ``action`` by ``user`` on the object ``involved`` (its
    ``involvedObject``: apiVersion, kind, name, and uid when known)."""
    now = now or datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{involved.get('name')}.{uuid.uuid4().hex[:12]}",
            "namespace": namespace,
            "annotations": {"rollout.console/user": user, "rollout.console/verb": action},
        },
        "involvedObject": {**involved, "namespace": namespace},
        "reason": EVENT_REASON,
        "action": action,
        "message": message,
        "type": "Normal",
        "source": {"component": REPORTER},
        "reportingComponent": REPORTER,
        "reportingInstance": user,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        # microseconds: two verbs in one second keep their order
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "count": 1,
    }


def history(
    events: Iterable[Mapping[str, Any]],
    kind: str,
    name: str,
    controller: str,
    limit: int | None = None,
) -> list[AuditEntry]:
    """The Events on ``kind``/``name``, oldest first (the last ``limit`` when given); an
    Event that is not ours is the controller's, under its reporting component."""
    entries = []
    for e in events:
        inv = e.get("involvedObject") or {}
        if inv.get("kind") != kind or inv.get("name") != name:
            continue  # a server that ignored the field selector (the emulator)
        entries.append(audit_entry(name, e, controller))
    entries.sort(key=lambda a: a.at)
    return entries[-limit:] if limit else entries


def audit_entry(name: str, event: Mapping[str, Any], controller: str) -> AuditEntry:
    """One Event as an audit row: ours with who, verb and why; the controller's as
    (component, reason, message)."""
    # The latest occurrence: a repeated Event moves lastTimestamp (second precision),
    # eventTime keeps microseconds.
    stamps = [epoch(event.get(k)) for k in ("eventTime", "lastTimestamp")]
    known = [s for s in stamps if s is not None]
    at = max(known) if known else (epoch(event.get("firstTimestamp")) or 0.0)
    if event.get("reason") == EVENT_REASON:
        notes = (event.get("metadata") or {}).get("annotations") or {}
        user = str(notes.get("rollout.console/user", ""))
        verb = str(notes.get("rollout.console/verb") or event.get("action") or "")
        message = str(event.get("message", ""))
        prefix = f"{verb} by {user}"
        why = (
            message.removeprefix(prefix).lstrip(": ").strip()
            if message.startswith(prefix)
            else message
        )
        who, _, host = user.partition("@")
        return AuditEntry(at, name, user, verb, why, user=who, host=host)
    source = (event.get("source") or {}).get("component") or event.get("reportingComponent")
    return AuditEntry(
        at,
        name,
        str(source or controller),
        str(event.get("reason", "")),
        str(event.get("message", "")),
    )
