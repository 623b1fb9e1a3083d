"""Pure: a Flagger Canary parsed field by field, mapped onto the console's rows, and the gate
state's answers and verbs. Objects follow Flagger's published CRD (checked against it)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from backends.base import Phase, Strategy
from backends.kubernetes import flagger_parse as parse
from backends.kubernetes.flagger_gates import GateState, after_verb, answer, parse_payload
from tests.kubernetes.fakecluster.flagger_crd import canary_problems
from tests.kubernetes.flaggertest import example
from tests.kubernetes.kubetest import NS


def canary_obj(phase: str = "Progressing", **status: Any) -> dict[str, Any]:
    obj = example("Canary")
    obj["status"] = {
        "phase": phase,
        "canaryWeight": 20,
        "failedChecks": 2,
        "iterations": 0,
        "lastTransitionTime": "2026-12-03T16:00:00Z",
        "conditions": [
            {
                "type": "Promoted",
                "status": "Unknown",
                "reason": phase,
                "message": "New revision detected, progressing canary analysis.",
            }
        ],
        **status,
    }
    assert canary_problems(obj) == []
    return obj


def deployments() -> dict[str, Any]:
    target = example("Deployment")
    target["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/x/search:1.1.0"
    target["status"] = {"readyReplicas": 1, "replicas": 2, "updatedReplicas": 2}
    primary = example("Deployment")
    primary["metadata"]["name"] = "search-primary"
    return {"search": target, "search-primary": primary}


def template() -> dict[str, Any]:
    return example("MetricTemplate")


def test_the_canary_field_by_field():
    c = parse.canary(canary_obj())
    assert (c.name, c.namespace, c.target) == ("search", NS, "search")
    assert (c.phase, c.canary_weight, c.failed_checks, c.threshold) == ("Progressing", 20, 2, 5)
    assert (c.strategy, c.step_weight, c.max_weight, c.interval) == ("canary", 10, 50, "1m")
    assert c.last_transition == 1796313600.0
    assert c.message.startswith("New revision detected")
    rate, errors = c.metrics
    assert rate.name == "request-success-rate" and rate.condition() == "result >= 99"
    assert errors.template == "error-rate" and errors.condition() == "result <= 1"
    assert [(w.type, w.url.rsplit("/", 1)[1]) for w in c.gates()] == [
        ("confirm-rollout", "confirm-rollout"),
        ("confirm-traffic-increase", "confirm-traffic-increase"),
        ("confirm-promotion", "confirm-promotion"),
        ("rollback", "rollback"),
    ]


def test_defaults_and_strategies_follow_flagger():
    obj = canary_obj()
    analysis = obj["spec"]["analysis"]
    for key in ("threshold", "maxWeight", "stepWeight", "interval"):
        analysis.pop(key)
    c = parse.canary(obj)
    assert (c.threshold, c.max_weight, c.interval, c.strategy) == (1, 100, "1m", "canary")
    analysis["iterations"] = 10
    assert parse.canary(obj).strategy == "blue-green"
    analysis["match"] = [{"headers": {"x-canary": {"exact": "insider"}}}]
    assert parse.canary(obj).strategy == "ab-testing"
    analysis.pop("iterations")
    analysis["stepWeights"] = [5, 25, 60]
    c = parse.canary(obj)
    assert parse.weights(c) == (5, 25, 60) and c.max_weight == 60
    analysis.pop("stepWeights")
    analysis.pop("match")
    analysis.update(stepWeight=15, maxWeight=50)
    assert parse.weights(parse.canary(obj)) == (15, 30, 45, 50)
    # the deprecated name of analysis
    old = canary_obj()
    old["spec"]["canaryAnalysis"] = old["spec"].pop("analysis")
    assert parse.canary(old).threshold == 5


@pytest.mark.parametrize(
    ("phase", "console", "step", "paused"),
    [
        ("", Phase.PENDING, None, ()),
        ("Initializing", Phase.PENDING, None, ()),
        ("Initialized", Phase.COMPLETED, None, ()),
        ("Waiting", Phase.PAUSED, 2, ("waiting for confirm-rollout",)),
        ("Progressing", Phase.PROGRESSING, 2, ()),
        ("WaitingPromotion", Phase.PAUSED, 5, ("waiting for confirm-promotion",)),
        ("Promoting", Phase.PROGRESSING, 6, ()),
        ("Finalising", Phase.PROGRESSING, 6, ()),
        ("Succeeded", Phase.COMPLETED, None, ()),
        ("Failed", Phase.ROLLED_BACK, None, ()),
    ],
)
def test_every_phase_on_the_overview(phase, console, step, paused):
    c = parse.canary(canary_obj(phase))
    fr = parse.to_foreign(c, deployments=deployments(), templates={(NS, "error-rate"): template()})
    assert (fr.controller, fr.kind, fr.name, fr.status) == (
        "flagger",
        "Canary",
        "search",
        phase or "Pending",
    )
    assert fr.phase == console and fr.strategy == Strategy.CANARY
    assert fr.step == step and fr.pause_reasons == paused
    assert (fr.failed_checks, fr.threshold, fr.iterations) == (2, 5, 0)
    assert fr.aborted == (phase == "Failed")
    assert fr.stable == "ghcr.io/example/lms-search:1.0.0"
    rolling = phase in parse.ACTIVE
    assert fr.canary == ("ghcr.io/x/search:1.1.0" if rolling else "")
    assert fr.set_weight == (20 if rolling else None)
    # steps: setWeight 10..50, the promotion gate, the promotion
    assert [s.text for s in fr.steps] == [
        "setWeight 10",
        "setWeight 20",
        "setWeight 30",
        "setWeight 40",
        "setWeight 50",
        "confirm-promotion",
        "promote",
    ]
    (analysis,) = fr.analyses
    rate, errors = analysis.metrics
    assert rate.success_condition == "result >= 99" and rate.failure_limit == 5
    assert rate.failed == 2 and rate.provider == "prometheus"
    assert errors.provider == "prometheus"
    assert errors.address == "http://prometheus.monitoring:9090"
    assert 'namespace="lms",service="search-canary",code=~"5.."}[1m]' in errors.query


def test_template_query_functions_are_filled():
    c = parse.canary(canary_obj())
    metric = parse.CanaryMetric(name="m", interval="30s", variables={"route": "api"})
    text = "{{ namespace }}/{{ target }}/{{ name }}/{{interval}}/{{ variables.route }}/{{ x }}"
    assert parse.fill_query(text, c, metric) == "lms/search/search/30s/api/{{ x }}"


def test_unreadable_fields_do_not_raise():
    obj = canary_obj()
    obj["status"] = {"phase": "Progressing", "canaryWeight": "x", "lastTransitionTime": "never"}
    obj["spec"]["analysis"]["metrics"] = [{"name": "m", "thresholdRange": "wrong"}]
    c = parse.canary(obj)
    assert c.canary_weight == 0 and c.last_transition is None
    assert c.metrics[0].condition() == ""
    broken = copy.deepcopy(obj)
    broken["spec"]["analysis"]["webhooks"] = None
    assert parse.canary(broken).gates() == ()


def test_gates_default_and_answers():
    state = GateState()
    assert not state.is_open("confirm-rollout") and state.is_open("confirm-traffic-increase")
    assert not state.is_open("confirm-promotion") and not state.is_open("rollback")
    closed = answer(state, "confirm-promotion")
    assert not closed.open and closed.state is None  # nothing to write
    opened = after_verb(state, "promote", waiting=True, by="me@host", at=1.0)
    assert opened.summary() == "rollout open, traffic open, promotion open"
    used = answer(opened, "confirm-promotion")
    assert used.open and used.state is not None and not used.state.confirm_promotion
    # confirm-traffic-increase is not a one-time approval
    assert answer(opened, "confirm-traffic-increase").state is None
    # promote during a rollout does not approve the next revision's start
    assert not after_verb(state, "promote", waiting=False, by="me", at=1.0).confirm_rollout
    assert after_verb(state, "resume", waiting=True, by="me", at=1.0).confirm_rollout
    paused = after_verb(opened, "pause", waiting=False, by="me", at=2.0)
    assert paused.summary() == "rollout closed, traffic closed, promotion closed"
    aborted = after_verb(state, "abort", waiting=False, by="me", at=3.0)
    back = answer(aborted, "rollback")
    assert back.open and back.state is not None and not back.state.rollback
    with pytest.raises(ValueError):
        after_verb(state, "undo", waiting=False, by="me", at=1.0)


def test_gate_state_json_reads_back_and_tolerates_garbage():
    state = after_verb(GateState(), "abort", waiting=False, by="me@h", at=5.0)
    assert GateState.from_json(state.to_json()) == state
    assert GateState.from_json("not json") == GateState()
    assert GateState.from_json('{"rollback": "yes"}') == GateState()


def test_payload_parsing():
    name, ns, phase, meta = parse_payload(
        b'{"name":"search","namespace":"lms","phase":"Progressing","checksum":"abc",'
        b'"metadata":{"k":"v"}}'
    )
    assert (name, ns, phase, dict(meta)) == ("search", "lms", "Progressing", {"k": "v"})
    for bad in (b"", b"[]", b"{", b'{"name":"x"}', b"\xff"):
        with pytest.raises(ValueError):
            parse_payload(bad)
