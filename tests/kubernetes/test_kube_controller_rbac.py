"""deploy/controller/rbac.yaml is exactly enough for the controller: two controllers (an
active one and a standby that takes over on a handover) drive a canary, a blue/green and a
rolling rollout to their ends under only that Role; nothing is refused, and every rule the
Role grants is used by them.

The rollouts are started beforehand as ``rollout start`` does (with the operator's own
permissions, deploy/rbac.yaml), and the request log is read from then on, so only the
controllers' requests count. What each rollout exercises:

- courses, canary to v3 (not deployed yet): its starter saved the record but failed to
  deploy v3 (as if it died between the two), so the controller creates v3's Deployment and
  Service, then moves the HTTPRoute's weights (one update answered 409: re-read and retry);
- grades, blue/green to v4: a new Deployment, the preview and active Services' selectors;
  its audit ConfigMap is missing, as when ``rollout start`` died between saving the record
  and writing its first audit line: the controller creates it;
- enrollments, the Deployment's own rolling update to v2 whose analysis breaches: rolled
  back with ``rollout undo`` (the ReplicaSet history);
- the controller key and every rollout's lease: created, read by the standby, renewed.
"""

from __future__ import annotations

import time

import yaml

from backends.base import Environment, Phase
from console.driver.controller import Controller
from console.driver.loop import Driver
from tests.kubernetes.kubetest import DEPLOY, KINDS, NS, connect, manifests, plan
from tests.kubernetes.test_kube_rbac import granted
from tests.support.fakes import FakeMetrics
from tests.support.waits import wait_for

ROLE = DEPLOY / "controller" / "rbac.yaml"

CANARY = """\
service: courses
strategy: canary
stable: v1
candidate: v3
steps:
  - setWeight: 50
  - pause: 1s
"""

BLUEGREEN = """\
service: grades
strategy: bluegreen
stable: v1
candidate: v4
autoPromote: 0s
scaleDownDelay: 1s
previewDuration: 1s
"""

ROLLING = """\
service: enrollments
strategy: rolling
stable: v1
candidate: v2
maxSurge: 1
maxUnavailable: 0
minReady: 0s
pauseBetweenBatches: 5s
analysis:
  interval: 1s
  minRequests: 1
  metrics:
    - {name: error-rate, max: 0.05}
"""


def seed(emu, file: str, service: str) -> None:
    """Apply an example with its service renamed (several layouts side by side)."""
    text = (DEPLOY / "examples" / file).read_text().replace("courses", service)
    for doc in yaml.safe_load_all(text):
        if doc and doc["kind"] in KINDS:
            group, plural = KINDS[doc["kind"]]
            emu.put(group, plural, doc, NS)


def controller_role() -> dict:
    return next(d for d in manifests(ROLE) if d["kind"] == "Role")


def env_on(cluster, metrics: FakeMetrics) -> Environment:
    traffic, store = connect(cluster)
    return Environment("k8s", traffic, metrics, store, "kube emu / lms")


def close(env: Environment) -> None:
    env.traffic.close()
    env.store.close()


def test_the_controller_runs_every_strategy_under_its_role_and_uses_all_of_it(cluster):
    emu = cluster.emu
    seed(emu, "courses-canary.yaml", "courses")
    seed(emu, "courses-bluegreen.yaml", "grades")
    seed(emu, "courses-rolling.yaml", "enrollments")
    metrics = FakeMetrics(time.time)
    metrics.errors["v2"] = 0.5  # only enrollments has a v2 candidate: its analysis breaches

    # `rollout start` for each, with the operator's permissions (not counted)
    starter = env_on(cluster, metrics)
    try:
        wait_for(lambda: starter.traffic.health("courses")["v1"].ready == 3, what="courses v1")
        wait_for(lambda: starter.traffic.health("grades")["v1"].ready == 3, what="grades v1")
        wait_for(
            lambda: starter.traffic.rollout_status("enrollments")["ready"] == 4, what="enrollments"
        )
        # Pods now take a while to get ready: the Deployment's own rolling update is still in
        # its first batches (held by the engine after each) when the controller takes over.
        cluster.sim.ready_delay = 3.0
        # courses' starter saves its record but its first action (deploy v3) fails, as if
        # it had died between the two: the controller's reconcile deploys v3
        emu.fail_next("create", "deployments", code=500)
        for text in (CANARY, BLUEGREEN, ROLLING):
            p = plan(text)
            d = Driver(starter, p.service, holder="ops@laptop:1:aa")
            d.begin(p)
            d.close()
    finally:
        close(starter)
    emu.delete("", "configmaps", NS, "rollout-grades-audit")  # the starter died before it

    role = controller_role()
    emu.use_role(role)
    mark = len(emu.calls())
    emu.fail_next("update", "httproutes", name="courses")
    active, standby = env_on(cluster, metrics), env_on(cluster, metrics)
    first = Controller(active, holder="ctl@pod-a:1:aa", lease_ttl=5.0, interval=0.2, workers=0)
    second = Controller(standby, holder="ctl@pod-b:1:bb", lease_ttl=5.0, interval=0.2, workers=0)
    services = ("courses", "grades", "enrollments")
    try:

        def passes(*controllers: Controller) -> None:
            for c in controllers:
                c.pass_once()
            time.sleep(0.1)

        def progressed() -> bool:
            passes(first, second)
            rec = active.store.load("courses")
            return (
                first.active
                and not second.active
                and rec is not None
                and bool(rec.weights.get("v3"))
            )

        wait_for(progressed, timeout=60, what="the first controller moving courses to v3")
        first.close(reason="SIGTERM")  # the handover: every lease and the key given back

        def finished() -> bool:
            passes(second)
            recs = [standby.store.load(s) for s in services]
            return all(r is not None and r.phase.terminal for r in recs)

        wait_for(finished, timeout=120, what="every rollout finished by the standby")
        assert second.active
        phases = {s: standby.store.load(s).phase for s in services}  # type: ignore[union-attr]
        assert phases == {
            "courses": Phase.COMPLETED,
            "grades": Phase.COMPLETED,
            "enrollments": Phase.ROLLED_BACK,
        }
        audit = standby.store.read_audit("enrollments")
        assert [e.actor for e in audit if e.action == "take-over"] == ["ctl@pod-a", "ctl@pod-b"]
        second.close()
    finally:
        close(active)
        close(standby)

    used = {(r.group, r.plural, r.verb) for r in emu.calls()[mark:]}
    # nothing was refused, and nothing the Role grants went unused
    assert used <= granted(role), used - granted(role)
    assert granted(role) - used == set()
