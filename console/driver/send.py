"""Operator commands from anywhere: post to the store; apply at once if no driver runs.

A console or ``rollout promote`` that is not the driver posts its command to the store and
the driver applies it on its next tick (about a second). When no driver holds the lease,
the command is applied here and now: take the lease, run one driver tick, release it.
"""

from __future__ import annotations

import secrets
import time

from backends.base import (
    Command,
    CommandKind,
    CorruptRecord,
    Environment,
    Event,
    RolloutRecord,
)
from console.driver.loop import Driver, holder_display, make_holder, whoami
from console.engine.commands import Refusal, Rule, ignored_reason, refusal, refused_audit

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


class NoRolloutsHere(ControlError):
    """The environment has no traffic backend (metrics only): the user needs another one."""


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
    if env.foreign is not None:  # a rollout another controller drives takes its own verbs
        from console.driver import foreign

        if foreign.lookup(env, service) is not None:
            try:
                return foreign.act(env, service, str(kind), reason=reason, user=user or "")
            except foreign.ForeignRefused as exc:
                raise ControlError(f"{service}: {exc}") from None
        if env.store is None:
            listed = ", ".join(r.name for r in env.foreign.rollouts()) or "none"
            raise ControlError(
                f"unknown rollout '{service}' in environment '{env.name}' "
                f"({env.foreign.name}); known: {listed}"
            )
    if env.store is None or env.traffic is None:
        raise NoRolloutsHere(f"environment '{env.name}' has no rollouts (no traffic backend)")
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
    # Refuse what the engine would ignore before posting, so the answer is the same whether
    # a driver holds the lease (it would drop the command a second later) or not.
    refused = refusal(record, kind)
    if refused is not None and refused.rule is Rule.ENDED:
        raise ControlError(
            f"{service}: the rollout to {record.candidate} already ended ({record.phase}); "
            f"nothing to {kind}" + ("; 'rollout retry' restarts it" if kind != "abort" else "")
        )
    if refused is not None and refused.rule is Rule.IN_PROGRESS:
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
    if refused is not None:
        store.append_audit(refused_audit(cmd, refused.message, cmd.at))
        raise ControlError(_explain(record, refused))
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
    ignored = ignored_reason(events)
    if ignored:
        raise ControlError(f"{service}: {ignored}")
    said = "; ".join(e.message for e in events if e.kind not in ("lease", "driver"))
    msg = f"{_DONE[kind]}: {said or rec.message or rec.phase}"
    if not rec.phase.terminal and kind != CommandKind.PAUSE and not caller_drives:
        msg += (
            f"\nno driver is running for {service}: 'rollout auto PLAN' or the console "
            "continues the rollout"
        )
    return msg


def _explain(record: RolloutRecord, refused: Refusal) -> str:
    """The operator's answer for a refused command: what to do instead where there is one."""
    service = record.service
    if refused.rule is Rule.GATE:
        return (
            f"{service} waits at a manual gate ({record.message}): use `rollout promote {service}`"
        )
    return f"{service}: {refused.message}"
