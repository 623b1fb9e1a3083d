"""The overview and the detail panels against Rollouts in every phase: Progressing, Paused
with each pause reason, Degraded, Healthy and aborted; AnalysisRun values and conditions as
written; what wins when a record of ours has the same name."""

from __future__ import annotations

import time

import pytest

from backends.base import Phase
from console.view import foreign_detail
from console.view.overview import overview_rows
from console.view.snapshot import collect_snapshot
from tests.kubernetes.argotest import GROUP, argo_env, rollout_obj
from tests.kubernetes.kubetest import NS


def updating(argo, name="courses", **kw):
    argo.add(rollout_obj(name, f"ghcr.io/lms/{name}:1.0", **kw))
    argo.settle()
    argo.set_image(name, f"ghcr.io/lms/{name}:2.0")


def row_of(argo, name="courses", detail=None):
    snap = collect_snapshot(argo_env(argo), detail=detail)
    assert snap.error is None, snap.error
    [row] = [r for r in overview_rows(snap, holder="me", now=time.time()) if r.service == name]
    return row, snap.services[name]


def test_progressing_shows_step_weights_images_and_replicas(argo):
    updating(argo)
    argo.settle()
    row, state = row_of(argo)
    assert (row.phase, row.strategy, row.step, row.weights) == (
        "Progressing",
        "canary",
        "1/5",
        "set 20",
    )
    assert row.ready == "4/4" and row.driver == "argo-rollouts" and not row.alert
    fr = state.foreign
    assert (fr.stable, fr.canary) == ("ghcr.io/lms/courses:1.0", "ghcr.io/lms/courses:2.0")
    assert fr.set_weight == fr.actual_weight == 20 and fr.updated == 1
    items = foreign_detail.timeline(fr)
    assert [(i.label, i.state) for i in items] == [
        ("setWeight 20", "done"),
        ("pause", "current"),
        ("setWeight 50", "todo"),
        ("analysis success-rate", "todo"),
        ("pause 1h", "todo"),
    ]
    [share_stable, share_canary] = foreign_detail.split_shares(fr)
    assert (share_stable.version, share_stable.set_weight) == ("1-0", 80)
    assert (share_canary.version, share_canary.set_weight, share_canary.measured) == (
        "2-0",
        20,
        0.2,
    )


def test_paused_at_a_canary_pause_step(argo):
    updating(argo)
    argo.settle(2)
    row, state = row_of(argo)
    assert (row.phase, row.step, row.weights) == ("Paused", "1/5", "set 20")
    fr = state.foreign
    assert fr.phase == Phase.PAUSED and fr.pause_reasons == ("CanaryPauseStep",)
    current = [i for i in foreign_detail.timeline(fr) if i.state == "current"]
    assert current[0].note == "paused: CanaryPauseStep (promote continues)"
    assert "paused: CanaryPauseStep" in foreign_detail.title_lines(fr)[-1]


def test_paused_by_spec(argo):
    updating(argo)
    argo.settle()
    argo_env(argo).foreign.act("courses", "pause", user="alice@laptop")
    argo.settle()
    row, state = row_of(argo)
    assert row.phase == "Paused" and state.foreign.pause_reasons[-1] == "PausedBySpec"
    assert state.foreign.message == "manually paused"


def test_paused_blue_green_waits_with_its_preview(argo):
    updating(argo, bluegreen=True)
    argo.settle()
    row, state = row_of(argo)
    fr = state.foreign
    assert (row.phase, row.strategy, row.step) == ("Paused", "bluegreen", "preview")
    assert fr.pause_reasons == ("BlueGreenPause",) and fr.preview != fr.active
    labels = [i.label for i in foreign_detail.timeline(fr)]
    assert labels[0].startswith(f"preview {fr.preview}") and fr.active in labels[1]
    argo_env(argo).foreign.act("courses", "promote", user="alice@laptop")
    argo.settle()
    row, state = row_of(argo)
    assert row.phase == "Healthy" and state.foreign.active == fr.preview


def inconclusive(run, metric, n):
    return "0.92", "Inconclusive"


def test_paused_on_an_inconclusive_analysis_run_and_its_values(argo):
    argo.sim.measure = inconclusive
    updating(
        argo,
        steps=[
            {"setWeight": 30},
            {
                "analysis": {
                    "templates": [{"templateName": "success-rate"}],
                    "args": [{"name": "service-name", "value": "courses"}],
                }
            },
            {"setWeight": 60},
        ],
    )
    argo.settle(6)
    row, state = row_of(argo, detail="courses")
    fr = state.foreign
    assert row.phase == "Paused" and fr.pause_reasons == ("InconclusiveAnalysisRun",)
    [run] = fr.analyses
    assert run.kind == "step" and run.phase == "Inconclusive"
    [metric] = run.metrics
    assert metric.success_condition == "result[0] >= 0.95"  # as written in the template
    assert metric.failure_condition == "result[0] < 0.90"
    assert (metric.inconclusive, metric.inconclusive_limit) == (2, 1)
    assert 'service="courses"' in metric.query and metric.address == "http://prom:9090"
    panel = foreign_detail.analysis_panel(fr)
    [r] = panel.rows
    assert (r.metric, r.value, r.ok) == ("success-rate", "0.92", None)
    assert r.threshold == (
        "ok: result[0] >= 0.95 · fail: result[0] < 0.90 · failed 0/1 inconclusive 2/1 errors 0/4"
    )
    assert "inconclusiveLimit (1)" in panel.status
    lines = foreign_detail.measurement_lines(fr)
    assert [ln.text.split(" (")[0] for ln in lines] == ["success-rate = 0.92 Inconclusive"] * 2
    # the plugin's promote on an inconclusive pause moves to the next step itself
    argo_env(argo).foreign.act("courses", "promote", user="alice@laptop")
    obj = argo.get("courses")
    assert obj["status"]["currentStepIndex"] == 2 and obj["status"]["controllerPause"] is False


def test_paused_on_an_inconclusive_experiment(argo):
    updating(argo)
    argo.settle()
    argo.sim.frozen.add("courses")
    obj = argo.get("courses")
    obj["status"].update(
        phase="Paused",
        message="InconclusiveExperiment",
        controllerPause=True,
        pauseConditions=[{"reason": "InconclusiveExperiment", "startTime": "2026-12-03T16:00:00Z"}],
    )
    argo.emu.put(GROUP, "rollouts", obj, NS)
    row, state = row_of(argo)
    assert row.phase == "Paused" and state.foreign.pause_reasons == ("InconclusiveExperiment",)


def failing(run, metric, n):
    return "0.61", "Failed"


def test_degraded_by_a_failed_analysis_is_rolled_back_with_the_reason(argo):
    argo.sim.measure = failing
    updating(
        argo,
        steps=[
            {"setWeight": 30},
            {
                "analysis": {
                    "templates": [{"templateName": "success-rate"}],
                    "args": [{"name": "service-name", "value": "courses"}],
                }
            },
        ],
    )
    argo.settle(6)
    row, state = row_of(argo)
    fr = state.foreign
    assert row.phase == "Degraded (aborted)" and row.alert
    assert fr.phase == Phase.ROLLED_BACK and fr.set_weight == 0
    assert (
        'Metric "success-rate" assessed Failed due to failed (2) > failureLimit (1)' in fr.message
    )
    [r] = foreign_detail.analysis_panel(fr).rows
    assert (r.value, r.ok) == ("0.61", False)


def test_degraded_without_abort_stays_progressing_with_the_controllers_message(argo):
    updating(argo)
    argo.settle()
    argo.sim.frozen.add("courses")
    obj = argo.get("courses")
    obj["status"].update(
        phase="Degraded",
        message='ProgressDeadlineExceeded: ReplicaSet "courses-abc" has timed out progressing.',
    )
    argo.emu.put(GROUP, "rollouts", obj, NS)
    row, state = row_of(argo)
    assert row.phase == "Degraded" and state.foreign.phase == Phase.PROGRESSING
    assert "ProgressDeadlineExceeded" in foreign_detail.title_lines(state.foreign)[1]


def test_aborted_by_an_operator(argo):
    updating(argo)
    argo.settle(2)
    argo_env(argo).foreign.act("courses", "abort", user="alice@laptop")
    argo.settle()
    row, state = row_of(argo, detail="courses")
    assert row.phase == "Degraded (aborted)" and state.foreign.phase == Phase.ABORTED
    assert [(a.actor, a.action) for a in state.audit] == [("alice@laptop", "abort")]


def test_healthy(argo):
    argo.add(rollout_obj("courses", "ghcr.io/lms/courses:1.0"))
    argo.settle()
    row, state = row_of(argo)
    assert (row.phase, row.step, row.weights, row.ready) == ("Healthy", "5/5", "-", "4/4")
    assert state.foreign.phase == Phase.COMPLETED and state.foreign.canary == ""
    assert all(i.state == "done" for i in foreign_detail.timeline(state.foreign))


def test_two_rollouts_and_the_status_rows(argo):
    updating(argo, "courses")
    updating(argo, "grades")
    argo.settle(2)
    from console.commands.status import collect

    rows = collect(argo_env(argo))
    assert [r["service"] for r in rows] == ["courses", "grades"]
    assert rows[0]["phase"] == "Paused" and rows[0]["step"] == "1/5"
    assert rows[0]["weights"] == {"1-0": 80, "2-0": 20}
    assert list(rows[0]["foreign"]["pause_reasons"]) == ["CanaryPauseStep"]
    assert rows[0]["driver"] == "argo-rollouts" and rows[0]["guarded"] is True


@pytest.mark.parametrize("controller", [None, "none"])
def test_detection_on_a_plain_kubernetes_environment(argo, controller):
    """No ``controller`` key: the Rollouts show because the API serves argoproj.io;
    ``controller: none`` turns that off."""
    argo.add(rollout_obj("courses", "ghcr.io/lms/courses:1.0"))
    argo.settle()
    env = argo_env(argo, controller=controller)
    try:
        assert env.store is not None
        names = set(collect_snapshot(env).services)
        assert ("courses" in names) == (controller is None)
    finally:
        env.traffic.close()
        env.store.close()


def test_a_record_of_ours_wins_over_a_rollout_of_the_same_name(argo):
    from backends.base import RolloutRecord, Strategy
    from console.driver.foreign import drive_refusal, lookup

    argo.add(rollout_obj("courses", "ghcr.io/lms/courses:1.0"))
    argo.add(rollout_obj("grades", "ghcr.io/lms/grades:1.0"))
    argo.settle()
    env = argo_env(argo, controller=None)
    closing = [env.traffic, env.store]
    rec = RolloutRecord("courses", Strategy.CANARY, "v1", "v2", Phase.PROGRESSING, plan={})
    env.store.save(rec, 0)
    try:
        check_record_wins(env, lookup, drive_refusal)
    finally:
        for part in closing:
            part.close()


def check_record_wins(env, lookup, drive_refusal):
    assert lookup(env, "courses") is None and lookup(env, "grades") is not None
    snap = collect_snapshot(env)
    assert snap.services["courses"].foreign is None and snap.services["courses"].record
    assert snap.services["grades"].foreign is not None
    assert drive_refusal(env, "courses") is None
    assert "argo-rollouts drives" in (drive_refusal(env, "grades") or "")


def test_detection_under_a_role_without_argo_access_hides_them_quietly(argo):
    """A plain Kubernetes environment on a cluster with Argo installed, under
    deploy/rbac.yaml (no argoproj.io rules): nothing of Argo shows, and nothing fails."""
    from tests.kubernetes.kubetest import DEPLOY, manifests

    argo.add(rollout_obj("courses", "ghcr.io/lms/courses:1.0"))
    argo.settle()
    role = next(d for d in manifests(DEPLOY / "rbac.yaml") if d["kind"] == "Role")
    argo.emu.use_role(role)
    env = argo_env(argo, controller=None)
    try:
        snap = collect_snapshot(env)
        assert snap.error is None and "courses" not in snap.services
    finally:
        env.traffic.close()
        env.store.close()
