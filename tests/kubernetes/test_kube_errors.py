"""Errors the user can act on (403, 404, 409, unreachable) and watch recovery (resume, 410)."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest
import yaml

from backends.base import BackendUnavailable, Forbidden, Phase, RolloutRecord, Strategy
from tests.kubernetes.kubetest import DEPLOY, NS, apply, connect, manifests
from tests.support.waits import wait_for

GW = "gateway.networking.k8s.io"


def role():
    return next(d for d in manifests(DEPLOY / "rbac.yaml") if d["kind"] == "Role")


def test_forbidden_names_verb_resource_and_group(cluster):
    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    r = role()
    for rule in r["rules"]:
        if "httproutes" in rule["resources"]:
            rule["verbs"].remove("update")
        if "leases" in rule["resources"]:
            rule["verbs"] = ["get"]
    cluster.emu.use_role(r)
    traffic, store = connect(cluster)
    try:
        wait_for(lambda: traffic.health("courses")["v2"].ready == 3, what="v2 ready")
        with pytest.raises(Forbidden) as err:
            traffic.set_split("courses", {"v1": 90, "v2": 10})
        msg = str(err.value)
        assert "update HTTPRoute 'courses' in namespace 'lms'" in msg
        assert (
            "verb 'update' on resource 'httproutes' in API group gateway.networking.k8s.io" in msg
        )
        assert "deploy/rbac.yaml" in msg
        with pytest.raises(Forbidden, match="verb 'create' on resource 'leases'"):
            store.acquire_lease("courses", "me", 10)
        # nothing changed on the cluster
        rule = cluster.emu.get(GW, "httproutes", NS, "courses")["spec"]["rules"][0]
        assert [b["weight"] for b in rule["backendRefs"]] == [100, 0]
    finally:
        traffic.close()
        store.close()


def test_unreachable_api_server_says_what_to_check(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "x", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "x", "user": {"token": "t"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "x", "user": "x"}}],
        "current-context": "dead",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    from backends.kubernetes import from_config

    traffic, store = from_config({"kind": "kubernetes", "kubeconfig": str(path)}, "prod")
    try:
        with pytest.raises(
            BackendUnavailable,
            match=r"cannot reach the Kubernetes API server at http://127\.0\.0\.1:\d+.*kubectl cluster-info",
        ):
            store.load("courses")
        with pytest.raises(BackendUnavailable, match="cannot reach"):
            traffic.health("courses")
    finally:
        traffic.close()
        store.close()


def test_bad_kubeconfig_and_context_are_named(tmp_path, cluster):
    from backends.kubernetes import from_config

    with pytest.raises(
        BackendUnavailable, match=r"environment 'prod': cannot read kubeconfig .*nope"
    ):
        from_config({"kind": "kubernetes", "kubeconfig": str(tmp_path / "nope")}, "prod")
    with pytest.raises(
        BackendUnavailable, match=r"context .other. is not in .*known contexts: emu"
    ):
        from_config(
            {"kind": "kubernetes", "kubeconfig": str(cluster.kubeconfig), "context": "other"},
            "prod",
        )
    # the context's namespace is the default
    traffic, store = from_config({"kind": "kubernetes", "kubeconfig": str(cluster.kubeconfig)}, "x")
    assert traffic.api.namespace == NS and traffic.name == "kubernetes emu/lms"
    traffic.close()
    store.close()


def test_state_survives_an_outage(cluster, kube):
    _traffic, store = kube
    rec = RolloutRecord(
        service="courses",
        strategy=Strategy.CANARY,
        stable="v1",
        candidate="v2",
        phase=Phase.PROGRESSING,
        plan={},
    )
    saved = store.save(rec, 0)
    cluster.emu.fail_next("update", "configmaps", code=503, count=1)
    changed = dataclasses.replace(rec, step_index=1)
    with pytest.raises(BackendUnavailable, match="HTTP 503"):
        store.save(changed, 1)
    assert store.load("courses") == saved  # the failed write changed nothing
    assert store.save(changed, 1).revision == 2


def test_route_write_conflict_is_retried(cluster, kube):
    traffic, _ = kube
    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    wait_for(lambda: traffic.health("courses")["v2"].ready == 3, what="v2 ready")
    before = len(cluster.emu.calls())
    cluster.emu.fail_next("update", "httproutes", name="courses", code=409, count=2)
    traffic.set_split("courses", {"v1": 80, "v2": 20})
    calls = [
        (r.verb, r.plural)
        for r in cluster.emu.calls()[before:]
        if r.plural == "httproutes" and r.verb in ("get", "update")
    ]
    assert calls == [("update", "httproutes"), ("get", "httproutes")] * 2 + [
        ("update", "httproutes")
    ]
    rule = cluster.emu.get(GW, "httproutes", NS, "courses")["spec"]["rules"][0]
    assert [b["weight"] for b in rule["backendRefs"]] == [80, 20]


def test_route_changed_by_someone_else_is_rebased_not_overwritten(cluster, kube):
    traffic, _ = kube
    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    wait_for(lambda: traffic.health("courses")["v2"].ready == 3, what="v2 ready")
    traffic.get_split("courses")  # cache the route
    # someone adds a hostname behind our back; our cached copy is now stale
    r = cluster.emu.get(GW, "httproutes", NS, "courses")
    r["spec"]["hostnames"].append("courses.example.org")
    with cluster.emu.lock:  # keep the watch from delivering it before our write
        cluster.emu.put(GW, "httproutes", r, NS)
        traffic.routes._items["courses"]["metadata"]["resourceVersion"] = "1"
    traffic.set_split("courses", {"v1": 70, "v2": 30})
    r = cluster.emu.get(GW, "httproutes", NS, "courses")
    assert r["spec"]["hostnames"] == ["lms.example.org", "courses.example.org"]
    assert [b["weight"] for b in r["spec"]["rules"][0]["backendRefs"]] == [70, 30]


def test_watch_relists_after_410(cluster, kube):
    traffic, _ = kube
    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    wait_for(lambda: traffic.health("courses")["v1"].ready == 3, what="v1 ready")
    cache = traffic.deployments
    assert cache.relists == 1
    # The stream drops, a change lands, and the history is compacted before the cache
    # reconnects: resuming from its resourceVersion answers 410, so it must relist.
    with cluster.emu.lock:
        cluster.emu.drop_watches()
        d = cluster.emu.get("apps", "deployments", NS, "courses-v2")
        d["spec"]["replicas"] = 1
        cluster.emu.put("apps", "deployments", d, NS)
        cluster.emu.compact()
    wait_for(lambda: cache.relists >= 2, what="relist after 410")
    wait_for(lambda: cache.get("courses-v2")["spec"]["replicas"] == 1, what="change after relist")


def test_watch_resumes_from_resource_version_without_relisting(cluster):
    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    traffic, store = connect(cluster, watchTimeout=1)
    try:
        traffic.deployments.ensure()

        def watches():
            return [
                r for r in cluster.emu.calls() if r.verb == "watch" and r.plural == "deployments"
            ]

        wait_for(lambda: len(watches()) >= 2, what="a second watch request")
        d = cluster.emu.get("apps", "deployments", NS, "courses-v2")
        d["spec"]["replicas"] = 2
        cluster.emu.put("apps", "deployments", d, NS)
        wait_for(lambda: len(watches()) >= 3, what="a third watch request")
        wait_for(
            lambda: traffic.deployments.get("courses-v2")["spec"]["replicas"] == 2,
            what="the change",
        )
        assert traffic.deployments.relists == 1  # resumed each time, never listed again
        lists = [r for r in cluster.emu.calls() if r.verb == "list" and r.plural == "deployments"]
        assert len(lists) == 1
    finally:
        traffic.close()
        store.close()


@pytest.mark.skipif(
    Path("/var/run/secrets/kubernetes.io/serviceaccount/token").exists(),
    reason="running in a pod: in-cluster config would work",
)
def test_in_cluster_without_a_token_says_so(monkeypatch):
    from backends.kubernetes import from_config

    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    # no kubeconfig key and no $KUBECONFIG inside a "pod": in-cluster config is tried
    with pytest.raises(
        BackendUnavailable, match=r"in-cluster config failed.*service account token"
    ):
        from_config({"kind": "kubernetes", "namespace": "lms"}, "incluster")
