"""routing_problems: a plan is refused up front exactly when it needs routing the backend
cannot do, with the backend's reason in the message."""

from __future__ import annotations

import itertools

import pytest

from backends.base import MatchRule, Routing, Strategy
from console.driver.preflight import routing_problems
from console.plan.model import BlueGreenSpec, Plan, SetWeightStep


def plan(strategy: Strategy, *, match: bool = False, mirror: int = 0, weights=(20, 100)) -> Plan:
    return Plan(
        service="courses",
        strategy=strategy,
        candidate="v2",
        stable="v1",
        steps=tuple(SetWeightStep(w) for w in weights) if strategy is Strategy.CANARY else (),
        match=(MatchRule(headers={"x-lms-beta": "true"}),) if match else (),
        mirror=mirror,
        bluegreen=BlueGreenSpec() if strategy is Strategy.BLUEGREEN else None,
    )


@pytest.mark.parametrize(
    ("weighted", "switch", "can_match", "can_mirror", "strategy", "match", "mirror"),
    [
        (w, s, cm, cr, st, m, r)
        for w, s, cm, cr in itertools.product([True, False], repeat=4)
        for st in Strategy
        for m in (False, True)
        for r in (0, 50)
    ],
)
def test_refused_exactly_when_a_need_is_missing(
    weighted, switch, can_match, can_mirror, strategy, match, mirror
):
    routing = Routing(
        weighted=weighted, switch=switch, match=can_match, mirror=can_mirror, reason="R!"
    )
    problems = routing_problems(plan(strategy, match=match, mirror=mirror), routing)
    expected = [
        match and not can_match,
        bool(mirror) and not can_mirror,
        strategy is Strategy.BLUEGREEN and not switch,
        strategy is Strategy.CANARY and not weighted,
        strategy is Strategy.ROLLING and not weighted,
    ]
    assert len(problems) == sum(expected)
    assert all(p.endswith(": R!") for p in problems)
    assert ("match routes" in " ".join(problems)) == expected[0]
    assert ("mirroring (mirror: 50)" in " ".join(problems)) == expected[1]
    assert ("blue/green" in " ".join(problems)) == expected[2]
    assert ("setWeight 20%" in " ".join(problems)) == expected[3]
    assert ("(rolling)" in " ".join(problems)) == expected[4]


def test_all_or_nothing_canary_fits_a_switch_only_backend():
    only_switch = Routing(weighted=False, match=False, mirror=False)
    assert routing_problems(plan(Strategy.CANARY, weights=(0, 100)), only_switch) == []
    assert routing_problems(plan(Strategy.BLUEGREEN), only_switch) == []


def test_full_routing_accepts_everything():
    for strategy in Strategy:
        assert routing_problems(plan(strategy, match=True, mirror=100), Routing()) == []
