"""Helpers for the Argo Rollouts tests: an emulator with Argo's CRDs and the simulated
controller (fakecluster/argo_crds.py, argosim.py), test objects written from the CRD
schemas, and the environment the console opens for ``controller: argo-rollouts``."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.kubernetes.fakecluster import argo_crds
from tests.kubernetes.fakecluster.argosim import ArgoSim
from tests.kubernetes.fakecluster.emulator import Emulator
from tests.kubernetes.kubetest import NS, ROOT

GROUP = "argoproj.io"
STEPS = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 50},
    {
        "analysis": {
            "templates": [{"templateName": "success-rate"}],
            "args": [{"name": "service-name", "value": "courses"}],
        }
    },
    {"pause": {"duration": "1h"}},
]
SUCCESS_RATE = {
    "metadata": {"name": "success-rate"},
    "spec": {
        "args": [{"name": "service-name"}, {"name": "prometheus", "value": "http://prom:9090"}],
        "metrics": [
            {
                "name": "success-rate",
                "interval": "1m",
                "count": 3,
                "successCondition": "result[0] >= 0.95",
                "failureCondition": "result[0] < 0.90",
                "failureLimit": 1,
                "inconclusiveLimit": 1,
                "provider": {
                    "prometheus": {
                        "address": "{{args.prometheus}}",
                        "query": 'sum(rate(http_requests_total{service="{{args.service-name}}",'
                        'code!~"5.."}[1m])) / sum(rate(http_requests_total{service='
                        '"{{args.service-name}}"}[1m]))',
                    }
                },
            }
        ],
    },
}


def rollout_obj(
    name: str,
    image: str,
    *,
    steps: list[dict[str, Any]] | None = None,
    bluegreen: bool = False,
    replicas: int = 4,
) -> dict[str, Any]:
    """A Rollout as a user writes it (spec only; the simulated controller adds status)."""
    if bluegreen:
        strategy: dict[str, Any] = {
            "blueGreen": {
                "activeService": f"{name}-active",
                "previewService": f"{name}-preview",
                "autoPromotionEnabled": False,
            }
        }
    else:
        strategy = {"canary": {"steps": copy.deepcopy(STEPS if steps is None else steps)}}
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }


@dataclass
class ArgoCluster:
    emu: Emulator
    sim: ArgoSim
    kubeconfig: Path

    def add(self, obj: dict[str, Any]) -> None:
        self.emu.put(GROUP, "rollouts", obj, NS)

    def get(self, name: str) -> dict[str, Any]:
        got = self.emu.get(GROUP, "rollouts", NS, name)
        assert got is not None
        return got

    def settle(self, times: int = 1) -> None:
        for _ in range(times):
            self.sim.reconcile()

    def set_image(self, name: str, image: str) -> None:
        """What a user does to start an update (kubectl argo rollouts set image)."""
        obj = self.get(name)
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
        self.emu.put(GROUP, "rollouts", obj, NS)

    def cluster_cfg(self, **extra: Any) -> dict[str, Any]:
        return {
            "kind": "kubernetes",
            "kubeconfig": str(self.kubeconfig),
            "namespace": NS,
            "controller": "argo-rollouts",
            **extra,
        }


def start_argo(tmp_path: Path, *, status_subresource: bool = True) -> Iterator[ArgoCluster]:
    emu = Emulator(gateway_api=False)
    argo_crds.install(emu)
    if not status_subresource:
        emu.status_subresources.clear()
    emu.start()
    emu.put(GROUP, "analysistemplates", SUCCESS_RATE, NS)
    sim = ArgoSim(emu, NS)
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(emu.kubeconfig(NS)))
    try:
        yield ArgoCluster(emu, sim, path)
    finally:
        sim.stop()
        emu.stop()


def paused_at_first_step(c: ArgoCluster, names: tuple[str, ...] = ("courses", "grades")) -> None:
    """Rollouts ``names`` added at 1.0 and updated to 2.0, each at its first pause step (1/5)."""
    for name in names:
        c.add(rollout_obj(name, f"ghcr.io/lms/{name}:1.0"))
        c.settle()
        c.set_image(name, f"ghcr.io/lms/{name}:2.0")
    c.settle(2)


def argo_env(c: ArgoCluster, **extra: Any):
    """The environment ``open_environment`` gives for ``controller: argo-rollouts``."""
    from console.config.environments import open_environment
    from console.config.settings import Config, EnvironmentConfig

    cfg = Config(
        default="argo",
        environments={"argo": EnvironmentConfig("argo", cluster=c.cluster_cfg(**extra))},
    )
    return open_environment("argo", cfg)


def write_config(c: ArgoCluster, tmp_path: Path, **extra: Any) -> dict[str, str]:
    """A config file with the ``argo`` environment; the process environment pointing at it."""
    cfg = tmp_path / "cfg" / "rollout" / "config.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    body = {"environments": {"argo": {"cluster": c.cluster_cfg(**extra)}}}
    cfg.write_text(yaml.safe_dump(body))
    return {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "ROLLOUT_DEMO_DIR": str(tmp_path / "demo"),
        "USER": "alice",
    }


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``rollout ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
