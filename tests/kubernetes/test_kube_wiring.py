"""How the console reaches the backend: config file -> open_environment -> from_config,
with the ``kubernetes`` package imported only when a Kubernetes environment is used."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from backends.base import StateStore, TrafficBackend
from tests.kubernetes.kubetest import DEPLOY, ROOT, apply
from tests.support.waits import wait_for


def run_cli(
    cluster, tmp_path, *args: str, timeout: float = 120, as_json: bool = True
) -> subprocess.CompletedProcess:
    """``rollout ARGS --env k8s --json`` as a real process, with a config file naming the
    emulator's kubeconfig and temporary XDG directories."""
    cfg = tmp_path / "cfg" / "rollout" / "config.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cluster_cfg = {"kind": "kubernetes", "kubeconfig": str(cluster.kubeconfig), "watchTimeout": 5}
    cfg.write_text(yaml.safe_dump({"environments": {"k8s": {"cluster": cluster_cfg}}}))
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "ROLLOUT_DEMO_DIR": str(tmp_path / "demo"),
    }
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args, "--env", "k8s", *["--json"] * as_json],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_nothing_imports_kubernetes_until_asked():
    code = (
        "import sys, console.cli, console.driver.loop, console.config.environments, console.engine.machine, "
        "backends.base, backends.kubernetes\n"
        "print(sorted(m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout.replace("'", '"')) == []


def test_environment_from_config_file(cluster, tmp_path, monkeypatch):
    from console.config.environments import open_environment
    from console.config.settings import load_config

    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "default": "prod-eu",
                "environments": {
                    "prod-eu": {
                        "cluster": {
                            "kind": "kubernetes",
                            "kubeconfig": str(cluster.kubeconfig),
                            "context": "emu",
                            "namespace": "lms",
                        }
                    }
                },
            }
        )
    )
    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    env = open_environment(None, load_config(cfg))
    try:
        assert isinstance(env.traffic, TrafficBackend) and isinstance(env.store, StateStore)
        assert env.description == "kube emu / lms"
        wait_for(lambda: env.traffic.services() == ["courses"], what="services")
        assert env.traffic.get_split("courses").weights == {"v1": 100, "v2": 0}
    finally:
        env.traffic.close()
        env.store.close()


@pytest.mark.slow
def test_rollout_status_cli_reads_the_cluster_record(cluster, tmp_path):
    """`rollout status --env` as a real process, the record coming from the ConfigMap."""
    from backends.base import Phase, RolloutRecord, Strategy
    from tests.kubernetes.kubetest import connect

    traffic, store = connect(cluster)
    try:
        store.save(
            RolloutRecord(
                "courses",
                Strategy.CANARY,
                "v1",
                "v2",
                Phase.PAUSED,
                {},
                message="gate",
                weights={"v1": 90, "v2": 10},
            ),
            0,
        )
    finally:
        traffic.close()
        store.close()
    out = run_cli(cluster, tmp_path, "status", "courses", timeout=90)
    assert out.returncode == 0, out.stderr
    assert "Paused" in out.stdout and "courses" in out.stdout


@pytest.mark.slow
def test_rollout_auto_bluegreen_against_the_emulator(cluster, tmp_path):
    """`rollout auto` as a real process: blue/green to completion, exit 0, Services switched."""
    apply(cluster.emu, DEPLOY / "examples/courses-bluegreen.yaml")
    plan = tmp_path / "bluegreen.yaml"
    plan.write_text(
        "service: courses\nstrategy: bluegreen\nstable: v1\ncandidate: v2\n"
        "autoPromote: 0s\nscaleDownDelay: 1s\npreviewDuration: 1s\n"
    )
    out = run_cli(cluster, tmp_path, "auto", str(plan))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["phase"] == "Completed"
    selector = cluster.emu.get("", "services", "lms", "courses")["spec"]["selector"]
    assert selector == {"app": "courses", "version": "v2"}
    assert cluster.emu.get("apps", "deployments", "lms", "courses-v1")["spec"]["replicas"] == 0
    record = cluster.emu.get("", "configmaps", "lms", "rollout-courses")
    assert json.loads(record["data"]["record"])["phase"] == "Completed"


@pytest.mark.slow
def test_rollout_auto_rolling_drives_the_deployments_own_update(cluster, tmp_path):
    """`rollout auto` on one Deployment: the template changes once, no per-version clone."""
    apply(cluster.emu, DEPLOY / "examples/courses-rolling.yaml")
    plan = tmp_path / "rolling.yaml"
    plan.write_text(
        "service: courses\nstrategy: rolling\nstable: v1\ncandidate: v2\n"
        "maxSurge: 2\nmaxUnavailable: 0\nminReady: 0s\nanalysis: false\n"
    )
    out = run_cli(cluster, tmp_path, "auto", str(plan))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    lines = [json.loads(x) for x in out.stdout.strip().splitlines()]
    assert lines[-1]["phase"] == "Completed"
    assert any("rolling update of the Deployment to v2" in x.get("message", "") for x in lines)
    deps = [d["metadata"]["name"] for d in cluster.emu.list("apps", "deployments", "lms")]
    assert deps == ["courses"]
    dep = cluster.emu.get("apps", "deployments", "lms", "courses")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v2")
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 2, "maxUnavailable": 0}


def test_bluegreen_mirror_on_a_selector_service_is_refused_up_front(cluster, tmp_path):
    """A Service-selector blue/green cannot mirror or match: `validate --env` and `auto`
    refuse the plan with the reason before anything in the cluster changes."""
    apply(cluster.emu, DEPLOY / "examples/courses-bluegreen.yaml")
    plan = tmp_path / "bluegreen.yaml"
    plan.write_text(
        "service: courses\nstrategy: bluegreen\nstable: v1\ncandidate: v2\nmirror: 50\n"
        "previewAnalysis:\n  interval: 1s\n  metrics:\n    - {name: error-rate, max: 0.05}\n"
    )
    checked = run_cli(cluster, tmp_path, "validate", str(plan), as_json=False)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert "mirroring (mirror: 50)" in checked.stderr
    assert "switches by Service selector" in checked.stderr
    assert "HTTPRoute named 'courses'" in checked.stderr

    out = run_cli(cluster, tmp_path, "auto", str(plan))
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert "mirroring (mirror: 50)" in out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["exit_code"] == 2
    # Nothing was started: no record, no preview pool, the active selector untouched.
    assert cluster.emu.get("", "configmaps", "lms", "rollout-courses") is None
    assert cluster.emu.get("apps", "deployments", "lms", "courses-v2") is None
    selector = cluster.emu.get("", "services", "lms", "courses")["spec"]["selector"]
    assert selector == {"app": "courses", "version": "v1"}

    # Without the mirror the same plan validates against the same cluster.
    plan.write_text(
        "service: courses\nstrategy: bluegreen\nstable: v1\ncandidate: v2\n"
        "autoPromote: 0s\npostPromotionAnalysis:\n  metrics:\n    - {name: error-rate, max: 0.05}\n"
    )
    assert run_cli(cluster, tmp_path, "validate", str(plan), as_json=False).returncode == 0
