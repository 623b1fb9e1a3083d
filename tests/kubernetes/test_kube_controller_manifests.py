"""deploy/controller/: what a user applies to run the controller in the cluster, checked
against the CLI and the config loader it feeds (test_kube_manifests.py already builds every
file into the client's models; test_kube_controller_rbac.py checks the Role by use).

The image cannot be built here (no container runtime): its build file is read as text and
checked against the Deployment (user, paths, port, entry point).
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

from console.cli import build_parser
from console.config.settings import load_config
from tests.kubernetes.kubetest import DEPLOY, ROOT, manifests

HERE = DEPLOY / "controller"


def docs() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(HERE.glob("*.yaml")):
        for doc in manifests(path):
            assert doc["kind"] not in out, f"two {doc['kind']} in deploy/controller/"
            out[doc["kind"]] = doc
    return out


def pod() -> dict[str, Any]:
    return docs()["Deployment"]["spec"]["template"]["spec"]


def container() -> dict[str, Any]:
    (c,) = pod()["containers"]
    return c


def env_vars() -> dict[str, str]:
    return {e["name"]: e["value"] for e in container().get("env", [])}


def args() -> Any:
    return build_parser().parse_args(container()["args"])


def under(path: str, mount: str) -> bool:
    return Path(path) == Path(mount) or Path(mount) in Path(path).parents


def test_one_of_each_kind_in_one_namespace():
    found = docs()
    assert set(found) == {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment"}
    assert {d["metadata"]["namespace"] for d in found.values()} == {"lms"}


def test_two_replicas_run_as_the_bound_service_account():
    found = docs()
    deployment, binding = found["Deployment"], found["RoleBinding"]
    assert deployment["spec"]["replicas"] == 2  # one active, one standby
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0  # an upgrade starts the new standby first
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    sa = found["ServiceAccount"]["metadata"]["name"]
    assert pod()["serviceAccountName"] == sa
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": "lms"}]
    assert binding["roleRef"]["name"] == found["Role"]["metadata"]["name"]
    for rule in found["Role"]["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]


def test_the_cli_accepts_the_arguments_and_listens_for_the_probes():
    a = args()
    assert a.command == "controller"
    assert a.listen == "0.0.0.0"  # the kubelet probes the pod's IP, not its loopback
    (port,) = container()["ports"]
    assert port["containerPort"] == a.port
    for probe in ("livenessProbe", "readinessProbe"):
        get = container()[probe]["httpGet"]
        assert get["path"] == "/healthz"
        assert get["port"] in (port["name"], port["containerPort"])
    annotations = docs()["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(a.port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_non_root_and_a_read_only_root_filesystem():
    c, p = container(), pod()
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc.get("runAsNonRoot", p["securityContext"].get("runAsNonRoot")) is True
    assert p["securityContext"]["runAsUser"] > 0
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind])


def test_every_writable_path_is_on_an_empty_dir_and_the_config_on_the_config_map():
    volumes = {v["name"]: v for v in pod()["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container()["volumeMounts"]}
    writable = [m for m, v in mounts.items() if "emptyDir" in v]
    env = env_vars()
    for var in ("HOME", "TMPDIR", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        assert any(under(env[var], m) for m in writable), f"{var}={env[var]} is not writable"
    config = docs()["ConfigMap"]
    mount = f"{env['XDG_CONFIG_HOME']}/rollout"
    assert mounts[mount]["configMap"]["name"] == config["metadata"]["name"]
    assert [i["path"] for i in mounts[mount]["configMap"]["items"]] == ["config.yaml"]
    ro = next(m for m in container()["volumeMounts"] if m["mountPath"] == mount)
    assert ro["readOnly"] is True


def test_the_config_names_an_in_cluster_environment_with_prometheus(tmp_path: Path):
    text = docs()["ConfigMap"]["data"]["config.yaml"]
    path = tmp_path / "config.yaml"
    path.write_text(text)
    env = load_config(path).environment(args().env)
    assert env.cluster is not None and env.metrics is not None
    assert env.cluster["kind"] == "kubernetes"
    assert "kubeconfig" not in env.cluster  # in a pod: the service account (in-cluster)
    assert env.cluster["namespace"] == "lms"
    assert env.metrics["kind"] == "prometheus" and env.metrics["url"].startswith("http")


def dockerfile() -> dict[str, list[str]]:
    """The build file's instructions by name (continuation lines joined)."""
    text = (HERE / "Dockerfile").read_text()
    text = re.sub(r"\\\n\s*", " ", text)
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.setdefault(word.upper(), []).append(rest.strip())
    return out


def dockerfile_env() -> dict[str, str]:
    pairs: dict[str, str] = {}
    for rest in dockerfile()["ENV"]:
        for item in shlex.split(rest):
            key, _, value = item.partition("=")
            pairs[key] = value
    return pairs


def test_the_image_is_slim_non_root_and_matches_the_deployment():
    d = dockerfile()
    assert re.fullmatch(r"python:3\.\d+-slim", d["FROM"][0])
    assert any(r.startswith("pip install .") for r in d["RUN"])
    user = d["USER"][-1].split(":")[0]
    assert user.isdigit() and int(user) == pod()["securityContext"]["runAsUser"]
    image_env, deployment_env = dockerfile_env(), env_vars()
    for var in ("HOME", "TMPDIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        assert image_env[var] == deployment_env[var], var
    assert image_env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert d["EXPOSE"] == [str(args().port)]
    assert d["ENTRYPOINT"] == ['["rollout"]']


def test_the_image_copies_what_pip_install_needs():
    """pyproject.toml, its readme and every package it installs; nothing else is needed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = {"pyproject.toml", project["project"]["readme"]} | {p.rstrip("*") for p in packages}
    copied = {src for c in dockerfile()["COPY"] for src in shlex.split(c)[:-1]}
    assert copied == needed
