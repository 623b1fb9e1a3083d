"""Operator commands against a rollout: whether one applies now, and the trace of one that does not.

``refusal`` is the one place that answers "can this command apply now?". The engine asks it
before applying a command (a refused one changes nothing and becomes a ``command`` event),
``send_command`` asks it before posting (so the answer is the same whether a driver runs or
not), and the console can ask it before offering a key. Each caller words its answer its
own way from ``Refusal.rule``; ``Refusal.message`` is the engine's wording.

Pure: plain data in, plain data out; no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from backends.base import (
    AuditEntry,
    Command,
    CommandKind,
    Event,
    Observation,
    Phase,
    RolloutRecord,
    Strategy,
)
from console.engine.canary import step_label
from console.engine.context import health_text
from console.engine.state import EngineState
from console.plan.model import Plan


class Rule(StrEnum):
    """Which rule refused a command."""

    ENDED = "ended"  # the rollout already ended: only retry applies
    IN_PROGRESS = "in-progress"  # retry, while the rollout is still going
    COMPLETED = "completed"  # retry, after the rollout completed (nothing to retry)
    ROLLING_BACK = "rolling-back"  # a rollback is under way: it finishes first
    ALREADY_PAUSED = "already-paused"  # pause, while paused
    NOT_PAUSED = "not-paused"  # resume, while not paused
    GATE = "gate"  # resume, at a manual gate: promote goes on
    NOT_READY = "not-ready"  # promote before the candidate is ready: health gates hold
    UNDER_WAY = "under-way"  # promote, while already promoting or switching


@dataclass(frozen=True)
class Refusal:
    """Why a command does not apply now: the rule, and the engine's words for it."""

    rule: Rule
    message: str  # e.g. "resume ignored: rollout is Progressing, not paused"

    def __str__(self) -> str:
        return self.message


def refusal(
    record: RolloutRecord,
    kind: CommandKind | str,
    *,
    plan: Plan | None = None,
    obs: Observation | None = None,
) -> Refusal | None:
    """Why ``kind`` does not apply to ``record`` now, or None when it does.

    ``plan`` is the record's plan (read from ``record.plan`` when not given); ``obs`` the
    latest observation, which only sharpens a message (the candidate's readiness).
    """
    kind = CommandKind(kind)
    phase = record.phase
    if kind is CommandKind.RETRY:
        if phase in (Phase.ABORTED, Phase.ROLLED_BACK):
            return None
        rule = Rule.COMPLETED if phase.terminal else Rule.IN_PROGRESS
        return Refusal(
            rule, f"retry ignored: rollout is {phase}; retry follows an abort or a rollback"
        )
    if phase.terminal:
        return Refusal(Rule.ENDED, f"{kind} ignored: rollout is {phase}")
    if EngineState.of_record(record).rollback:
        return Refusal(
            Rule.ROLLING_BACK, f"{kind} ignored: a rollback is in progress ({record.message})"
        )
    if kind is CommandKind.PAUSE and phase is Phase.PAUSED:
        return Refusal(Rule.ALREADY_PAUSED, f"pause ignored: already paused ({record.message})")
    if kind is CommandKind.RESUME:
        if phase is not Phase.PAUSED:
            return Refusal(Rule.NOT_PAUSED, f"resume ignored: rollout is {phase}, not paused")
        if at_gate(record):
            return Refusal(Rule.GATE, _gate_message(record, plan))
    if kind in (CommandKind.PROMOTE, CommandKind.PROMOTE_FULL):
        return _promote_refusal(record, kind is CommandKind.PROMOTE_FULL, obs)
    return None


def at_gate(record: RolloutRecord) -> bool:
    """Whether the rollout waits at a manual gate (Paused until promote)."""
    return record.phase is Phase.PAUSED and EngineState.of_record(record).pause_kind == "gate"


def _gate_message(record: RolloutRecord, plan: Plan | None) -> str:
    if record.strategy in (Strategy.CANARY, Strategy.FLAG):
        plan = plan if plan is not None else Plan.from_dict(record.plan)
        return (
            f"resume ignored: {step_label(plan, record.step_index)} is a manual gate; "
            "promote to go on"
        )
    if record.strategy is Strategy.BLUEGREEN:
        return "resume ignored: waiting for promote to switch traffic; promote to go on"
    return "resume ignored: nothing to resume"


def _promote_refusal(record: RolloutRecord, full: bool, obs: Observation | None) -> Refusal | None:
    sub = EngineState.of_record(record).sub
    if record.strategy is Strategy.EXPERIMENT and sub in (None, "init"):
        return Refusal(
            Rule.NOT_READY, "promote ignored: the experiment has not started yet (arms not ready)"
        )
    if record.strategy in (Strategy.CANARY, Strategy.FLAG) and not full:
        # A record without bookkeeping yet starts at "init" (canary.init).
        if sub in (None, "init"):
            cand = record.candidate
            h = obs.health.get(cand) if obs is not None else None
            return Refusal(
                Rule.NOT_READY,
                f"promote ignored: waiting for {cand} to be ready ({health_text(h, cand)}); "
                "health gates cannot be skipped",
            )
        if sub == "final":
            return Refusal(Rule.UNDER_WAY, "promote ignored: already promoting to 100%")
    if record.strategy is Strategy.BLUEGREEN and sub == "switch":
        return Refusal(Rule.UNDER_WAY, "promote ignored: already switching")
    return None


# --------------------------------------------------------------------------- the trace


def ignored_reason(events: Sequence[Event]) -> str | None:
    """The engine's reason for not applying a command, read from the events of its step."""
    return next(
        (e.message for e in events if e.kind == "command" and not e.data.get("applied", True)),
        None,
    )


def refused_audit(cmd: Command, why: str, at: float) -> AuditEntry:
    """The audit entry for a command that was not applied: who asked, and why it was not."""
    return AuditEntry(
        at=at,
        service=cmd.service,
        actor=f"{cmd.user}@{cmd.host}" if cmd.user and cmd.host else cmd.user or "operator",
        action=str(cmd.kind),
        reason=why if not cmd.reason else f"{why} (reason given: {cmd.reason})",
        user=cmd.user,
        host=cmd.host,
        data={"id": cmd.id, "applied": False},
    )
