"""deploy/argo-rollouts/rbac.yaml is exactly enough: every screen's reads and every verb
run under its Role and ClusterRole with nothing refused, and every rule is used."""

from __future__ import annotations

from console.view.snapshot import collect_snapshot
from tests.kubernetes.argotest import GROUP, SUCCESS_RATE, argo_env, rollout_obj
from tests.kubernetes.kubetest import DEPLOY, manifests
from tests.kubernetes.test_kube_rbac import granted

RBAC = DEPLOY / "argo-rollouts" / "rbac.yaml"


def test_every_read_and_verb_runs_under_the_role_and_uses_all_of_it(argo):
    docs = manifests(RBAC)
    role = next(d for d in docs if d["kind"] == "Role")
    cluster_role = next(d for d in docs if d["kind"] == "ClusterRole")
    bindings = {d["kind"]: d for d in docs if d["kind"].endswith("Binding")}
    assert bindings["RoleBinding"]["roleRef"]["name"] == role["metadata"]["name"]
    assert bindings["ClusterRoleBinding"]["roleRef"]["name"] == cluster_role["metadata"]["name"]
    # a cluster-scoped template, referred to by a step that has not run yet
    cluster_template = {**SUCCESS_RATE, "metadata": {"name": "cluster-success-rate"}}
    argo.emu.put(GROUP, "clusteranalysistemplates", cluster_template)
    steps = [
        {"setWeight": 20},
        {"pause": {}},
        {"analysis": {"templates": [{"templateName": "success-rate"}]}},
        {
            "analysis": {
                "templates": [{"templateName": "cluster-success-rate", "clusterScope": True}]
            }
        },
    ]
    argo.add(rollout_obj("courses", "ghcr.io/lms/courses:1.0", steps=steps))
    argo.settle()
    argo.set_image("courses", "ghcr.io/lms/courses:2.0")
    argo.settle(2)
    argo.emu.use_role({"rules": role["rules"] + cluster_role["rules"]})
    since = 0.0  # no request was made yet: the simulated controller writes directly
    env = argo_env(argo)
    snap = collect_snapshot(env, detail="courses")  # overview and the detail's history
    assert snap.error is None and not snap.services["courses"].errors, snap.services[
        "courses"
    ].errors
    assert {a.name for a in snap.services["courses"].foreign.analyses} == {
        "success-rate", "cluster-success-rate",
    }  # fmt: skip
    for verb in ("pause", "promote", "promote-full", "abort", "retry"):
        env.foreign.act("courses", verb, user="alice@laptop")
    argo.settle()
    assert env.foreign.act("courses", "undo", user="alice@laptop").startswith(
        "rollout 'courses' undo"
    )
    calls = [c for c in argo.emu.calls(since)]
    used = {
        (c.group, f"{c.plural}/{c.subresource}" if c.subresource else c.plural, c.verb)
        for c in calls
    }
    allowed = granted(role) | granted(cluster_role)
    assert used <= allowed, f"refused: {sorted(used - allowed)}"
    assert allowed <= used, f"granted but never used: {sorted(allowed - used)}"
