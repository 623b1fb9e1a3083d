"""Each verb sends exactly the requests of ``kubectl argo rollouts`` (its cmd/promote,
pause, abort, retry and undo: method, subresource, patch type and body), and the simulated
controller then moves the Rollout as Argo would."""

from __future__ import annotations

import time

import pytest

from backends.base import ForeignController, Phase
from tests.kubernetes.argotest import argo_env, rollout_obj, start_argo

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def writes(argo, since: float) -> list[tuple]:
    """The mutating requests since ``since``, as (verb, plural, subresource, type, body)."""
    return [
        (c.verb, c.plural, c.subresource, c.content_type, c.body)
        for c in argo.emu.calls(since)
        if c.verb in ("patch", "update", "create", "delete") and c.plural != "events"
    ]


def reads(argo, since: float) -> list[tuple[str, str]]:
    return [(c.verb, c.plural) for c in argo.emu.calls(since) if c.verb in ("get", "list")]


def paused_at_first_pause(argo, name="courses"):
    argo.add(rollout_obj(name, "ghcr.io/lms/courses:1.0"))
    argo.settle()
    argo.set_image(name, "ghcr.io/lms/courses:2.0")
    argo.settle(3)
    obj = argo.get(name)
    assert obj["status"]["pauseConditions"][0]["reason"] == "CanaryPauseStep"
    assert obj["status"]["currentStepIndex"] == 1


def test_the_argo_backend_meets_the_foreign_contract(argo):
    env = argo_env(argo)
    assert isinstance(env.foreign, ForeignController)
    assert env.traffic is None and env.store is None  # every rollout there is Argo's
    assert env.foreign.verbs >= {"promote", "promote-full", "pause", "abort", "retry", "undo"}


def test_promote_at_a_pause_step_clears_the_pause_conditions_on_status(argo):
    paused_at_first_pause(argo)
    env = argo_env(argo)
    since = time.time()
    said = env.foreign.act("courses", "promote", user="alice@laptop", reason="looks good")
    assert said == "rollout 'courses' promoted"
    # promote.go: GET, then the status patch {"status":{"pauseConditions":null}} (merge)
    assert reads(argo, since)[0] == ("get", "rollouts")
    assert writes(argo, since) == [
        ("patch", "rollouts", "status", MERGE, {"status": {"pauseConditions": None}})
    ]
    argo.settle(2)
    obj = argo.get("courses")
    assert obj["status"]["currentStepIndex"] == 3  # the pause done, setWeight 50 done
    assert obj["status"]["canary"]["weights"]["canary"]["weight"] == 50


def test_promote_of_a_running_step_skips_it_with_the_next_index(argo):
    argo.add(
        rollout_obj(
            "courses",
            "ghcr.io/lms/courses:1.0",
            steps=[{"setWeight": 10}, {"pause": {"duration": "1h"}}, {"setWeight": 60}],
        )
    )
    argo.settle()
    argo.set_image("courses", "ghcr.io/lms/courses:2.0")
    argo.settle()  # setWeight 10 done: at index 1, about to pause
    obj = argo.get("courses")
    assert obj["status"]["currentStepIndex"] == 1 and not obj["status"].get("pauseConditions")
    since = time.time()
    argo_env(argo).foreign.act("courses", "promote", user="alice@laptop")
    # no pause condition, canary: clearPauseConditionsPatchWithStep with index + 1
    assert writes(argo, since) == [
        (
            "patch", "rollouts", "status", MERGE,
            {"status": {"pauseConditions": None, "currentStepIndex": 2}},
        )
    ]  # fmt: skip


def test_promote_of_a_paused_spec_unpauses_it_too(argo):
    paused_at_first_pause(argo)
    env = argo_env(argo)
    env.foreign.act("courses", "pause", user="alice@laptop")
    since = time.time()
    env.foreign.act("courses", "promote", user="alice@laptop")
    assert writes(argo, since) == [
        ("patch", "rollouts", "status", MERGE, {"status": {"pauseConditions": None}}),
        ("patch", "rollouts", None, MERGE, {"spec": {"paused": False}}),
    ]


def test_promote_full_sets_promote_full_on_status(argo):
    paused_at_first_pause(argo)
    since = time.time()
    said = argo_env(argo).foreign.act("courses", "promote-full", user="alice@laptop")
    assert said == "rollout 'courses' fully promoted"
    assert writes(argo, since) == [
        ("patch", "rollouts", "status", MERGE, {"status": {"promoteFull": True}})
    ]
    argo.settle()
    fr = argo_env(argo).foreign.rollout("courses")
    assert fr.status == "Healthy" and fr.phase == Phase.COMPLETED
    assert fr.stable == "ghcr.io/lms/courses:2.0" and fr.canary == ""


def test_pause_patches_spec_paused_without_reading_first(argo):
    paused_at_first_pause(argo)
    since = time.time()
    said = argo_env(argo).foreign.act("courses", "pause", user="alice@laptop")
    assert said == "rollout 'courses' paused"
    assert writes(argo, since) == [("patch", "rollouts", None, MERGE, {"spec": {"paused": True}})]
    assert reads(argo, since) == []  # pause.go patches at once
    argo.settle()
    assert "PausedBySpec" in argo_env(argo).foreign.rollout("courses").pause_reasons


def test_abort_then_retry_patch_status_abort(argo):
    paused_at_first_pause(argo)
    env = argo_env(argo)
    since = time.time()
    assert env.foreign.act("courses", "abort", user="alice@laptop") == "rollout 'courses' aborted"
    assert writes(argo, since) == [
        ("patch", "rollouts", "status", MERGE, {"status": {"abort": True}})
    ]
    assert reads(argo, since) == []
    argo.settle()
    fr = env.foreign.rollout("courses")
    assert fr.status == "Degraded" and fr.aborted and fr.phase == Phase.ABORTED
    assert fr.set_weight == 0 and fr.message.startswith("RolloutAborted")
    since = time.time()
    assert env.foreign.act("courses", "retry", user="alice@laptop") == "rollout 'courses' retried"
    assert writes(argo, since) == [
        ("patch", "rollouts", "status", MERGE, {"status": {"abort": False}})
    ]
    argo.settle()
    assert env.foreign.rollout("courses").status in ("Progressing", "Paused")


def test_undo_replaces_the_template_with_the_previous_revision(argo):
    argo.add(rollout_obj("courses", "ghcr.io/lms/courses:1.0"))
    argo.settle()
    argo.set_image("courses", "ghcr.io/lms/courses:2.0")
    argo.settle(2)
    since = time.time()
    said = argo_env(argo).foreign.act("courses", "undo", user="alice@laptop")
    assert said == "rollout 'courses' undo (back to revision 1)"
    # undo.go: GET the rollout, LIST ReplicaSets by its selector, one JSON patch
    assert reads(argo, since) == [("get", "rollouts"), ("list", "replicasets")]
    listed = [c for c in argo.emu.calls(since) if c.plural == "replicasets"]
    assert listed[0].query == {"labelSelector": "app=courses"}
    [(verb, plural, sub, kind, body)] = writes(argo, since)
    assert (verb, plural, sub, kind) == ("patch", "rollouts", None, JSON_PATCH)
    [op] = body
    assert op["op"] == "replace" and op["path"] == "/spec/template"
    assert op["value"]["spec"]["containers"][0]["image"] == "ghcr.io/lms/courses:1.0"
    assert "rollouts-pod-template-hash" not in op["value"]["metadata"]["labels"]
    argo.settle()
    fr = argo_env(argo).foreign.rollout("courses")
    assert fr.status == "Healthy" and fr.stable == "ghcr.io/lms/courses:1.0"


def test_undo_with_one_revision_is_refused(argo):
    from console.driver import foreign

    argo.add(rollout_obj("courses", "ghcr.io/lms/courses:1.0"))
    argo.settle()
    with pytest.raises(foreign.ForeignRefused, match="no revision"):
        foreign.act(argo_env(argo), "courses", "undo")


def test_without_a_status_subresource_the_unified_patch_goes_to_the_rollout(tmp_path):
    # promote.go and abort.go: a 404 on /status sends the same change to the object itself
    gen = start_argo(tmp_path, status_subresource=False)
    argo = next(gen)
    try:
        paused_at_first_pause(argo)
        env = argo_env(argo)
        since = time.time()
        env.foreign.act("courses", "promote", user="alice@laptop")
        assert writes(argo, since) == [
            ("patch", "rollouts", "status", MERGE, {"status": {"pauseConditions": None}}),
            (
                "patch",
                "rollouts",
                None,
                MERGE,
                {"spec": {"paused": False}, "status": {"pauseConditions": None}},
            ),
        ]
        since = time.time()
        env.foreign.act("courses", "abort", user="alice@laptop")
        assert writes(argo, since) == [
            ("patch", "rollouts", "status", MERGE, {"status": {"abort": True}}),
            ("patch", "rollouts", None, MERGE, {"status": {"abort": True}}),
        ]
    finally:
        gen.close()


def test_every_verb_leaves_an_event_saying_who(argo):
    paused_at_first_pause(argo)
    env = argo_env(argo)
    env.foreign.act("courses", "pause", user="alice@laptop", reason="checking dashboards")
    env.foreign.act("courses", "promote", user="bob@desk")
    [event] = [e for e in argo.emu.list("", "events", "lms") if e["action"] == "pause"]
    assert event["involvedObject"]["kind"] == "Rollout"
    assert event["involvedObject"]["name"] == "courses"
    assert event["reason"] == "RolloutConsole" and event["action"] == "pause"
    assert event["message"] == "pause by alice@laptop: checking dashboards"
    history = env.foreign.history("courses")
    assert [(a.actor, a.action, a.reason) for a in history] == [
        ("alice@laptop", "pause", "checking dashboards"),
        ("bob@desk", "promote", ""),
    ]
