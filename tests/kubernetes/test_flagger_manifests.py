"""deploy/flagger/: the gate's Deployment, Service and config agree with the CLI, the config
loader, the Role's service account and the Canary example's webhook URLs
(test_kube_manifests.py validates each document; test_kube_flagger_rbac.py the Role by use)."""

from __future__ import annotations

from urllib.parse import urlsplit

from console.cli import build_parser
from console.config.settings import load_config
from tests.kubernetes.kubetest import DEPLOY, manifests

HERE = DEPLOY / "flagger"


def by_kind(name: str) -> dict[str, dict]:
    return {d["kind"]: d for d in manifests(HERE / name)}


def test_gate_deployment_runs_rollout_gate_where_the_canary_calls_it(tmp_path):
    gate = by_kind("gate.yaml")
    pod = gate["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = build_parser().parse_args(container["args"])
    assert (args.command, args.listen, args.port) == ("gate", "0.0.0.0", 9471)
    assert container["ports"][0]["containerPort"] == args.port
    service = gate["Service"]
    assert service["spec"]["ports"][0]["port"] == args.port
    assert service["spec"]["selector"] == gate["Deployment"]["spec"]["selector"]["matchLabels"]
    # the Role's service account
    rbac = by_kind("rbac.yaml")
    assert pod["serviceAccountName"] == rbac["ServiceAccount"]["metadata"]["name"]
    assert rbac["RoleBinding"]["roleRef"]["name"] == rbac["Role"]["metadata"]["name"]
    # the config it mounts names the environment it serves, with controller: flagger
    path = tmp_path / "config.yaml"
    path.write_text(gate["ConfigMap"]["data"]["config.yaml"])
    env = load_config(path).environment(args.env)
    assert env.cluster == {"kind": "kubernetes", "namespace": "lms", "controller": "flagger"}
    # every gate webhook of the example calls this Service at /gate/<its type>
    canary = by_kind("canary.yaml")["Canary"]
    hooks = canary["spec"]["analysis"]["webhooks"]
    assert {h["type"] for h in hooks} == {
        "confirm-rollout",
        "confirm-traffic-increase",
        "confirm-promotion",
        "rollback",
    }
    for hook in hooks:
        url = urlsplit(hook["url"])
        host = f"{service['metadata']['name']}.{service['metadata']['namespace']}"
        assert (url.hostname, url.port, url.path) == (host, args.port, f"/gate/{hook['type']}")
