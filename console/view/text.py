"""Plain-text and JSON-lines rendering for the headless commands (auto, status, history).

Pure functions from records, events and audit entries to strings; the commands print them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from backends.base import AuditEntry, Event, Phase, RolloutRecord, Strategy
from console.engine.state import EngineState


def one_line(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``), so a newline or a
    terminal escape in a recorded reason can neither forge a line nor drive the terminal."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def clock_time(at: float) -> str:
    """``12:00:03`` in local time."""
    return time.strftime("%H:%M:%S", time.localtime(at))


def iso_time(at: float) -> str:
    """``2026-11-26T12:00:03.250Z`` (UTC), for JSON."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_line(e: Event) -> str:
    """One human line per event: ``12:00:03 courses  weight  v2 10% (step 1/5)``."""
    return one_line(f"{clock_time(e.at)} {e.service}  {e.kind}  {e.message}")


def pause_hint(e: Event) -> str:
    """What a person does about a ``pause`` event: the command that lets the rollout go on."""
    kind = str(e.data.get("pause_kind") or "")
    s = e.service
    if kind == "gate":
        return f"rollout promote {s}"
    if kind == "user":
        return f"rollout resume {s}"
    if kind == "metrics-error":
        return f"resumes by itself once metrics answer; rollout abort {s} rolls back"
    return f"rollout resume {s} or rollout abort {s}"


def next_steps(service: str, plan_path: str, code: int, record: RolloutRecord | None) -> str:
    """For ``auto`` exits 3 and 4: the commands that finish the rollout it left; else ''."""
    if record is None or record.phase.terminal or code not in (3, 4):
        return ""
    again = f"rollout auto {plan_path}"
    if code == 4:
        return f"once the backend answers again, {again} resumes from the recorded step"
    if record.phase == Phase.PAUSED:
        kind = EngineState.of_record(record).pause_kind or ""
        e = Event(at=0.0, service=service, kind="pause", message="", data={"pause_kind": kind})
        first = pause_hint(e) if kind != "metrics-error" else f"rollout status {service}"
        return f"{first}, then {again} to drive it on (or rollout abort {service})"
    return f"{again} resumes from the recorded step (or rollout abort {service} rolls back)"


def event_json(e: Event) -> str:
    """One JSON object per event (``type: event``)."""
    d: dict[str, Any] = {"type": "event", "time": iso_time(e.at), **e.to_dict()}
    return json.dumps(d, sort_keys=False, default=str)


def weights_percent(weights: Mapping[str, int]) -> str:
    """``v1 90% / v2 10%`` for lines a person reads; versions with 0% are left out unless
    nothing has traffic."""
    shown = [(v, w) for v, w in weights.items() if w > 0] or list(weights.items())
    return " / ".join(f"{v} {w}%" for v, w in shown) or "-"


def weights_compact(weights: Mapping[str, int]) -> str:
    """``v1 90 v2 10`` for a table column: every version, sorted by name, no units."""
    return " ".join(f"{v} {w}" for v, w in sorted(weights.items())) or "-"


def step_label(record: RolloutRecord) -> str:
    """``k/n`` for canary (plan steps) and rolling (batches if known); the blue/green stage."""
    if record.strategy == Strategy.CANARY:
        n = len(record.plan.get("steps") or [])
        if n == 0:
            return "-"
        if record.phase == Phase.COMPLETED:
            return f"{n}/{n}"
        return f"{min(record.step_index + 1, n)}/{n}"
    if record.strategy == Strategy.ROLLING:
        eng = EngineState.of_record(record)
        batches = eng.batches
        if batches is not None and batches > 0:
            # Between batches the one just finished is the current one ("batch 1/3 done").
            between = eng.sub in ("between", "final")
            k = record.step_index if between and record.step_index > 0 else record.step_index + 1
            return f"{min(k, batches)}/{batches}"
        return str(record.step_index + 1)
    # blue/green has stages, not steps: show the stage (deploy, preview, await, switch, post)
    sub = EngineState.of_record(record).sub
    if record.phase.terminal or not sub:
        return "-"
    return str(sub)


def table(rows: list[list[str]], header: list[str]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    rows = [[one_line(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def audit_line(a: AuditEntry) -> str:
    """``2026-11-26 12:00:03  alice@laptop  promote  reason``."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(a.at))
    who = a.actor
    if a.actor == "engine" and a.user:
        who = f"engine ({a.user}@{a.host})" if a.host else f"engine ({a.user})"
    return one_line(f"{when}  {who}  {a.action}  {a.reason}".rstrip())


def audit_json(a: AuditEntry) -> str:
    """One JSON object per audit entry, with an ISO time next to the POSIX one."""
    return json.dumps({"time": iso_time(a.at), **a.to_dict()}, default=str)


# Names as a user types them; anything else shows as bound (`a`, `ctrl+r`).
KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "colon": ":",
    "escape": "esc",
    "enter": "enter",
    "space": "space",
    "tab": "tab",
    "percent_sign": "%",
}


def key_text(key: str) -> str:
    """How one bound key is written: `?` for question_mark, `esc` for escape."""
    return KEY_NAMES.get(key, key)
