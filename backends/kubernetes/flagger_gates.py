"""Flagger's manual gates as state: which webhook answers "open" for which Canary. Pure.

Flagger has no pause or promote API; it asks webhooks (canary.go HookType, scheduler_hooks.go)
and a 2xx answer means yes: ``confirm-rollout`` (start the analysis of a new revision),
``confirm-traffic-increase`` (step the canary weight up), ``confirm-promotion`` (copy the
canary spec to the primary), ``rollback`` (fail the canary now). ``rollout gate`` answers
those calls from a ``GateState`` per Canary, and the verbs change the state:

| verb | the state afterwards |
|---|---|
| promote | confirm-traffic-increase and confirm-promotion open (and confirm-rollout, when Waiting) |
| resume | confirm-traffic-increase open (and confirm-rollout, when Waiting) |
| pause | every confirm gate closed (Flagger holds where it is) |
| abort | rollback requested (the rollback hook answers 200; Flagger fails the canary) |

confirm-rollout is opened only for a Canary that is ``Waiting`` for it, so that an approval
given during one rollout never lets the next revision start by itself.

A Canary the store has never seen starts with confirm-rollout and confirm-promotion closed
(a new revision waits for ``promote`` to start and to promote), confirm-traffic-increase
open and no rollback. The two one-time approvals (confirm-rollout, confirm-promotion) and
the rollback request are used up by the answer that lets Flagger act on them, so that the
next revision waits for its own approval and is not rolled back by an old request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from backends.kubernetes.flagger_parse import (
    CONFIRM_PROMOTION,
    CONFIRM_ROLLOUT,
    CONFIRM_TRAFFIC,
    GATE_TYPES,
    ROLLBACK,
)

VERBS = ("promote", "resume", "pause", "abort")
ONE_TIME = (CONFIRM_ROLLOUT, CONFIRM_PROMOTION, ROLLBACK)


@dataclass(frozen=True)
class GateState:
    """One Canary's gates. ``by``/``at``/``verb``: the last change, for the console."""

    confirm_rollout: bool = False
    confirm_traffic_increase: bool = True
    confirm_promotion: bool = False
    rollback: bool = False
    verb: str = ""
    by: str = ""
    at: float | None = None

    def is_open(self, gate: str) -> bool:
        """Whether a call of this webhook type is answered 200 (rollback: roll back)."""
        return bool(getattr(self, _field(gate)))

    def with_gate(self, gate: str, value: bool) -> GateState:
        fields: dict[str, Any] = {_field(gate): value}
        return replace(self, **fields)

    def summary(self) -> str:
        """``rollout open, traffic open, promotion closed`` for status lines."""
        words = [
            f"rollout {'open' if self.confirm_rollout else 'closed'}",
            f"traffic {'open' if self.confirm_traffic_increase else 'closed'}",
            f"promotion {'open' if self.confirm_promotion else 'closed'}",
        ]
        if self.rollback:
            words.append("rollback requested")
        return ", ".join(words)

    def to_json(self) -> str:
        return json.dumps(
            {
                CONFIRM_ROLLOUT: self.confirm_rollout,
                CONFIRM_TRAFFIC: self.confirm_traffic_increase,
                CONFIRM_PROMOTION: self.confirm_promotion,
                ROLLBACK: self.rollback,
                "verb": self.verb,
                "by": self.by,
                "at": self.at,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> GateState:
        """The stored state; the defaults for a missing or unreadable entry."""
        try:
            raw: Any = json.loads(text) if text else {}
        except ValueError:
            raw = {}
        if not isinstance(raw, Mapping):
            raw = {}
        base = cls()
        for gate in GATE_TYPES:
            if isinstance(raw.get(gate), bool):
                base = base.with_gate(gate, raw[gate])
        at = raw.get("at")
        return replace(
            base,
            verb=str(raw.get("verb") or ""),
            by=str(raw.get("by") or ""),
            at=float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None,
        )


def _field(gate: str) -> str:
    if gate not in GATE_TYPES:
        raise ValueError(f"not a Flagger gate: {gate!r}; gates: {', '.join(GATE_TYPES)}")
    return gate.replace("-", "_")


def after_verb(state: GateState, verb: str, *, waiting: bool, by: str, at: float) -> GateState:
    """The state once an operator's verb is applied (table above); ``waiting``: the Canary
    is Waiting for confirm-rollout."""
    start = state.confirm_rollout or waiting
    if verb == "promote":
        new = replace(
            state, confirm_rollout=start, confirm_traffic_increase=True, confirm_promotion=True
        )
    elif verb == "resume":
        new = replace(state, confirm_rollout=start, confirm_traffic_increase=True)
    elif verb == "pause":
        new = replace(
            state, confirm_rollout=False, confirm_traffic_increase=False, confirm_promotion=False
        )
    elif verb == "abort":
        new = replace(state, rollback=True)
    else:
        raise ValueError(f"no gate verb {verb!r}; verbs: {', '.join(VERBS)}")
    return replace(new, verb=verb, by=by, at=at)


@dataclass(frozen=True)
class Answer:
    """How to answer one webhook call, and the state to store (None: unchanged)."""

    open: bool
    state: GateState | None
    text: str


def answer(state: GateState, gate: str) -> Answer:
    """Answer Flagger's call of a ``gate`` webhook. An open one-time gate is used up."""
    if not state.is_open(gate):
        word = "no rollback requested" if gate == ROLLBACK else f"{gate} closed"
        return Answer(False, None, word)
    used = state.with_gate(gate, False) if gate in ONE_TIME else None
    word = "rollback requested" if gate == ROLLBACK else f"{gate} open"
    return Answer(True, used, word)


def parse_payload(body: bytes) -> tuple[str, str, str, Mapping[str, str]]:
    """Flagger's ``CanaryWebhookPayload``: (name, namespace, phase, metadata).
    Raises ValueError naming what is missing."""
    try:
        raw = json.loads(body.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ValueError("body must be a JSON object")
    name, namespace = raw.get("name"), raw.get("namespace")
    if not isinstance(name, str) or not name or not isinstance(namespace, str) or not namespace:
        raise ValueError("body must carry the canary's name and namespace")
    meta: Mapping[str, Any] = raw.get("metadata") or {}
    meta = meta if isinstance(meta, Mapping) else {}
    return name, namespace, str(raw.get("phase") or ""), {str(k): str(v) for k, v in meta.items()}
