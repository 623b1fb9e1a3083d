"""Helpers for the Flagger tests: the emulator with Flagger's CRDs and the simulated Flagger,
deploy/flagger/canary.yaml seeded with its webhooks pointed at a gate on loopback, and a
config file whose environment says ``controller: flagger``."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kubernetes.fakecluster import flagger_crd
from tests.kubernetes.fakecluster.flaggersim import FlaggerSim
from tests.kubernetes.kubetest import DEPLOY, NS, Cluster, manifests

EXAMPLE = DEPLOY / "flagger" / "canary.yaml"
ENV = "flagger"


def example(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for d in manifests(EXAMPLE) if d["kind"] == kind))


def seed(cluster: Cluster, gate_url: str, name: str = "search", **analysis: Any) -> None:
    """The example's Deployment, MetricTemplate and Canary (renamed ``name``), with its
    webhooks calling ``gate_url`` and ``analysis`` fields overriding the example's."""
    emu = cluster.emu
    deployment = example("Deployment")
    text = yaml.safe_dump(deployment).replace("search", name)
    emu.put("apps", "deployments", yaml.safe_load(text), NS)
    emu.put(flagger_crd.GROUP, "metrictemplates", example("MetricTemplate"), NS)
    canary = example("Canary")
    canary["metadata"]["name"] = name
    canary["spec"]["targetRef"]["name"] = name
    canary["spec"]["analysis"].update(analysis)
    for hook in canary["spec"]["analysis"]["webhooks"]:
        hook["url"] = hook["url"].replace("http://rollout-gate.lms:9471", gate_url)
    assert flagger_crd.canary_problems(canary) == []
    emu.put(flagger_crd.GROUP, "canaries", canary, NS)


def new_revision(cluster: Cluster, name: str, image: str) -> None:
    """A new image on the target Deployment (what Flagger reacts to)."""
    dep = cluster.emu.get("apps", "deployments", NS, name)
    assert dep is not None
    dep["spec"]["template"]["spec"]["containers"][0]["image"] = image
    cluster.emu.put("apps", "deployments", dep, NS)


def phase(cluster: Cluster, name: str) -> str:
    obj = cluster.emu.get(flagger_crd.GROUP, "canaries", NS, name) or {}
    return str((obj.get("status") or {}).get("phase") or "")


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    obj = cluster.emu.get(flagger_crd.GROUP, "canaries", NS, name) or {}
    return dict(obj.get("status") or {})


def reconcile_until(
    sim: FlaggerSim, cond: Callable[[], bool], what: str, *, steps: int = 60
) -> None:
    """Reconcile (one ``step`` per pass, bounded) until ``cond()``; no time involved."""
    for _ in range(steps):
        if cond():
            return
        sim.step()
    assert cond(), f"{what}: not reached in {steps} reconciliations"


@dataclass
class FlaggerSetup:
    cluster: Cluster
    sim: FlaggerSim
    config: Path


def write_config(tmp_path: Path, cluster: Cluster) -> Path:
    cfg = tmp_path / "cfg" / "rollout" / "config.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "environments": {
            ENV: {
                "cluster": {
                    "kind": "kubernetes",
                    "kubeconfig": str(cluster.kubeconfig),
                    "context": "emu",
                    "namespace": NS,
                    "controller": "flagger",
                }
            }
        }
    }
    cfg.write_text(yaml.safe_dump(body))
    return cfg


def setup(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FlaggerSetup]:
    """Flagger's CRDs installed, the simulator, XDG directories and the config file."""
    flagger_crd.install(cluster.emu)
    cfg = write_config(tmp_path, cluster)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("ROLLOUT_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    yield FlaggerSetup(cluster, FlaggerSim(cluster.emu, NS), cfg)
