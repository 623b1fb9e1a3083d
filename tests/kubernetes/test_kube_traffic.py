"""The traffic backend against the emulator: each action's effect on the cluster's objects."""

from __future__ import annotations

import pytest

from backends.base import BackendError, MatchRule, NotFound, Unsupported
from tests.kubernetes.kubetest import DEPLOY, NS, apply, connect
from tests.support.waits import wait_for

GW = "gateway.networking.k8s.io"


def route(c):
    return c.emu.get(GW, "httproutes", NS, "courses")


def weights(c):
    rule = next(
        r for r in route(c)["spec"]["rules"] if not any(m.get("headers") for m in r["matches"])
    )
    return {ref["name"]: ref["weight"] for ref in rule["backendRefs"]}


def replicas(c, name):
    return c.emu.get("apps", "deployments", NS, name)["spec"]["replicas"]


def test_canary_actions_move_route_weights_match_and_mirror(cluster, kube):
    traffic, _ = kube
    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    assert traffic.services() == ["courses"]
    assert traffic.versions("courses") == ["v1", "v2"]
    assert traffic.mode("courses") == "gateway"
    assert traffic.get_split("courses").weights == {"v1": 100, "v2": 0}

    traffic.deploy("courses", "v2", 2)
    wait_for(lambda: traffic.health("courses")["v2"].ready == 2, what="v2 ready")
    h = traffic.health("courses")
    assert (h["v1"].ready, h["v1"].total, h["v1"].desired) == (3, 3, 3)

    traffic.set_split("courses", {"v1": 90, "v2": 10})
    assert weights(cluster) == {"courses-v1": 90, "courses-v2": 10}
    # the route's own path match and parentRefs survive our edits
    assert route(cluster)["spec"]["parentRefs"] == [{"name": "lms"}]
    default = route(cluster)["spec"]["rules"][-1]
    assert default["matches"] == [{"path": {"type": "PathPrefix", "value": "/courses"}}]

    beta = MatchRule(headers={"x-lms-beta": "true"})
    traffic.set_match("courses", [beta], "v2")
    rules = route(cluster)["spec"]["rules"]
    assert len(rules) == 2
    assert rules[0]["matches"] == [
        {
            "path": {"type": "PathPrefix", "value": "/courses"},
            "headers": [{"type": "Exact", "name": "x-lms-beta", "value": "true"}],
        }
    ]
    assert rules[0]["backendRefs"] == [{"name": "courses-v2", "port": 80, "weight": 1}]

    traffic.set_mirror("courses", "v2", 5)  # the emulated CRD says bundle v1.3.0 -> percent
    mirror = route(cluster)["spec"]["rules"][-1]["filters"][0]
    assert mirror == {
        "type": "RequestMirror",
        "requestMirror": {"backendRef": {"name": "courses-v2", "port": 80}, "percent": 5},
    }
    split = traffic.get_split("courses")
    assert split.weights == {"v1": 90, "v2": 10}
    assert (split.match_version, split.match, split.mirror_version, split.mirror_percent) == (
        "v2",
        (beta,),
        "v2",
        5,
    )
    assert not split.approximate

    # abort: everything back to stable, candidate scaled away
    traffic.set_split("courses", {"v1": 100, "v2": 0})
    traffic.set_match("courses", [], None)
    traffic.set_mirror("courses", None, 0)
    traffic.retire("courses", "v2")
    rules = route(cluster)["spec"]["rules"]
    assert len(rules) == 1 and "filters" not in rules[0]
    assert weights(cluster) == {"courses-v1": 100, "courses-v2": 0}
    assert replicas(cluster, "courses-v2") == 0
    wait_for(lambda: traffic.health("courses")["v2"].total == 0, what="v2 pods gone")


def test_mirror_uses_fraction_before_gateway_api_1_3(cluster):
    cluster.emu.put(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        {
            "metadata": {
                "name": f"httproutes.{GW}",
                "annotations": {f"{GW}/bundle-version": "v1.2.1"},
            }
        },
    )
    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    traffic, store = connect(cluster)
    try:
        traffic.deploy("courses", "v2", 1)
        traffic.set_mirror("courses", "v2", 20)
        m = route(cluster)["spec"]["rules"][-1]["filters"][0]["requestMirror"]
        assert m["fraction"] == {"numerator": 20, "denominator": 100}
        assert traffic.get_split("courses").mirror_percent == 20
        # a server that prunes both fields would mirror 100%: refused and undone
        cluster.emu.prune_mirror_percent = True
        with pytest.raises(Unsupported, match="mirror all of 'courses' or none"):
            traffic.set_mirror("courses", "v2", 20)
        assert "filters" not in route(cluster)["spec"]["rules"][-1]
    finally:
        traffic.close()
        store.close()


def test_crashing_candidate_reports_reason_and_gets_no_weight(cluster, kube):
    traffic, _ = kube
    # v2's image crashes from its first pod on (no earlier ReplicaSet still serving)
    text = (DEPLOY / "examples/courses-canary.yaml").read_text()
    path = cluster.kubeconfig.parent / "crash.yaml"
    path.write_text(text.replace("lms-courses:v2", "lms-courses:v2-crash"))
    apply(cluster.emu, path)
    traffic.scale("courses", "v2", 2)
    h = wait_for(
        lambda: (h := traffic.health("courses")["v2"]).restarts > 0 and h.total == 2 and h,
        what="v2 crash looping",
    )
    assert h.ready == 0
    assert any(r.startswith("CrashLoopBackOff: courses-v2-") and "exit 1" in r for r in h.reasons)
    with pytest.raises(BackendError, match=r"0 pods ready.*CrashLoopBackOff"):
        traffic.set_split("courses", {"v1": 90, "v2": 10})
    assert weights(cluster) == {"courses-v1": 100, "courses-v2": 0}


def test_image_pull_and_scheduling_failures_are_named(cluster, kube):
    traffic, _ = kube
    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    dep = cluster.emu.get("apps", "deployments", NS, "courses-v2")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    c["image"] = "ghcr.io/example/lms-courses:v2-pullfail"
    dep["spec"]["replicas"] = 1
    dep["spec"]["progressDeadlineSeconds"] = 1
    cluster.emu.put("apps", "deployments", dep, NS)
    big = cluster.emu.get("apps", "deployments", NS, "courses-v1")
    big["metadata"]["name"] = "courses-v3"
    big["metadata"].pop("uid")
    big["metadata"]["labels"]["version"] = "v3"
    big["spec"]["selector"]["matchLabels"]["version"] = "v3"
    big["spec"]["template"]["metadata"]["labels"]["version"] = "v3"
    big["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "64"}}
    big["spec"]["replicas"] = 1
    big.pop("status", None)
    cluster.emu.put("apps", "deployments", big, NS)

    def has(version, prefix, text=""):
        def check():
            h = traffic.health("courses").get(version)
            return h and any(r.startswith(prefix) and text in r for r in h.reasons)

        return check

    wait_for(has("v2", "ImagePullBackOff: courses-v2-"), what="image pull reason")
    wait_for(has("v2", "ProgressDeadlineExceeded: courses-v2"), what="progress deadline")
    wait_for(
        has("v3", "Unschedulable (FailedScheduling): courses-v3-", "Insufficient cpu"),
        what="scheduling reason",
    )
    assert traffic.health("courses")["v3"].ready == 0


def test_replica_ratio_fallback_without_gateway_api(cluster_nogw):
    c = cluster_nogw
    apply(c.emu, DEPLOY / "examples/courses-canary.yaml")  # no HTTPRoute kind: skipped
    traffic, store = connect(c)
    try:
        assert traffic.gateway() is None
        assert traffic.mode("courses") == "replicas"
        wait_for(lambda: traffic.health("courses")["v1"].ready == 3, what="v1 ready")
        assert traffic.get_split("courses").approximate
        traffic.scale("courses", "v2", 1)
        wait_for(lambda: traffic.health("courses")["v2"].ready == 1, what="v2 ready")
        split = traffic.get_split("courses")
        assert split.approximate and split.weights == {"v1": 75, "v2": 25}
        traffic.set_split("courses", {"v1": 50, "v2": 50})
        assert (replicas(c, "courses-v1"), replicas(c, "courses-v2")) == (2, 2)
        with pytest.raises(Unsupported, match="Gateway API HTTPRoute"):
            traffic.set_match("courses", [MatchRule(headers={"x": "1"})], "v2")
        traffic.set_match("courses", [], None)  # clearing is always fine
    finally:
        traffic.close()
        store.close()


def test_bluegreen_switches_active_selector_in_one_patch(cluster, kube):
    traffic, _ = kube
    apply(cluster.emu, DEPLOY / "examples/courses-bluegreen.yaml")
    # the emulator also serves HTTPRoutes, but this service has none: selector mode
    assert traffic.mode("courses") == "selector"
    traffic.deploy("courses", "v2", 3)
    svc = cluster.emu.get("", "services", NS, "courses-preview")
    assert svc["spec"]["selector"] == {"app": "courses", "version": "v2"}
    dep = cluster.emu.get("apps", "deployments", NS, "courses-v2")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith("lms-courses:v2")
    wait_for(lambda: traffic.health("courses")["v2"].all_ready, what="v2 pool ready")
    with pytest.raises(Unsupported):
        traffic.set_split("courses", {"v1": 50, "v2": 50})
    before = len(cluster.emu.calls())
    traffic.set_split("courses", {"v1": 0, "v2": 100})
    writes = [r for r in cluster.emu.calls()[before:] if r.verb in ("patch", "update", "create")]
    assert [(w.verb, w.plural, w.name) for w in writes] == [("patch", "services", "courses")]
    assert "strategic-merge" in writes[0].content_type
    assert cluster.emu.get("", "services", NS, "courses")["spec"]["selector"] == {
        "app": "courses",
        "version": "v2",
    }
    assert traffic.get_split("courses").weights == {"v1": 0, "v2": 100}
    with pytest.raises(BackendError, match="still takes traffic"):
        traffic.retire("courses", "v2")
    traffic.retire("courses", "v1")
    assert replicas(cluster, "courses-v1") == 0
    assert cluster.emu.get("apps", "deployments", NS, "courses-v1") is not None  # kept


def test_missing_objects_are_named(cluster, kube):
    traffic, _ = kube
    with pytest.raises(NotFound, match="app=courses in namespace 'lms'"):
        traffic.deploy("courses", "v2", 1)
    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    wait_for(lambda: traffic.versions("courses") == ["v1", "v2"], what="versions")
    with pytest.raises(
        NotFound, match=r"version .v9. of service .courses..*known versions: v1, v2"
    ):
        traffic.set_split("courses", {"v1": 50, "v9": 50})


def test_route_to_services_with_other_names(cluster, kube):
    """Per-version Services need not follow <service>-<version>: their selectors tell."""
    traffic, _ = kube
    text = (DEPLOY / "examples/courses-canary.yaml").read_text()
    text = text.replace(
        "name: courses-v1\n  namespace: lms\n  labels: {app: courses, version: v1}\nspec:\n  selector",
        "name: courses-stable\n  namespace: lms\n  labels: {app: courses, version: v1}\nspec:\n  selector",
    )
    text = text.replace(
        "{name: courses-v1, port: 80, weight: 100}", "{name: courses-stable, port: 80, weight: 100}"
    )
    path = cluster.kubeconfig.parent / "renamed.yaml"
    path.write_text(text)
    apply(cluster.emu, path)
    assert cluster.emu.get("", "services", NS, "courses-stable") is not None
    wait_for(lambda: traffic.health("courses")["v2"].ready == 3, what="v2 ready")
    assert traffic.get_split("courses").weights == {"v1": 100, "v2": 0}
    traffic.set_split("courses", {"v1": 60, "v2": 40})
    assert weights(cluster) == {"courses-stable": 60, "courses-v2": 40}
    assert cluster.emu.get("", "services", NS, "courses-v1") is None  # none invented
