"""Canary paths of the engine, with an injected clock and a simulated world."""

from __future__ import annotations

import pytest

from backends.base import (
    AuditEntry,
    Deploy,
    MatchRule,
    Observation,
    Phase,
    SetMatch,
    SetMirror,
    SetSplit,
    TrafficSplit,
)
from console.engine import machine as engine
from console.engine.machine import EngineError
from console.plan.model import OnFailure, PauseStep, SetWeightStep
from tests.core.engine_kit import T0, Sim, World, canary_plan, check_record, cmd, metrics_spec


def test_happy_path_steps_pause_gate_promote_complete() -> None:
    sim = Sim(canary_plan())
    t = sim.start()
    assert t.actions == (SetSplit({"v1": 90, "v2": 10}),)
    assert t.record.phase is Phase.PROGRESSING and t.record.step_index == 0
    assert [e.kind for e in t.events][:1] == ["started"]
    assert t.audit[0].actor == "engine" and t.audit[0].action == "start"
    # setWeight 10 is left after one passing measurement (interval 5s).
    sim.run(4)
    assert sim.rec.step_index == 0
    sim.tick(1)
    assert sim.rec.step_index == 1  # pause 30s started at T0+5
    assert sim.rec.step_started_at == T0 + 5
    sim.run(29)
    assert sim.rec.step_index == 1
    sim.tick(1)
    assert sim.rec.step_index == 2 and sim.world.weights == {"v1": 50, "v2": 50}
    sim.run(5)
    assert sim.rec.step_index == 3 and sim.rec.phase is Phase.PAUSED
    assert sim.rec.engine["pause"]["kind"] == "gate"
    assert "waiting for promote" in sim.rec.message
    sim.run(60)
    assert sim.rec.step_index == 3 and sim.world.weights == {"v1": 50, "v2": 50}
    t = sim.command("promote")
    assert t.record.phase is Phase.COMPLETED
    assert sim.world.weights == {"v1": 0, "v2": 100}
    assert [a.actor for a in t.audit] == ["alice@laptop", "engine", "engine"]
    assert [a.action for a in t.audit] == ["promote", "set-split", "complete"]
    assert "all 4 steps passed" in t.record.message
    assert sim.splits() == [{"v1": 90, "v2": 10}, {"v1": 50, "v2": 50}, {"v1": 0, "v2": 100}]


def test_waits_for_an_all_ready_candidate_before_the_first_weight() -> None:
    world = World(readiness={"v1": "all", "v2": "partial"})
    sim = Sim(canary_plan(), world)
    t = sim.start()
    assert t.actions == () and t.record.phase is Phase.PENDING
    assert [e.kind for e in t.events] == ["started", "health"]
    assert "v2 2/3 ready" in t.events[-1].message
    sim.run(20)
    # The same health notice is not repeated every tick.
    assert sim.kinds().count("health") == 1
    sim.run(15)
    assert sim.kinds().count("health") == 2
    world.readiness["v2"] = "all"
    t = sim.tick()
    assert t.actions == (SetSplit({"v1": 90, "v2": 10}),)
    assert t.record.phase is Phase.PROGRESSING


def test_setweight_waits_for_a_ready_candidate_midway() -> None:
    sim = Sim(canary_plan((SetWeightStep(10), SetWeightStep(40))))
    sim.start()
    sim.world.readiness["v2"] = "partial"
    sim.run(10)
    assert sim.world.weights == {"v1": 90, "v2": 10}
    assert sim.rec.step_index == 1 and "health" in sim.kinds()
    sim.world.readiness["v2"] = "all"
    sim.tick()
    assert sim.world.weights == {"v1": 60, "v2": 40}


def test_match_and_mirror_are_applied_when_ready_and_cleared_when_done() -> None:
    rules = (MatchRule(headers={"x-lms-beta": "true"}),)
    sim = Sim(canary_plan((SetWeightStep(20),), match=rules, mirror=30))
    t = sim.start()
    assert t.actions == (
        SetMatch(rules, "v2"),
        SetMirror("v2", 30),
        SetSplit({"v1": 80, "v2": 20}),
    )
    sim.run(5)
    assert sim.rec.phase is Phase.COMPLETED
    assert sim.world.match_version is None and sim.world.mirror == (None, 0)
    assert sim.world.weights == {"v1": 0, "v2": 100}


def test_breach_rolls_back_with_reason_in_words_and_numbers() -> None:
    sim = Sim(canary_plan(analysis=metrics_spec(failure_limit=1)))
    sim.start()
    sim.world.metrics_mode = "fail"
    sim.run(5)
    assert sim.rec.phase is Phase.PROGRESSING
    assert sim.rec.engine["counters"]["failures"] == 1
    sim.run(5)
    rec = sim.rec
    assert rec.phase is Phase.ROLLED_BACK
    assert sim.world.weights == {"v1": 100, "v2": 0}
    assert rec.message == (
        "error-rate 0.5 > max 0.05 on v2; latency-p99 2000ms > max 400ms on v2 "
        "(2/2 failures) -> rolled back: 100% on v1"
    )
    assert "breach" in sim.kinds() and "rollback" in sim.kinds()
    audits = [a for t in sim.transitions for a in t.audit]
    assert any(a.actor == "engine" and a.action == "rollback" for a in audits)


def test_breach_with_on_failure_pause_holds_and_keeps_weights() -> None:
    sim = Sim(canary_plan(analysis=metrics_spec(failure_limit=0, on_failure=OnFailure.PAUSE)))
    sim.start()
    sim.world.metrics_mode = "fail"
    sim.run(5)
    assert sim.rec.phase is Phase.PAUSED
    assert sim.rec.engine["pause"]["kind"] == "breach"
    assert "(1/1 failures) -> paused" in sim.rec.message
    assert sim.world.weights == {"v1": 90, "v2": 10}
    sim.world.metrics_mode = "pass"
    sim.command("resume")
    assert sim.rec.phase is Phase.PROGRESSING
    sim.run(5)
    assert sim.rec.step_index == 1


def test_a_held_breach_is_announced_once_while_failures_go_on() -> None:
    # With onFailure: pause every further failing measurement used to add another breach,
    # pause and audit entry ("8/1 failures -> paused"), flooding the 200-event log.
    sim = Sim(canary_plan(analysis=metrics_spec(failure_limit=0, on_failure=OnFailure.PAUSE)))
    sim.start()
    sim.world.metrics_mode = "fail"
    sim.run(30)
    assert sim.rec.phase is Phase.PAUSED
    kinds = sim.kinds()
    assert kinds.count("breach") == 1 and kinds.count("pause") == 1
    failed = [m for m in sim.messages("analysis") if "failures)" in m]
    assert len(failed) == 1  # the same failure every interval is not news while held
    audits = [a for t in sim.transitions for a in t.audit if a.action == "pause"]
    assert len(audits) == 1
    # Resumed while still failing: the next failure holds again, and says so again.
    sim.command("resume")
    sim.run(10)
    assert sim.rec.phase is Phase.PAUSED and sim.kinds().count("breach") == 2


@pytest.mark.parametrize("mode", ["low", "error"])
def test_a_pause_for_thin_or_missing_metrics_does_not_repeat_itself(mode: str) -> None:
    # Paused, the same inconclusive result was an event every interval ("19/3 in a row
    # (pauses at 3)"), pushing the start and the weight changes out of the 200-event log.
    sim = Sim(canary_plan(analysis=metrics_spec(inconclusive_limit=3)))
    sim.world.metrics_mode = mode
    sim.start()
    sim.run(200)
    assert sim.rec.phase is Phase.PAUSED
    kind = "inconclusive" if mode == "low" else "metrics-error"
    assert sim.kinds().count(kind) <= 4
    assert sim.rec.events[0].kind == "started"


@pytest.mark.parametrize("mode", ["low", "missing", "none", "nan"])
def test_inconclusive_limit_pauses_and_missing_metrics_never_advance(mode: str) -> None:
    sim = Sim(canary_plan(analysis=metrics_spec(inconclusive_limit=3)))
    sim.world.metrics_mode = mode
    sim.start()
    sim.run(14)
    assert sim.rec.phase is Phase.PROGRESSING and sim.rec.step_index == 0
    sim.run(1)
    assert sim.rec.phase is Phase.PAUSED
    assert sim.rec.engine["pause"]["kind"] == "inconclusive"
    assert sim.rec.message.startswith("3 inconclusive measurements in a row")
    sim.run(120)
    assert sim.rec.step_index == 0 and sim.world.weights == {"v1": 90, "v2": 10}


def test_consecutive_metrics_errors_pause_and_never_promote() -> None:
    sim = Sim(canary_plan(analysis=metrics_spec(consecutive_error_limit=2)))
    sim.world.metrics_mode = "error"
    sim.start()
    sim.run(10)
    assert sim.rec.phase is Phase.PAUSED
    assert sim.rec.engine["pause"]["kind"] == "metrics-error"
    assert "connection refused" in sim.rec.message
    assert "metrics-error" in sim.kinds()
    sim.run(100)
    assert sim.rec.step_index == 0


def test_metrics_error_pause_resumes_by_itself_when_metrics_return() -> None:
    sim = Sim(canary_plan(analysis=metrics_spec(consecutive_error_limit=2)))
    sim.world.metrics_mode = "error"
    sim.start()
    sim.run(10)
    assert sim.rec.phase is Phase.PAUSED
    assert sim.rec.engine["pause"]["kind"] == "metrics-error"
    sim.world.metrics_mode = "missing"  # reachable again, but no data: resume, never advance
    sim.run(6)
    assert sim.rec.phase is Phase.PROGRESSING
    assert any("reachable again" in m for m in sim.messages("resume"))
    assert sim.rec.step_index == 0 and sim.world.weights == {"v1": 90, "v2": 10}
    sim.world.metrics_mode = "pass"
    sim.run(6)
    assert sim.rec.step_index == 1


def test_an_operator_pause_does_not_end_when_metrics_return() -> None:
    sim = Sim(canary_plan(analysis=metrics_spec(consecutive_error_limit=2)))
    sim.start()
    sim.command("pause", reason="hold on")
    sim.run(20)
    assert sim.rec.phase is Phase.PAUSED
    assert not sim.messages("resume")


def test_a_measurement_before_the_weight_changed_is_not_evidence() -> None:
    sim = Sim(canary_plan((SetWeightStep(10), SetWeightStep(20), SetWeightStep(30))))
    sim.start()
    sim.run(5)  # passing measurement at 10% at T0+5 -> 20%
    assert sim.rec.step_index == 1 and sim.world.weights == {"v1": 80, "v2": 20}
    sim.world.metrics_mode = "missing"
    sim.run(12)
    assert sim.rec.step_index == 1  # the measurement at 10% does not count for 20%
    assert any("holds" in m for m in sim.messages("step"))
    sim.world.metrics_mode = "pass"
    sim.run(3)
    assert sim.rec.step_index == 2 and sim.world.weights == {"v1": 70, "v2": 30}


def test_timed_pause_counts_down_and_a_pause_command_freezes_it() -> None:
    sim = Sim(canary_plan((SetWeightStep(10), PauseStep(30.0), SetWeightStep(50))))
    sim.start()
    sim.run(5)
    assert sim.rec.step_index == 1
    sim.run(10)
    sim.command("pause", reason="lunch")
    assert sim.rec.phase is Phase.PAUSED and sim.rec.message == "paused by alice@laptop: lunch"
    sim.run(100)
    assert sim.rec.step_index == 1
    sim.command("resume")
    assert sim.rec.phase is Phase.PROGRESSING
    sim.run(19)
    assert sim.rec.step_index == 1
    sim.run(1)
    assert sim.rec.step_index == 2


def test_next_tick_points_at_the_earliest_deadline() -> None:
    plan = canary_plan((SetWeightStep(10), PauseStep(3.0)))
    sim = Sim(plan)
    sim.start()
    assert engine.next_tick(sim.rec, plan, T0) == T0 + 5  # first measurement
    sim.run(5)
    assert sim.rec.step_index == 1
    assert engine.next_tick(sim.rec, plan, sim.now) == sim.now + 3  # the pause ends
    sim.run(3)
    assert sim.rec.phase is Phase.COMPLETED
    assert engine.next_tick(sim.rec, plan, sim.now) == sim.now + 60


def test_analysis_runs_while_paused_and_still_rolls_back() -> None:
    sim = Sim(canary_plan(analysis=metrics_spec(failure_limit=0)))
    sim.start()
    sim.command("pause")
    sim.world.metrics_mode = "fail"
    sim.run(5)
    assert sim.rec.phase is Phase.ROLLED_BACK
    assert sim.world.weights == {"v1": 100, "v2": 0}


def test_rollback_waits_for_a_ready_stable_and_says_so() -> None:
    sim = Sim(canary_plan())
    sim.start()
    sim.world.readiness["v1"] = "none"
    t = sim.command("abort", reason="bad deploy")
    assert t.record.phase is Phase.PROGRESSING and "rollback" in t.record.engine
    assert t.record.message == "rolling back: aborted by alice@laptop: bad deploy"
    assert sim.world.weights == {"v1": 90, "v2": 10}
    sim.run(10)
    assert sim.rec.phase is Phase.PROGRESSING
    # Why it waits, said once (the same notice repeats at most every 30 s).
    waits = [m for m in sim.messages("health") if m.startswith("rollback waits")]
    assert waits == ["rollback waits: v1 has 0/3 ready instances; v2 keeps 10% until then"]
    # Commands during the rollback are refused with a reason.
    t = sim.command("promote")
    assert t.events[0].kind == "command" and "rollback is in progress" in t.events[0].message
    sim.world.readiness["v1"] = "partial"
    t = sim.tick()
    assert t.record.phase is Phase.ABORTED
    assert sim.world.weights == {"v1": 100, "v2": 0}
    assert t.record.message == "aborted by alice@laptop: bad deploy -> aborted: 100% on v1"


def test_abort_before_any_weight_needs_no_split() -> None:
    world = World(readiness={"v1": "none", "v2": "none"})
    sim = Sim(canary_plan(), world)
    sim.start()
    t = sim.command("abort")
    assert t.record.phase is Phase.ABORTED and t.actions == ()
    assert sim.world.weights == {"v1": 100}


def test_abort_without_an_observation_finishes_on_the_next_tick() -> None:
    sim = Sim(canary_plan())
    sim.start()
    t = sim.tick(0, cmd("abort"), observe=False)
    assert t.actions == () and t.record.phase is Phase.PROGRESSING
    t = sim.tick()
    assert t.record.phase is Phase.ABORTED
    assert sim.world.weights == {"v1": 100, "v2": 0}


def test_promote_full_skips_to_100_but_waits_for_health() -> None:
    sim = Sim(canary_plan())
    sim.start()
    sim.world.readiness["v2"] = "partial"
    t = sim.command("promote-full")
    assert t.record.phase is Phase.PROGRESSING and t.actions == ()
    assert [a.action for a in t.audit] == ["promote-full"]
    sim.run(3)
    assert sim.world.weights == {"v1": 90, "v2": 10}
    sim.world.readiness["v2"] = "all"
    t = sim.tick()
    assert t.record.phase is Phase.COMPLETED and sim.world.weights == {"v1": 0, "v2": 100}
    assert "promoted fully" in t.record.message


def test_promote_leaves_a_timed_pause_and_skips_the_evidence_wait() -> None:
    sim = Sim(canary_plan((SetWeightStep(10), PauseStep(300.0), SetWeightStep(50))))
    sim.start()
    t = sim.command("promote")
    assert t.record.step_index == 1  # left setWeight 10 without waiting for a measurement
    t = sim.command("promote")
    assert t.record.step_index == 2 and sim.world.weights == {"v1": 50, "v2": 50}


def test_promote_while_user_paused_resumes_and_advances() -> None:
    sim = Sim(canary_plan((SetWeightStep(10), PauseStep(300.0), SetWeightStep(50))))
    sim.start()
    sim.run(5)
    sim.command("pause")
    t = sim.command("promote")
    assert t.record.phase is Phase.PROGRESSING and t.record.step_index == 2


def test_resume_on_a_manual_gate_is_refused_with_a_hint() -> None:
    sim = Sim(canary_plan((PauseStep(None), SetWeightStep(50))))
    t = sim.start()
    assert t.record.phase is Phase.PAUSED
    t = sim.command("resume")
    assert t.record.phase is Phase.PAUSED
    assert t.events[0].kind == "command"
    assert "manual gate; promote to go on" in t.events[0].message
    assert t.audit == ()
    t = sim.command("promote")
    assert t.record.step_index == 1 and sim.world.weights == {"v1": 50, "v2": 50}


def test_retry_after_rollback_starts_again_with_fresh_counters() -> None:
    sim = Sim(canary_plan(analysis=metrics_spec(failure_limit=0)))
    sim.start()
    sim.world.metrics_mode = "fail"
    sim.run(5)
    assert sim.rec.phase is Phase.ROLLED_BACK
    sim.world.metrics_mode = "pass"
    t = sim.command("retry", user="bob", host="ops")
    assert t.record.phase is Phase.PROGRESSING and t.record.step_index == 0
    assert t.record.engine["counters"]["failures"] == 0
    assert t.record.engine["retries"] == 1
    assert sim.world.weights == {"v1": 90, "v2": 10}
    assert t.audit[0] == AuditEntry(
        at=sim.now,
        service="courses",
        actor="bob@ops",
        action="retry",
        reason=t.audit[0].reason,
        user="bob",
        host="ops",
        data=t.audit[0].data,
    )


TERMINAL_REFUSALS = ["promote", "promote-full", "pause", "resume", "abort"]


@pytest.mark.parametrize("kind", [*TERMINAL_REFUSALS, "retry"])
def test_commands_on_a_completed_rollout_change_nothing(kind: str) -> None:
    sim = Sim(canary_plan((SetWeightStep(100),)))
    sim.start()
    sim.run(5)
    assert sim.rec.phase is Phase.COMPLETED
    before = sim.rec
    t = sim.command(kind)
    assert t.actions == () and t.audit == ()
    assert t.events[0].kind == "command"
    assert t.events[0].message.startswith(f"{kind} ignored: ")
    assert t.record.phase is Phase.COMPLETED and t.record.engine == before.engine


def test_pause_twice_and_resume_when_running_are_refused() -> None:
    sim = Sim(canary_plan())
    sim.start()
    assert sim.command("resume").events[0].message.startswith("resume ignored: rollout is")
    sim.command("pause")
    t = sim.command("pause")
    assert t.events[0].message.startswith("pause ignored: already paused")


def test_reissues_a_split_the_backend_did_not_apply() -> None:
    sim = Sim(canary_plan())
    sim.world.drop_actions = True
    sim.start()
    assert sim.world.weights == {"v1": 100}
    sim.world.drop_actions = False
    t = sim.tick()
    assert SetSplit({"v1": 90, "v2": 10}) in t.actions
    assert sim.world.weights == {"v1": 90, "v2": 10}
    t = sim.tick()
    assert not any(isinstance(a, SetSplit) for a in t.actions)


def test_events_are_bounded() -> None:
    sim = Sim(canary_plan(analysis=metrics_spec(interval=1.0, inconclusive_limit=10_000)))
    sim.world.metrics_mode = "low"
    sim.check = False
    sim.start()
    sim.run(260)
    check_record(sim.rec)
    assert len(sim.rec.events) == 200
    assert sim.rec.events[-1].at == sim.now


def test_start_infers_the_stable_version_or_explains() -> None:
    plan = canary_plan()
    plan = type(plan)(**{**plan.__dict__, "stable": None})
    world = World(weights={"v1": 100, "v2": 0})
    obs = world.observe(T0)
    assert engine.start(plan, obs, T0).record.stable == "v1"
    blank = Observation(at=T0, health={}, split=TrafficSplit(weights={}))
    with pytest.raises(EngineError, match="set `stable:` in the plan"):
        engine.start(plan, blank, T0)
    same = type(plan)(**{**plan.__dict__, "stable": "v2"})
    with pytest.raises(EngineError, match="nothing to roll out"):
        engine.start(same, obs, T0)


def test_start_refuses_a_candidate_that_already_serves_everything() -> None:
    # After a completed rollout v1 still runs beside v2: rerunning the plan must not
    # guess v1 as the stable and move 80% of the traffic back to it.
    plan = canary_plan()
    world = World(weights={"v1": 0, "v2": 100})
    for stable in (None, "v1"):
        p = type(plan)(**{**plan.__dict__, "stable": stable})
        with pytest.raises(EngineError, match=r"v2 already serves 100%.*nothing to roll out"):
            engine.start(p, world.observe(T0), T0)


def test_start_refuses_a_stable_version_that_does_not_exist() -> None:
    # `stable: v3` on a service with v1 and v2 waited for v3's instances until the timeout.
    plan = canary_plan()
    p = type(plan)(**{**plan.__dict__, "stable": "v3"})
    with pytest.raises(
        EngineError, match="stable v3 is not a version of courses here; known: v1, v2"
    ):
        engine.start(p, World().observe(T0), T0)
    # Without health data (backend down) the engine cannot tell, so it does not refuse.
    blind = Observation(at=T0, health={}, split=TrafficSplit(weights={"v1": 100}))
    assert engine.start(p, blind, T0).record.stable == "v3"


def test_a_plan_without_analysis_advances_on_time_alone() -> None:
    sim = Sim(canary_plan((SetWeightStep(10), PauseStep(10.0)), analysis=None))
    sim.world.metrics_mode = "error"
    sim.start()
    sim.run(9)
    assert sim.rec.phase is Phase.PROGRESSING
    sim.run(1)
    assert sim.rec.phase is Phase.COMPLETED


def test_no_steps_goes_straight_to_100_when_ready() -> None:
    sim = Sim(canary_plan(()))
    t = sim.start()
    assert t.record.phase is Phase.COMPLETED
    assert sim.world.weights == {"v1": 0, "v2": 100}


def test_a_candidate_nothing_runs_is_deployed_first() -> None:
    sim = Sim(canary_plan(), World(total={"v1": 4}))
    t = sim.start()
    assert t.actions == (Deploy("v2", 4),) and t.record.phase is Phase.PENDING
    assert "deploying v2: 4 instances" in t.events[1].message
    t = sim.tick()
    assert t.actions == (SetSplit({"v1": 90, "v2": 10}),)
    assert not any(isinstance(a, Deploy) for a in sim.actions()[1:])


def test_promote_full_before_the_candidate_runs_deploys_it_first() -> None:
    sim = Sim(canary_plan(), World(total={"v1": 2}))
    sim.world.drop_actions = True  # the Deploy does not take effect at once
    sim.start()
    t = sim.command("promote-full")
    assert t.actions == ()  # deployed once already, at start
    sim.world.drop_actions = False
    sim.world.total["v2"] = 2
    t = sim.tick()
    assert t.record.phase is Phase.COMPLETED and sim.world.weights == {"v1": 0, "v2": 100}
    assert [a for a in sim.actions() if isinstance(a, Deploy)] == [Deploy("v2", 2)]


def test_a_failed_health_read_never_deploys_or_moves_traffic() -> None:
    plan = canary_plan()
    obs = Observation(
        at=T0,
        health={},
        split=TrafficSplit(weights={"v1": 100}),
        traffic_error="health: connection refused",
    )
    t = engine.start(plan, obs, T0)
    assert t.actions == () and t.record.phase is Phase.PENDING


def test_a_time_step_after_a_command_in_the_same_tick_does_not_reissue() -> None:
    # The driver steps once per command and once for time with the same observation.
    sim = Sim(canary_plan((SetWeightStep(10), PauseStep(None), SetWeightStep(50))))
    sim.start()
    sim.run(5)
    assert sim.rec.phase is Phase.PAUSED
    now = sim.now + 1
    obs = sim.world.observe(now)
    t1 = engine.step(sim.rec, sim.plan, obs, cmd("promote"), now)
    assert t1.actions == (SetSplit({"v1": 50, "v2": 50}),)
    t2 = engine.step(t1.record, sim.plan, obs, None, now)
    assert t2.actions == ()


def test_match_and_mirror_are_reapplied_when_the_backend_lost_them() -> None:
    rules = (MatchRule(headers={"x-lms-beta": "true"}),)
    sim = Sim(canary_plan(match=rules, mirror=10))
    sim.start()
    sim.world.match_version, sim.world.mirror = None, (None, 0)  # e.g. a gateway restart
    t = sim.tick()
    assert SetMatch(rules, "v2") in t.actions and SetMirror("v2", 10) in t.actions
    assert sim.world.match_version == "v2" and sim.world.mirror == ("v2", 10)


def test_a_record_without_engine_bookkeeping_starts_its_strategy() -> None:
    sim = Sim(canary_plan())
    sim.start()
    bare = type(sim.rec).from_dict({**sim.rec.to_dict(), "engine": {}, "phase": "Pending"})
    t = engine.step(bare, sim.plan, sim.world.observe(sim.now + 1), None, sim.now + 1)
    assert t.record.engine["sub"] == "steps"


def test_the_record_message_says_what_a_health_gate_waits_for() -> None:
    world = World()
    world.readiness["v2"] = "none"
    sim = Sim(canary_plan(), world)
    sim.start()
    sim.run(3)
    assert sim.rec.phase is Phase.PENDING
    assert sim.rec.message.startswith("waiting for v2 to be ready"), sim.rec.message
    assert "v2 0/3 ready" in sim.rec.message
    world.readiness["v2"] = "all"
    sim.run(2)
    assert "waiting" not in sim.rec.message


def test_a_one_step_plan_reads_in_the_singular() -> None:
    sim = Sim(canary_plan(steps=(SetWeightStep(50),), analysis=None))
    t = sim.start()
    assert "1 step," in t.events[0].message or t.events[0].message.endswith("1 step")
    sim.run_until(lambda s: s.rec.phase.terminal, limit=30)
    assert sim.rec.phase is Phase.COMPLETED
    assert "its only step passed" in sim.rec.message
    assert not any("1 steps" in m for m in sim.messages())
