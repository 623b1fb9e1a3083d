"""End to end: the real Driver and engine drive the Kubernetes backend against the emulator.

Canary, blue/green and rolling each run to completion (or abort) while the test records
the states the HTTPRoute weights, Service selectors and Deployment replicas pass through.
Metrics come from the fake metrics source (the emulated pods serve no traffic to measure).
"""

from __future__ import annotations

import time

import pytest

from backends.base import (
    Command,
    CommandKind,
    Phase,
)
from tests.kubernetes.kubetest import (
    DEPLOY,
    NS,
    apply,
    drive,
    driver_for,
    make_env,
    manifests,
    plan,
    recorder,
)
from tests.support.waits import wait_for

pytestmark = pytest.mark.slow
GW = "gateway.networking.k8s.io"


CANARY = """\
service: courses
strategy: canary
stable: v1
candidate: v2
steps:
  - setWeight: 20
  - pause: 1s
  - setWeight: 50
  - pause: 1s
  - setWeight: 100
analysis:
  interval: 1s
  minRequests: 1
  metrics:
    - {name: error-rate, max: 0.05}
match:
  - header: {x-lms-beta: "true"}
mirror: 10
"""


def route_state(c) -> tuple:
    rules = c.emu.get(GW, "httproutes", NS, "courses")["spec"]["rules"]
    default = rules[-1]
    weights = tuple(b["weight"] for b in default["backendRefs"])
    mirror = [
        f["requestMirror"] for f in default.get("filters", []) if f["type"] == "RequestMirror"
    ]
    return weights, len(rules) - 1, mirror[0].get("percent", 100) if mirror else 0


def test_canary_completes_through_expected_route_states(cluster):
    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    env, traffic, store = make_env(cluster)
    d = driver_for(env, "alice@laptop:1:aa")
    try:
        wait_for(lambda: traffic.health("courses")["v2"].ready == 3, what="v2 ready")
        states, observe = recorder(lambda: route_state(cluster))
        observe()
        # one conflicting write on the route along the way: retried, nothing lost
        cluster.emu.fail_next("update", "httproutes", name="courses", code=409)
        d.begin(plan(CANARY))
        rec = drive(d, lambda r: r is not None and r.phase.terminal, observe)
        assert rec.phase is Phase.COMPLETED, rec.message
        weights = [s[0] for s in states]
        # (v1, v2) weights on the route, in order, with nothing else in between
        assert [w for i, w in enumerate(weights) if i == 0 or w != weights[i - 1]] == [
            (100, 0),
            (80, 20),
            (50, 50),
            (0, 100),
        ]
        # beta route and mirror on while v2 was partly exposed, both gone at the end
        assert any(s[1] == 1 and s[2] == 10 for s in states)
        assert states[-1] == ((0, 100), 0, 0)
        assert store.load("courses").phase is Phase.COMPLETED
        audit = store.read_audit("courses")
        assert any(e.action == "set-split" for e in audit)
    finally:
        d.close()
        traffic.close()
        store.close()


def test_canary_abort_returns_everything_to_stable_and_lease_refuses_a_second_driver(cluster):
    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    env, traffic, store = make_env(cluster)
    env2, traffic2, store2 = make_env(cluster)
    d = driver_for(env, "alice@laptop:1:aa")
    other = driver_for(env2, "bob@desk:2:bb")
    slow = CANARY.replace("pause: 1s", "pause: {}")  # manual gates: it waits at 20%
    try:
        wait_for(lambda: traffic.health("courses")["v2"].ready == 3, what="v2 ready")
        states, observe = recorder(lambda: route_state(cluster))
        d.begin(plan(slow))
        drive(d, lambda r: route_state(cluster)[0] == (80, 20), observe)
        # a second console is refused the lease: it only watches
        assert other.tick() is None and not other.driving
        lease = store2.lease("courses")
        assert lease is not None and lease.holder == "alice@laptop:1:aa"
        # its key press becomes a command that the driving console applies
        store2.post_command(Command(CommandKind.ABORT, "courses", user="bob", at=time.time()))
        rec = drive(d, lambda r: r is not None and r.phase.terminal, observe)
        assert rec.phase is Phase.ABORTED
        assert route_state(cluster) == ((100, 0), 0, 0)  # weights, no beta rule, no mirror
        assert (80, 20) in [s[0] for s in states]
        split = traffic2.get_split("courses")
        assert (
            split.weights == {"v1": 100, "v2": 0}
            and split.match == ()
            and split.mirror_percent == 0
        )
        assert any(e.action == "abort" and e.user == "bob" for e in store.read_audit("courses"))
    finally:
        other.close()
        d.close()
        for x in (traffic, store, traffic2, store2):
            x.close()


def test_crash_looping_candidate_stops_the_rollout_with_the_reason(cluster):
    text = (DEPLOY / "examples/courses-canary.yaml").read_text()
    path = cluster.kubeconfig.parent / "crash.yaml"
    path.write_text(text.replace("lms-courses:v2", "lms-courses:v2-crash"))
    apply(cluster.emu, path)
    env, traffic, store = make_env(cluster)
    d = driver_for(env, "alice@laptop:1:aa")
    events = []
    d.on_event = events.append
    try:
        wait_for(
            lambda: any("CrashLoopBackOff" in r for r in traffic.health("courses")["v2"].reasons),
            what="crash loop",
        )
        d.begin(plan(CANARY))
        drive(d, lambda r: any("CrashLoopBackOff" in e.message for e in events), lambda: None)
        for _ in range(5):
            rec = d.tick()
        assert rec is not None and rec.phase is Phase.PENDING  # never advanced
        assert traffic.health("courses")["v2"].ready == 0
        assert route_state(cluster) == ((100, 0), 0, 0)  # v2 got nothing
        health = [e for e in events if e.kind == "health"]
        assert "CrashLoopBackOff: courses-v2-" in health[-1].message
        assert any("CrashLoopBackOff" in e.message for e in store.load("courses").events)
    finally:
        d.close()
        traffic.close()
        store.close()


BLUEGREEN = """\
service: courses
strategy: bluegreen
stable: v1
candidate: v2
autoPromote: 0s
scaleDownDelay: 1s
previewDuration: 1s
"""


def test_bluegreen_switches_selector_then_retires_the_old_pool(cluster):
    apply(cluster.emu, DEPLOY / "examples/courses-bluegreen.yaml")
    env, traffic, store = make_env(cluster)
    d = driver_for(env, "alice@laptop:1:aa")

    def state():
        active = cluster.emu.get("", "services", NS, "courses")["spec"]["selector"]["version"]
        preview = cluster.emu.get("", "services", NS, "courses-preview")["spec"]["selector"][
            "version"
        ]
        v2 = cluster.emu.get("apps", "deployments", NS, "courses-v2")
        v1 = cluster.emu.get("apps", "deployments", NS, "courses-v1")["spec"]["replicas"]
        return active, preview, v1, v2["spec"]["replicas"] if v2 else None

    try:
        wait_for(lambda: traffic.health("courses")["v1"].ready == 3, what="v1 ready")
        states, observe = recorder(state)
        observe()
        d.begin(plan(BLUEGREEN))
        observe()
        rec = drive(d, lambda r: r is not None and r.phase.terminal, observe)
        assert rec.phase is Phase.COMPLETED, rec.message
        assert states[0] == ("v1", "v1", 3, None)
        assert ("v1", "v2", 3, 3) in states  # preview pool up, users still on v1
        assert ("v2", "v2", 3, 3) in states  # switched; v1 kept for scaleDownDelay
        assert states[-1] == ("v2", "v2", 0, 3)  # v1 retired (its Deployment stays)
        order = [states.index(s) for s in (("v1", "v2", 3, 3), ("v2", "v2", 3, 3), states[-1])]
        assert order == sorted(order)
    finally:
        d.close()
        traffic.close()
        store.close()


def test_bluegreen_abort_after_the_switch_goes_back_in_one_patch(cluster):
    apply(cluster.emu, DEPLOY / "examples/courses-bluegreen.yaml")
    env, traffic, store = make_env(cluster)
    d = driver_for(env, "alice@laptop:1:aa")

    def active():
        return cluster.emu.get("", "services", NS, "courses")["spec"]["selector"]["version"]

    try:
        wait_for(lambda: traffic.health("courses")["v1"].ready == 3, what="v1 ready")
        d.begin(plan(BLUEGREEN.replace("scaleDownDelay: 1s", "scaleDownDelay: 60s")))
        drive(d, lambda r: active() == "v2", lambda: None)
        assert cluster.emu.get("apps", "deployments", NS, "courses-v1")["spec"]["replicas"] == 3
        before = len(cluster.emu.calls())
        store.post_command(Command(CommandKind.ABORT, "courses", user="bob", at=time.time()))
        rec = drive(d, lambda r: r is not None and r.phase.terminal, lambda: None)
        assert rec.phase is Phase.ABORTED
        assert active() == "v1"
        writes = [
            (r.verb, r.plural, r.name)
            for r in cluster.emu.calls()[before:]
            if r.verb in ("patch", "update", "create") and r.plural != "configmaps"
        ]
        assert writes.count(("patch", "services", "courses")) == 1  # the switch back
        assert traffic.get_split("courses").weights == {"v1": 100, "v2": 0}
    finally:
        d.close()
        traffic.close()
        store.close()


ROLLING = """\
service: courses
strategy: rolling
stable: v1
candidate: v2
instances: 3
maxSurge: 1
maxUnavailable: 0
minReady: 0s
analysis:
  interval: 1s
  minRequests: 1
  metrics:
    - {name: error-rate, max: 0.05}
"""


def test_rolling_scales_batches_and_abort_restores_stable(cluster):
    docs = manifests(DEPLOY / "examples/courses-bluegreen.yaml")
    dep = next(x for x in docs if x["kind"] == "Deployment")
    svc = next(x for x in docs if x["metadata"]["name"] == "courses")
    svc["spec"]["selector"] = {"app": "courses"}  # every version behind one Service
    cluster.emu.put("apps", "deployments", dep, NS)
    cluster.emu.put("", "services", svc, NS)
    env, traffic, store = make_env(cluster)

    def state():
        v2 = cluster.emu.get("apps", "deployments", NS, "courses-v2")
        v1 = cluster.emu.get("apps", "deployments", NS, "courses-v1")["spec"]["replicas"]
        return v1, v2["spec"]["replicas"] if v2 else None

    d = driver_for(env, "alice@laptop:1:aa")
    try:
        wait_for(lambda: traffic.health("courses")["v1"].ready == 3, what="v1 ready")
        states, observe = recorder(state)
        observe()
        d.begin(plan(ROLLING))
        rec = drive(d, lambda r: r is not None and r.phase.terminal, observe)
        assert rec.phase is Phase.COMPLETED, rec.message
        # maxSurge 1, maxUnavailable 0: never fewer than 3 v1+v2 replicas, never more than 4
        assert states[0] == (3, None) and states[-1] == (0, 3)
        assert all(3 <= a + (b or 0) <= 4 for a, b in states)
        v1s, v2s = [a for a, _ in states], [b or 0 for _, b in states]
        assert v1s == sorted(v1s, reverse=True) and v2s == sorted(v2s)  # batch by batch
        assert len(states) >= 5  # 3 batches: more than one jump
        assert traffic.get_split("courses").approximate
        assert dep["metadata"]["name"] == "courses-v1"
        v2 = cluster.emu.get("apps", "deployments", NS, "courses-v2")
        assert v2["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v2")

        # a second rollout back to v1, aborted halfway: v2 is restored, v1 scaled away
        back = ROLLING.replace("stable: v1\ncandidate: v2", "stable: v2\ncandidate: v1")
        d.begin(plan(back))
        drive(d, lambda r: state()[0] >= 1, observe)
        store.post_command(Command(CommandKind.ABORT, "courses", user="carol", at=time.time()))
        rec = drive(d, lambda r: r is not None and r.phase.terminal, observe)
        assert rec.phase is Phase.ABORTED
        assert state() == (0, 3)
    finally:
        d.close()
        traffic.close()
        store.close()
