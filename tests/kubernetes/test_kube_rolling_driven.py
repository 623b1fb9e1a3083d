"""The Driver runs a rolling plan through the Deployment's own rolling update.

A service laid out as ONE Deployment named after it (deploy/examples/courses-rolling.yaml)
is rolled by the controller: the engine changes the template once, holds the controller
with ``spec.paused`` between batches while analysis runs, and rolls back the way
``kubectl rollout undo`` does. No second Deployment is ever created.
"""

from __future__ import annotations

import time

import pytest

from backends.base import Command, CommandKind, Phase
from tests.kubernetes.kubetest import DEPLOY, NS, apply, drive, driver_for, make_env, plan, recorder
from tests.support.waits import wait_for

pytestmark = pytest.mark.slow

ROLLING = """\
service: courses
strategy: rolling
stable: v1
candidate: v2
maxSurge: 1
maxUnavailable: 0
minReady: 0s
pauseBetweenBatches: 1s
analysis:
  interval: 1s
  minRequests: 1
  metrics:
    - {name: error-rate, max: 0.05}
"""


def deployments(c) -> list[str]:
    return sorted(d["metadata"]["name"] for d in c.emu.list("apps", "deployments", NS))


def image(c) -> str:
    dep = c.emu.get("apps", "deployments", NS, "courses")
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


def test_rolling_plan_drives_the_deployments_own_update_and_holds_it_between_batches(cluster):
    apply(cluster.emu, DEPLOY / "examples/courses-rolling.yaml")
    env, traffic, store = make_env(cluster)

    def state():
        dep = cluster.emu.get("apps", "deployments", NS, "courses")
        h = traffic.health("courses")
        pods = tuple(h[v].total if v in h else 0 for v in ("v1", "v2"))
        return bool(dep["spec"].get("paused")), pods

    d = driver_for(env, "alice@laptop:1:aa")
    try:
        wait_for(lambda: traffic.health("courses")["v1"].ready == 4, what="v1 ready")
        states, observe = recorder(state)
        observe()
        rec = d.begin(plan(ROLLING))
        assert rec.engine["rolling"]["native"] is True
        dep = cluster.emu.get("apps", "deployments", NS, "courses")
        assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
        assert dep["spec"]["minReadySeconds"] == 0 and dep["spec"]["replicas"] == 4
        rec = drive(d, lambda r: r is not None and r.phase.terminal, observe, timeout=60)
        assert rec.phase is Phase.COMPLETED, rec.message
        assert image(cluster) == "ghcr.io/example/lms-courses:v2"
        assert deployments(cluster) == ["courses"]  # the controller did it, no clone
        assert states[0] == (False, (4, 0)) and states[-1] == (False, (0, 4))
        # Held between batches: paused part-way, with v1 and v2 pods both running. (The
        # controller may have started a pod of the next batch before the hold landed.)
        held = [pods for paused, pods in states if paused]
        assert held and all(v1 > 0 and v2 > 0 for v1, v2 in held)
        assert all(4 <= a + b <= 5 for _, (a, b) in states)  # maxSurge 1, maxUnavailable 0
        assert [rev for rev, _ in traffic.history("courses")] == [1, 2]
        kinds = [a.action for a in store.read_audit("courses")]
        assert "rolling-update" in kinds and "hold" in kinds and "release" in kinds
    finally:
        d.close()
        traffic.close()
        store.close()


def test_abort_undoes_the_deployment_to_the_stable_revision(cluster):
    apply(cluster.emu, DEPLOY / "examples/courses-rolling.yaml")
    env, traffic, store = make_env(cluster)
    d = driver_for(env, "alice@laptop:1:aa")
    try:
        wait_for(lambda: traffic.health("courses")["v1"].ready == 4, what="v1 ready")
        d.begin(plan(ROLLING.replace("pauseBetweenBatches: 1s", "pauseBetweenBatches: 60s")))
        # Wait until the controller is held after the first batch, then abort.
        drive(
            d,
            lambda r: r is not None and r.engine.get("sub") == "between",
            lambda: None,
            timeout=30,
        )
        dep = cluster.emu.get("apps", "deployments", NS, "courses")
        assert dep["spec"]["paused"] is True
        store.post_command(Command(CommandKind.ABORT, "courses", user="carol", at=time.time()))
        rec = drive(d, lambda r: r is not None and r.phase.terminal, lambda: None, timeout=30)
        assert rec.phase is Phase.ABORTED, rec.message
        assert "Deployment back on v1" in rec.message
        assert image(cluster) == "ghcr.io/example/lms-courses:v1"
        dep = cluster.emu.get("apps", "deployments", NS, "courses")
        assert not dep["spec"].get("paused")
        h = traffic.health("courses")
        assert h["v1"].ready == 4 and ("v2" not in h or h["v2"].total == 0)
        # kubectl rollout undo: the v1 template came back as a new revision
        assert traffic.rollout_status("courses")["revision"] == 3
        assert deployments(cluster) == ["courses"]
    finally:
        d.close()
        traffic.close()
        store.close()


def test_a_crash_looping_update_waits_with_the_reason_and_keeps_v1_serving(cluster):
    apply(cluster.emu, DEPLOY / "examples/courses-rolling.yaml")
    env, traffic, store = make_env(cluster)
    d = driver_for(env, "alice@laptop:1:aa")
    events: list = []
    d.on_event = events.append
    try:
        wait_for(lambda: traffic.health("courses")["v1"].ready == 4, what="v1 ready")
        d.begin(plan(ROLLING.replace("candidate: v2", "candidate: v2-crash")))
        drive(
            d,
            lambda r: any("CrashLoopBackOff" in e.message for e in events),
            lambda: None,
            timeout=30,
        )
        rec = d.tick()
        assert rec is not None and rec.phase is Phase.PROGRESSING
        h = traffic.health("courses")
        assert h["v1"].ready == 4  # maxUnavailable 0: no stable pod was taken away
        health = [e.message for e in events if e.kind == "health"]
        assert "waiting for 1 ready v2-crash pods" in health[-1]
        assert "CrashLoopBackOff: courses-" in health[-1]
    finally:
        d.close()
        traffic.close()
        store.close()


def test_only_one_deployment_named_after_the_service_in_replica_mode_is_native(cluster, kube):
    traffic, _ = kube
    apply(cluster.emu, DEPLOY / "examples/courses-rolling.yaml")
    wait_for(lambda: traffic.rollout_status("courses")["ready"] == 4, what="v1 ready")
    st = traffic.native_rollout("courses")
    assert st is not None and (st.version, st.desired, st.ready, st.paused) == ("v1", 4, 4, False)
    # A Service pinning a version (blue/green's layout) would never route to new pods.
    svc = cluster.emu.get("", "services", NS, "courses")
    svc["spec"]["selector"] = {"app": "courses", "version": "v1"}
    cluster.emu.put("", "services", svc, NS)
    wait_for(lambda: traffic.mode("courses") == "selector", what="selector mode")
    assert traffic.native_rollout("courses") is None
    # One Deployment per version: the engine batches instead.
    assert traffic.native_rollout("grades") is None


def test_per_version_deployments_are_not_native(cluster, kube):
    traffic, _ = kube
    apply(cluster.emu, DEPLOY / "examples/courses-bluegreen.yaml")
    wait_for(lambda: traffic.health("courses").get("v1"), what="v1 pods")
    assert traffic.native_rollout("courses") is None
