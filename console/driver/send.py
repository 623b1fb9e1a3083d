"""Operator commands from anywhere: post to the store; apply at once if no driver runs.

A console or ``rollout promote`` that is not the driver posts its command to the store and
the driver applies it on its next tick (about a second). When no driver holds the lease,
the command is applied here and now: take the lease, run one driver tick, release it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

from backends.base import (
    AuditEntry,
    Command,
    CommandKind,
    CorruptRecord,
    Environment,
    Event,
    Phase,
    RolloutRecord,
)
from console.config.settings import cluster_hint
from console.driver.loop import Driver, holder_display, make_holder, whoami
from console.engine import machine as engine
from console.engine.state import EngineState
from console.plan.model import Plan

# Commands that make sense only while a rollout is in progress.
_NEEDS_ACTIVE = {
    CommandKind.PROMOTE,
    CommandKind.PROMOTE_FULL,
    CommandKind.PAUSE,
    CommandKind.RESUME,
    CommandKind.ABORT,
}

_DONE = {
    CommandKind.PROMOTE: "promoted",
    CommandKind.PROMOTE_FULL: "promoted fully",
    CommandKind.PAUSE: "paused",
    CommandKind.RESUME: "resumed",
    CommandKind.ABORT: "aborted",
    CommandKind.RETRY: "retried",
}


class ControlError(Exception):
    """The command cannot be posted (unknown service, no rollout, unreadable record); exit 2."""


def send_command(
    env: Environment,
    service: str,
    kind: CommandKind | str,
    *,
    reason: str = "",
    user: str | None = None,
    caller_drives: bool = False,
) -> str:
    """Post ``kind`` for ``service``; apply it now if no driver holds the lease.

    Returns a one-line message for the operator. Raises ControlError for an unknown
    service, no rollout, or a command the rollout cannot take now (e.g. resume while not
    paused); BackendError if a backend fails. ``caller_drives``: the caller is a console
    that drives ``service`` itself, so the reply says that console applies it (not "the
    driver (me@host)") and does not claim that no driver runs.
    """
    kind = CommandKind(kind)
    if env.store is None or env.traffic is None:
        raise ControlError(
            f"environment '{env.name}' has no rollouts (no traffic backend){cluster_hint()}"
        )
    store = env.store
    known = env.traffic.services()
    if service not in known:
        raise ControlError(
            f"unknown service '{service}' in environment '{env.name}'; "
            f"known: {', '.join(sorted(known)) or 'none'}"
        )
    try:
        record = store.load(service)
    except CorruptRecord as exc:
        raise ControlError(str(exc)) from None
    if record is None:
        raise ControlError(f"{service}: no rollout recorded; start one with 'rollout auto PLAN'")
    if kind in _NEEDS_ACTIVE and record.phase.terminal:
        raise ControlError(
            f"{service}: the rollout to {record.candidate} already ended ({record.phase}); "
            f"nothing to {kind}" + ("; 'rollout retry' restarts it" if kind != "abort" else "")
        )
    if kind == CommandKind.RETRY and not record.phase.terminal:
        raise ControlError(
            f"{service}: the rollout is {record.phase}; retry restarts only an ended one"
        )
    os_user, host = whoami()
    cmd = Command(
        kind=kind,
        service=service,
        user=user or os_user,
        host=host,
        at=time.time(),
        id=secrets.token_hex(6),
        reason=reason,
    )
    # Refuse what the engine would ignore before posting, so the answer is the same whether
    # a driver holds the lease (it would drop the command a second later) or not.
    refused = _refusal(record, cmd)
    if refused:
        store.append_audit(_refused_audit(cmd, refused))
        raise ControlError(_explain(record, kind, refused))
    store.post_command(cmd)
    # Try to be the driver for one tick: that succeeds when nobody holds the lease (or its
    # holder died on this host) and applies the command now; otherwise the driver will.
    events: list[Event] = []
    driver = Driver(env, service, holder=make_holder(), on_event=events.append)
    try:
        rec = driver.tick()
    finally:
        driver.close()
    if rec is None:
        if caller_drives:
            return f"{kind} posted; this console drives {service} and applies it on its next tick"
        lease = store.lease(service)
        who = holder_display(lease.holder) if lease else "the next driver"
        return f"{kind} posted; the driver ({who}) will apply it within ~1 s"
    ignored = _ignored(events)
    if ignored:
        raise ControlError(_explain(record, kind, ignored))
    said = "; ".join(e.message for e in events if e.kind not in ("lease", "driver"))
    msg = f"{_DONE[kind]}: {said or rec.message or rec.phase}"
    if not rec.phase.terminal and kind != CommandKind.PAUSE and not caller_drives:
        msg += (
            f"\nno driver is running for {service}: 'rollout auto PLAN' or the console "
            "continues the rollout"
        )
    return msg


def _refusal(record: RolloutRecord, cmd: Command) -> str | None:
    """Why the engine would ignore ``cmd`` on ``record`` now, or None (a dry run of the pure
    engine on the current record; nothing is saved)."""
    try:
        t = engine.step(record, Plan.from_dict(record.plan), None, cmd, cmd.at)
    except Exception:  # only a pre-check: the driver still decides
        return None
    return _ignored(t.events)


def _ignored(events: Sequence[Event]) -> str | None:
    """The engine's reason for not applying a command, if it gave one."""
    return next(
        (e.message for e in events if e.kind == "command" and not e.data.get("applied", True)),
        None,
    )


def _explain(record: RolloutRecord, kind: CommandKind, ignored: str) -> str:
    """The operator's answer for a refused command: what to do instead where there is one."""
    service = record.service
    at_gate = EngineState.of_record(record).pause_kind == "gate"
    if kind == CommandKind.RESUME and record.phase is Phase.PAUSED and at_gate:
        return (
            f"{service} waits at a manual gate ({record.message}): use `rollout promote {service}`"
        )
    return f"{service}: {ignored}"


def _refused_audit(cmd: Command, why: str) -> AuditEntry:
    """The same audit entry a driver writes for a command the engine did not apply."""
    return AuditEntry(
        at=cmd.at,
        service=cmd.service,
        actor=f"{cmd.user}@{cmd.host}" if cmd.user and cmd.host else cmd.user or "operator",
        action=str(cmd.kind),
        reason=why if not cmd.reason else f"{why} (reason given: {cmd.reason})",
        user=cmd.user,
        host=cmd.host,
        data={"id": cmd.id, "applied": False},
    )


def open_for_reading(name: str | None) -> tuple[Environment, str]:
    """The environment for read-only commands (status, history), and a note for the user.

    When the demo is not running its rollout records are still on disk: read them from
    there rather than failing, and say that the live traffic is unknown.
    """
    from backends.base import BackendUnavailable
    from backends.local.store import FileStateStore
    from console.config.environments import open_environment
    from console.config.paths import demo_dir
    from console.config.settings import DEMO, load_config

    config = load_config()
    try:
        return open_environment(name, config), ""
    except BackendUnavailable as exc:
        records = demo_dir() / "rollouts"
        if config.environment(name).name != DEMO or not records.is_dir():
            raise
        env = Environment(
            name=DEMO,
            traffic=None,
            metrics=None,
            store=FileStateStore(records),
            description="demo (not running)",
        )
        return env, f"{exc}; showing the recorded state only"
