"""The Deployment's own rolling update: start, pause/resume via spec.paused, rollout undo."""

from __future__ import annotations

from backends.base import NotFound
from tests.kubernetes.kubetest import DEPLOY, NS, apply
from tests.support.waits import wait_for


def dep(c):
    return c.emu.get("apps", "deployments", NS, "courses")


def image(d):
    return d["spec"]["template"]["spec"]["containers"][0]["image"]


def test_rolling_update_pause_resume_and_undo(cluster, kube):
    traffic, _ = kube
    assert traffic.supports_native_rolling
    apply(cluster.emu, DEPLOY / "examples/courses-rolling.yaml")
    wait_for(lambda: traffic.rollout_status("courses")["ready"] == 4, what="v1 ready")
    assert traffic.rollout_status("courses")["revision"] == 1

    traffic.rolling_update("courses", "v2", max_surge=1, max_unavailable=0, min_ready=5)
    d = dep(cluster)
    assert image(d) == "ghcr.io/example/lms-courses:v2"
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert d["spec"]["minReadySeconds"] == 5
    assert d["spec"]["template"]["metadata"]["labels"]["version"] == "v2"
    # the container list was merged by name (strategic merge), not replaced
    assert d["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"name": "http", "containerPort": 8080}
    ]

    # as soon as the first v2 pod exists, pause: the controller stops moving pods
    wait_for(lambda: traffic.health("courses").get("v2"), what="first v2 pod")
    traffic.pause("courses")
    assert dep(cluster)["spec"]["paused"] is True
    st = wait_for(
        lambda: (s := traffic.rollout_status("courses"))["reason"] == "DeploymentPaused" and s,
        what="paused status",
    )
    assert st["paused"] and st["updated"] < 4
    frozen = traffic.health("courses")
    assert frozen["v1"].total >= 1  # old pods still serve while paused

    traffic.resume("courses")
    assert "paused" not in dep(cluster)["spec"]
    wait_for(
        lambda: (h := traffic.health("courses")).get("v2") and h["v2"].ready == 4 and "v1" not in h,
        what="rollout to v2 complete",
    )
    assert traffic.rollout_status("courses")["revision"] == 2
    history = traffic.history("courses")
    assert [rev for rev, _ in history] == [1, 2]

    # kubectl rollout undo: back to revision 1's template, which becomes revision 3
    assert traffic.rollback("courses") == 1
    d = dep(cluster)
    assert image(d) == "ghcr.io/example/lms-courses:v1"
    assert "pod-template-hash" not in d["spec"]["template"]["metadata"]["labels"]
    assert d["spec"]["template"]["metadata"]["labels"]["version"] == "v1"
    wait_for(
        lambda: (h := traffic.health("courses")).get("v1") and h["v1"].ready == 4 and "v2" not in h,
        what="rolled back to v1",
    )
    wait_for(lambda: traffic.rollout_status("courses")["revision"] == 3, what="revision 3")
    assert traffic.rollout_status("courses")["version"] == "v1"


def test_undo_without_history_is_named(cluster, kube):
    traffic, _ = kube
    apply(cluster.emu, DEPLOY / "examples/courses-rolling.yaml")
    wait_for(lambda: traffic.rollout_status("courses")["revision"] == 1, what="revision 1")
    try:
        traffic.rollback("courses")
    except NotFound as exc:
        assert "no revision before 1" in str(exc)
    else:
        raise AssertionError("rollback with no history should fail")
