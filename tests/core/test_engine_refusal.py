"""commands.refusal, the one answer to "can this command apply now?": it agrees with the
engine in every situation of the command matrix, with or without a plan and an observation
(``send_command`` has neither), and names the rule callers word their answers from."""

from __future__ import annotations

import dataclasses

import pytest

from backends.base import Command, CommandKind, Event
from console.engine import machine as engine
from console.engine.commands import (
    Rule,
    at_gate,
    ignored_reason,
    refusal,
    refused_audit,
)
from tests.core.engine_kit import Sim, World, canary_plan, cmd
from tests.core.test_engine_commands import KINDS, MATRIX, A


@pytest.mark.parametrize("situation", list(MATRIX))
def test_refusal_is_the_engines_answer(situation: str) -> None:
    make, expected = MATRIX[situation]
    sim = make()
    rec = sim.rec
    obs = sim.world.observe(sim.now)
    for kind, outcome in zip(KINDS, expected, strict=True):
        refused = refusal(rec, kind, plan=sim.plan, obs=obs)
        assert (refused is None) == (outcome == A), (situation, kind, refused)
        t = engine.step(rec, sim.plan, obs, cmd(kind), sim.now)
        assert ignored_reason(t.events) == (refused.message if refused else None)
        # Without plan or observation (the pre-check before posting) the decision is the same.
        bare = refusal(rec, kind)
        assert (bare.rule if bare else None) == (refused.rule if refused else None)


RULES = {
    ("canary completed", "promote"): Rule.ENDED,
    ("canary aborted", "abort"): Rule.ENDED,
    ("canary weight step", "retry"): Rule.IN_PROGRESS,
    ("canary completed", "retry"): Rule.COMPLETED,
    ("canary rolling back", "pause"): Rule.ROLLING_BACK,
    ("canary rolling back", "retry"): Rule.IN_PROGRESS,
    ("canary user paused", "pause"): Rule.ALREADY_PAUSED,
    ("canary weight step", "resume"): Rule.NOT_PAUSED,
    ("canary manual gate", "resume"): Rule.GATE,
    ("bluegreen await promote", "resume"): Rule.GATE,
    ("canary pending", "promote"): Rule.NOT_READY,
    ("canary final waiting", "promote"): Rule.UNDER_WAY,
}


@pytest.mark.parametrize(("situation", "kind"), list(RULES))
def test_each_refusal_names_its_rule(situation: str, kind: str) -> None:
    sim = MATRIX[situation][0]()
    refused = refusal(sim.rec, kind)
    assert refused is not None and refused.rule is RULES[(situation, kind)]
    assert str(refused) == refused.message and refused.message.startswith(f"{kind} ignored: ")


def test_gate_messages_name_the_step_or_the_switch() -> None:
    canary = MATRIX["canary manual gate"][0]().rec
    assert at_gate(canary)
    refused = refusal(canary, CommandKind.RESUME)
    assert refused is not None
    assert refused.message == (
        "resume ignored: step 2/3 (pause until promote (manual gate)) is a manual gate; "
        "promote to go on"
    )
    bg = MATRIX["bluegreen await promote"][0]().rec
    assert at_gate(bg)
    assert str(refusal(bg, "resume")) == (
        "resume ignored: waiting for promote to switch traffic; promote to go on"
    )
    assert not at_gate(MATRIX["canary user paused"][0]().rec)


def test_not_ready_says_how_ready_the_candidate_is() -> None:
    sim = MATRIX["canary pending"][0]()
    with_obs = refusal(sim.rec, "promote", obs=sim.world.observe(sim.now))
    without = refusal(sim.rec, "promote")
    assert with_obs is not None and "v2 " in with_obs.message and "ready" in with_obs.message
    assert without is not None and "v2: no instances reported" in without.message
    assert refusal(sim.rec, "promote-full") is None  # promote-full waits for health itself


def test_a_record_without_bookkeeping_is_judged_like_the_engine_does() -> None:
    sim = Sim(canary_plan(), World(readiness={"v1": "all", "v2": "partial"}))
    sim.start()
    bare = dataclasses.replace(
        sim.rec, engine={k: v for k, v in sim.rec.engine.items() if k != "sub"}
    )
    t = engine.step(bare, sim.plan, None, cmd("promote"), sim.now)
    refused = refusal(bare, "promote")
    assert refused is not None and ignored_reason(t.events) == refused.message


def test_the_refused_audit_entry() -> None:
    c = Command(CommandKind.RESUME, "courses", user="dave", host="ops", at=5.0, id="abc")
    a = refused_audit(c, "resume ignored: not paused", 7.0)
    assert (a.at, a.service, a.actor, a.action, a.user, a.host) == (
        7.0,
        "courses",
        "dave@ops",
        "resume",
        "dave",
        "ops",
    )
    assert a.reason == "resume ignored: not paused" and a.data == {"id": "abc", "applied": False}
    given = dataclasses.replace(c, reason="go on", host="")
    b = refused_audit(given, "why", 1.0)
    assert b.actor == "dave" and b.reason == "why (reason given: go on)"
    assert refused_audit(dataclasses.replace(c, user=""), "why", 1.0).actor == "operator"


def test_ignored_reason_reads_only_refusals() -> None:
    applied = Event(1.0, "courses", "command", "something", {"applied": True})
    other = Event(1.0, "courses", "step", "step 2/3")
    refused = Event(1.0, "courses", "command", "pause ignored: already paused", {"applied": False})
    assert ignored_reason([applied, other]) is None
    assert ignored_reason([other, refused]) == "pause ignored: already paused"
