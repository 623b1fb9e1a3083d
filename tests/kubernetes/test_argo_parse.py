"""argo_parse.py without a cluster: the plugin's promote patches (getPatches in
pkg/kubectl-argo-rollouts/cmd/promote/promote.go) case by case, the set weight
(GetCurrentSetWeight), steps in words, limits and args of an analysis."""

from __future__ import annotations

from backends.base import Phase
from backends.kubernetes import argo_parse as parse
from backends.kubernetes import argo_patches


def canary(index=None, *, paused=False, conditions=(), controller_pause=False, step_status=None):
    status = {"currentPodHash": "new", "stableRS": "old"}
    if index is not None:
        status["currentStepIndex"] = index
    if conditions:
        status["pauseConditions"] = [
            {"reason": r, "startTime": "2026-12-03T16:00:00Z"} for r in conditions
        ]
    if controller_pause:
        status["controllerPause"] = True
    if step_status:
        status["canary"] = {"currentStepAnalysisRunStatus": {"status": step_status}}
    steps = [{"setWeight": 10}, {"pause": {}}, {"analysis": {"templates": []}}, {"setWeight": 50}]
    return {"spec": {"paused": paused, "strategy": {"canary": {"steps": steps}}}, "status": status}


def bodies(obj, full=False):
    spec, status, unified = argo_patches.promote_patches(obj, full=full)
    return (spec and spec.body, status and status.body, unified.body)


def test_promote_at_a_pause_condition_clears_it():
    assert bodies(canary(1, conditions=["CanaryPauseStep"])) == (
        None,
        {"status": {"pauseConditions": None}},
        {"spec": {"paused": False}, "status": {"pauseConditions": None}},
    )


def test_promote_on_a_running_step_skips_to_the_next_index():
    assert bodies(canary(2)) == (
        None,
        {"status": {"pauseConditions": None, "currentStepIndex": 3}},
        {"spec": {"paused": False}, "status": {"pauseConditions": None, "currentStepIndex": 3}},
    )
    # an unset index counts as 0; past the last step it stays at the end
    assert bodies(canary())[1] == {"status": {"pauseConditions": None, "currentStepIndex": 1}}
    assert bodies(canary(4))[1] == {"status": {"pauseConditions": None, "currentStepIndex": 4}}


def test_promote_on_an_inconclusive_controller_pause_moves_on_itself():
    obj = canary(
        2, conditions=["InconclusiveAnalysisRun"], controller_pause=True, step_status="Inconclusive"
    )
    assert bodies(obj)[1] == {
        "status": {"pauseConditions": None, "controllerPause": False, "currentStepIndex": 3}
    }


def test_promote_of_a_paused_spec_adds_the_spec_patch():
    spec, status, _ = bodies(canary(1, paused=True, conditions=["CanaryPauseStep"]))
    assert spec == {"spec": {"paused": False}} and status == {"status": {"pauseConditions": None}}


def test_promote_full():
    assert bodies(canary(1), full=True) == (
        None,
        {"status": {"promoteFull": True}},
        {"spec": {"paused": False}, "status": {"promoteFull": True}},
    )
    done = canary(4)
    done["status"]["stableRS"] = "new"
    assert bodies(done, full=True)[:2] == (None, None)  # already stable: nothing to send


def test_blue_green_promote_clears_its_pause():
    obj = {
        "spec": {"strategy": {"blueGreen": {}}},
        "status": {"pauseConditions": [{"reason": "BlueGreenPause", "startTime": "x"}]},
    }
    assert bodies(obj)[1] == {"status": {"pauseConditions": None}}
    assert bodies({"spec": {"strategy": {"blueGreen": {}}}, "status": {}})[1] is None


def test_set_weight_is_the_last_set_weight_up_to_the_current_step():
    assert parse.set_weight(canary(0)) == 10
    assert parse.set_weight(canary(2)) == 10
    assert parse.set_weight(canary(3)) == 50
    assert parse.set_weight(canary(4)) == 100
    aborted = canary(3)
    aborted["status"]["abort"] = True
    assert parse.set_weight(aborted) == 0


def test_steps_in_words():
    words = [
        parse.step_text(s).text
        for s in (
            {"setWeight": 20},
            {"pause": {}},
            {"pause": {"duration": "30s"}},
            {"analysis": {"templates": [{"templateName": "a"}, {"templateName": "b"}]}},
            {"setCanaryScale": {"replicas": 2}},
            {"setHeaderRoute": {"name": "beta"}},
            {"experiment": {}},
        )
    ]
    assert words == [
        "setWeight 20", "pause", "pause 30s", "analysis a, b", "setCanaryScale replicas 2",
        "setHeaderRoute beta", "experiment",
    ]  # fmt: skip


def test_analysis_limits_default_as_argo_and_args_fill_the_query():
    run = {
        "metadata": {"name": "r", "labels": {"rollout-type": "Background"}},
        "spec": {
            "args": [{"name": "svc", "value": "courses"}, {"name": "limit", "value": "3"}],
            "metrics": [
                {
                    "name": "a",
                    "successCondition": "result[0] > 1",
                    "provider": {"prometheus": {"query": "up{job='{{args.svc}}'}"}},
                },
                {
                    "name": "b",
                    "failureLimit": "{{args.limit}}",
                    "provider": {"web": {"url": "http://x"}},
                },
            ],
        },
        "status": {
            "phase": "Running",
            "metricResults": [
                {
                    "name": "a",
                    "phase": "Running",
                    "failed": 1,
                    "measurements": [
                        {"value": "[0.5]", "phase": "Failed", "finishedAt": "2026-12-03T16:00:05Z"}
                    ],
                }
            ],
        },
    }
    analysis = parse.analysis_run(run)
    a, b = analysis.metrics
    assert analysis.kind == "background"
    assert (a.failure_limit, a.inconclusive_limit, a.error_limit) == (0, 0, 4)
    assert a.query == "up{job='courses'}" and a.provider == "prometheus"
    assert a.measurements[0].value == "[0.5]" and a.measurements[0].at is not None
    assert b.failure_limit == 3 and b.provider == "web" and b.measurements == ()


def test_phase_on_the_consoles_scale():
    healthy = {"status": {"phase": "Healthy"}}
    assert parse.console_phase(healthy, []) == Phase.COMPLETED
    assert parse.console_phase({"status": {"phase": "Paused"}}, []) == Phase.PAUSED
    assert (
        parse.console_phase({"status": {"phase": "Degraded", "abort": True}}, []) == Phase.ABORTED
    )
    assert parse.console_phase({"status": {"phase": "Degraded"}}, []) == Phase.PROGRESSING
