"""Property tests: random plans (all three strategies), random observation sequences (health
flapping, metrics passing, failing, missing, unreachable) and random commands.

Checked on every transition by the simulator (engine_kit.Sim): SetSplit weights are
integers 0..100 summing to 100 and never give weight to an unready version (canary and
blue/green: never to a candidate that is not all-ready); the record round-trips through
JSON and ``RolloutRecord.from_dict``. Checked here: terminal phases leave 100% on exactly one
version (the candidate if Completed, else the stable), with match routes and mirroring off;
the engine's idea of the split is the applied one; abort from any live state ends with
100% on the stable; with analysis on and no passing measurement, no step advances.
"""

from __future__ import annotations

from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from backends.base import CommandKind, MatchRule, Phase, Strategy
from console.plan.model import (
    AnalysisSpec,
    BlueGreenSpec,
    MetricSpec,
    OnFailure,
    PauseStep,
    Plan,
    RollingSpec,
    SetWeightStep,
)
from tests.core.engine_kit import METRIC_MODES, Sim, World, cmd
from tests.support.properties import examples

# ROLLOUT_ENGINE_EXAMPLES raises the example count for a long local run.
SETTINGS = examples("ROLLOUT_ENGINE_EXAMPLES", 200)

METRICS = [
    MetricSpec("error-rate", max=0.05),
    MetricSpec("latency-p99", max=0.4),
    MetricSpec("latency-p50", max=0.3),
    MetricSpec("request-rate", min=1.0),
    MetricSpec("checkout-ok", query="sum(ok{version='{{version}}'})", min=0.9),
]
NEVER_PASSING = ("fail", "missing", "none", "nan", "error", "low")

analysis_specs = st.builds(
    AnalysisSpec,
    interval=st.sampled_from([1.0, 2.0, 5.0]),
    min_requests=st.integers(5, 50),  # the "low" mode has 3 requests: always too few
    failure_limit=st.integers(0, 2),
    inconclusive_limit=st.integers(0, 4),
    consecutive_error_limit=st.integers(0, 4),
    on_failure=st.sampled_from(list(OnFailure)),
    metrics=st.lists(
        st.sampled_from(METRICS), min_size=1, max_size=3, unique_by=lambda m: m.name
    ).map(tuple),
)
maybe_analysis = st.one_of(st.none(), analysis_specs)
steps = st.lists(
    st.one_of(
        st.builds(SetWeightStep, st.integers(0, 100)),
        st.builds(PauseStep, st.sampled_from([None, 1.0, 3.0, 10.0])),
    ),
    max_size=6,
).map(tuple)
matches = st.sampled_from([(), (MatchRule(headers={"x-lms-beta": "true"}),)])


# The strategies these properties cover; an experiment (a fixed split, no steps, no
# analysis) has its own tests in tests/flagplan.
ENGINE_STRATEGIES = [s for s in Strategy if s is not Strategy.EXPERIMENT]
STEPPED = (Strategy.CANARY, Strategy.FLAG)  # steps of setWeight and pause


def plans(strategy: Strategy, analysis: Any = maybe_analysis) -> st.SearchStrategy[Plan]:
    common = dict(service=st.just("courses"), candidate=st.just("v2"), stable=st.just("v1"))
    if strategy is Strategy.FLAG:
        # The world's versions stand for the flag's variants (v1 its default variant).
        return st.builds(
            Plan,
            strategy=st.just(strategy),
            steps=steps,
            analysis=analysis,
            flag=st.just("new-gradebook"),
            **common,
        )
    if strategy is Strategy.CANARY:
        return st.builds(
            Plan,
            strategy=st.just(strategy),
            steps=steps,
            analysis=analysis,
            match=matches,
            mirror=st.sampled_from([0, 20]),
            **common,
        )
    if strategy is Strategy.BLUEGREEN:
        bg = st.builds(
            BlueGreenSpec,
            preview_analysis=analysis,
            auto_promote=st.sampled_from([None, 0.0, 5.0]),
            post_promotion_analysis=maybe_analysis,
            scale_down_delay=st.sampled_from([0.0, 5.0, 20.0]),
            preview_duration=st.sampled_from([0.0, 3.0, 10.0]),
        )
        return st.builds(
            Plan,
            strategy=st.just(strategy),
            analysis=st.none(),
            bluegreen=bg,
            match=matches,
            mirror=st.sampled_from([0, 20]),
            **common,
        )
    rs = st.builds(
        RollingSpec,
        instances=st.one_of(st.none(), st.integers(1, 4)),
        max_surge=st.integers(0, 2),
        max_unavailable=st.integers(0, 2),
        min_ready=st.sampled_from([0.0, 2.0]),
        pause_between_batches=st.sampled_from([0.0, 3.0]),
    )
    return st.builds(Plan, strategy=st.just(strategy), analysis=analysis, rolling=rs, **common)


readiness = st.sampled_from(["all", "all", "all", "partial", "none"])
commands = st.one_of(
    st.none(), st.none(), st.none(), st.none(), st.sampled_from([str(k) for k in CommandKind])
)


def ticks(modes: Any = None, cmds: Any = commands) -> Any:
    """Ticks: (dt, metrics mode, stable readiness, candidate readiness, command, observe).
    Metrics modes come from a small per-example palette, so runs of failures happen."""
    if modes is None:
        weighted = ("pass", "fail", "fail", *METRIC_MODES)
        palette = st.lists(st.sampled_from(weighted), min_size=1, max_size=2)
        return palette.flatmap(lambda pal: ticks(st.sampled_from(pal), cmds))
    return st.lists(
        st.tuples(
            st.sampled_from([0.5, 1.0, 2.0, 5.0]),  # dt
            modes,
            readiness,  # stable
            readiness,  # candidate
            cmds,
            st.sampled_from([True, True, True, False]),  # observe (commands only)
        ),
        max_size=40,
    )


def worlds(strategy: Strategy) -> st.SearchStrategy[World]:
    # Rolling starts without candidate instances, canary with some, blue/green either way.
    cand = {
        Strategy.ROLLING: st.just(0),
        Strategy.CANARY: st.integers(1, 4),
        Strategy.FLAG: st.integers(1, 4),
        Strategy.BLUEGREEN: st.integers(0, 4),
    }[strategy]
    return st.builds(lambda s, c: World(total={"v1": s, "v2": c}), st.integers(1, 4), cand)


def check_state(sim: Sim) -> None:
    rec, world = sim.rec, sim.world
    nonzero = {k: v for k, v in rec.weights.items() if v}
    assert nonzero == {k: v for k, v in world.weights.items() if v}, (rec.weights, world.weights)
    if rec.phase.terminal:
        expected = rec.candidate if rec.phase is Phase.COMPLETED else rec.stable
        assert world.on_one() == expected, (rec.phase, world.weights)
        assert world.match_version is None and world.mirror == (None, 0)


def play(sim: Sim, seq: list[tuple[Any, ...]]) -> None:
    sim.start()
    check_state(sim)
    for dt, mode, r1, r2, kind, observe in seq:
        sim.world.metrics_mode = mode
        sim.world.readiness.update(v1=r1, v2=r2)
        if kind is None:
            sim.tick(dt)
        else:
            sim.tick(0.0, cmd(kind), observe=observe)
        check_state(sim)


def abort_and_recover(sim: Sim) -> None:
    live = not sim.rec.phase.terminal
    sim.world.readiness.update(v1="all", v2="all")
    sim.tick(0.0, cmd("abort"), observe=False)
    for _ in range(20):
        if sim.rec.phase.terminal:
            break
        sim.tick(1.0)
        check_state(sim)
    if live:
        assert sim.rec.phase in (Phase.ABORTED, Phase.ROLLED_BACK), sim.rec.message
        assert sim.world.on_one() == "v1"


def _invariants(strategy: Strategy, plan: Plan, world: World, seq: list[Any]) -> None:
    sim = Sim(plan, world)
    play(sim, seq)
    rolling_back = " (rolling back)" if sim.rec.engine.get("rollback") else ""
    event(f"{strategy}: {sim.rec.phase}{rolling_back} after the sequence")
    for kind in ("breach", "health", "pause", "command"):
        if kind in sim.kinds():
            event(f"{strategy}: saw {kind} events")
    abort_and_recover(sim)


@SETTINGS
@given(plan=plans(Strategy.CANARY), world=worlds(Strategy.CANARY), seq=ticks())
def test_canary_invariants(plan: Plan, world: World, seq: list[Any]) -> None:
    _invariants(Strategy.CANARY, plan, world, seq)


@SETTINGS
@given(plan=plans(Strategy.FLAG), world=worlds(Strategy.FLAG), seq=ticks())
def test_flag_invariants(plan: Plan, world: World, seq: list[Any]) -> None:
    _invariants(Strategy.FLAG, plan, world, seq)


@SETTINGS
@given(plan=plans(Strategy.BLUEGREEN), world=worlds(Strategy.BLUEGREEN), seq=ticks())
def test_bluegreen_invariants(plan: Plan, world: World, seq: list[Any]) -> None:
    _invariants(Strategy.BLUEGREEN, plan, world, seq)


@SETTINGS
@given(plan=plans(Strategy.ROLLING), world=worlds(Strategy.ROLLING), seq=ticks())
def test_rolling_invariants(plan: Plan, world: World, seq: list[Any]) -> None:
    _invariants(Strategy.ROLLING, plan, world, seq)


def exposes(plan: Plan) -> bool:
    """Does the plan give the candidate traffic before the end? (A canary without any
    exposing step promotes at once: nothing to measure, by the plan's own choice.)"""
    if plan.strategy not in STEPPED:
        return True
    weights = any(isinstance(s, SetWeightStep) and s.weight > 0 for s in plan.steps)
    return weights or bool(plan.match) or plan.mirror > 0


# Without a passing measurement (and without promote), nothing advances.
no_promotion = st.one_of(st.none(), st.sampled_from(["pause", "resume", "abort"]))


@SETTINGS
@given(
    strategy=st.sampled_from(ENGINE_STRATEGIES),
    data=st.data(),
)
def test_missing_or_failing_metrics_never_advance(strategy: Strategy, data: Any) -> None:
    plan = data.draw(plans(strategy, analysis=analysis_specs))
    world = data.draw(worlds(strategy))
    palette = data.draw(st.lists(st.sampled_from(NEVER_PASSING), min_size=1, max_size=2))
    seq = data.draw(ticks(st.sampled_from(palette), no_promotion))
    sim = Sim(plan, world)
    sim.start()
    highest_from_nonzero = 0
    exposed_at: int | None = None  # the canary step at which v2 first took any traffic
    for dt, mode, r1, r2, kind, observe in seq:
        w = sim.world
        if exposed_at is None and (w.weights.get("v2", 0) or w.match_version or w.mirror[1]):
            exposed_at = sim.rec.step_index
        before = sim.world.weights.get("v2", 0)
        sim.world.metrics_mode = mode
        sim.world.readiness.update(v1=r1, v2=r2)
        if kind is None:
            sim.tick(dt)
        else:
            sim.tick(0.0, cmd(kind), observe=observe)
        check_state(sim)
        after = sim.world.weights.get("v2", 0)
        if before > 0 and after > before:
            highest_from_nonzero = after
        if exposes(plan):
            assert sim.rec.phase is not Phase.COMPLETED
        if strategy in STEPPED:
            assert highest_from_nonzero == 0, "the candidate's weight grew without evidence"
            if exposed_at is not None and not sim.rec.phase.terminal:
                assert sim.rec.step_index == exposed_at, "a step was left without evidence"
        elif strategy is Strategy.BLUEGREEN:
            assert sim.world.weights.get("v2", 0) == 0, "switched without a passing preview"
        else:
            assert sim.rec.step_index <= 1, "a second batch started without evidence"


@SETTINGS
@given(strategy=st.sampled_from(ENGINE_STRATEGIES), data=st.data())
def test_failing_candidates_roll_back_or_pause(strategy: Strategy, data: Any) -> None:
    plan = data.draw(plans(strategy, analysis=analysis_specs))
    world = data.draw(worlds(strategy))
    other = data.draw(st.sampled_from(METRIC_MODES))
    seq = data.draw(ticks(st.sampled_from(["fail", "fail", "fail", other])))
    sim = Sim(plan, world)
    play(sim, seq)
    # Then a healthy world with a failing candidate until the rollout settles.
    sim.world.readiness.update(v1="all", v2="all")
    sim.world.metrics_mode = "fail"
    for _ in range(200):
        if sim.rec.phase.terminal or sim.rec.phase is Phase.PAUSED:
            break
        sim.tick(1.0)
        check_state(sim)
    event(f"{strategy}: {sim.rec.phase} with a failing candidate")
    spec = plan.analysis if strategy is not Strategy.BLUEGREEN else None
    if "breach" in sim.kinds() and spec is not None and spec.on_failure is OnFailure.ROLLBACK:
        assert sim.rec.phase in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.PAUSED, Phase.COMPLETED)
    if sim.rec.phase is Phase.ROLLED_BACK:
        assert sim.world.on_one() == "v1"
        if strategy is Strategy.FLAG:
            assert "-> rolled back: flag new-gradebook back to its default variant v1" in (
                sim.rec.message
            )
        else:
            assert "-> rolled back: 100% on v1" in sim.rec.message
    abort_and_recover(sim)
