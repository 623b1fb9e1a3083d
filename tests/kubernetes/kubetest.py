"""Helpers for the Kubernetes tests: seed manifests, start the fake cluster
(tests/kubernetes/fakecluster) and connect the real backend to it. Fixtures are in
conftest.py."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from backends.base import Environment, RolloutRecord
from tests.kubernetes.fakecluster.emulator import Emulator
from tests.kubernetes.fakecluster.kubesim import KubeSim
from tests.support.fakes import FakeMetrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NS = "lms"

KINDS = {
    "Deployment": ("apps", "deployments"),
    "Service": ("", "services"),
    "HTTPRoute": ("gateway.networking.k8s.io", "httproutes"),
    "Gateway": ("gateway.networking.k8s.io", "gateways"),
    "ConfigMap": ("", "configmaps"),
}


def manifests(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def apply(emu: Emulator, path: Path) -> None:
    """Seed the emulator with a manifest file, like ``kubectl apply -f``."""
    for doc in manifests(path):
        if doc["kind"] in KINDS:
            group, plural = KINDS[doc["kind"]]
            if (group, plural) in emu.resources:
                emu.put(group, plural, doc, NS)


@dataclass
class Cluster:
    emu: Emulator
    sim: KubeSim
    kubeconfig: Path


def start_cluster(tmp_path: Path, **kw: Any) -> Iterator[Cluster]:
    emu = Emulator(**kw)
    emu.start()
    sim = KubeSim(emu, NS).start()
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(emu.kubeconfig(NS)))
    try:
        yield Cluster(emu, sim, path)
    finally:
        sim.stop()
        emu.stop()


def connect(c: Cluster, **extra: Any) -> tuple[Any, Any]:
    from backends.kubernetes import from_config

    cfg = {
        "kind": "kubernetes",
        "kubeconfig": str(c.kubeconfig),
        "context": "emu",
        "namespace": NS,
        "watchTimeout": 5,
        **extra,
    }
    return from_config(cfg, "test")


def plan(text: str):
    from console.plan.load import parse_plan

    return parse_plan(text, "test-plan.yaml")


def make_env(cluster: Cluster, **extra: Any) -> tuple[Environment, Any, Any]:
    """The real backend on the fake cluster, with healthy fake metrics (the emulated pods
    serve no traffic to measure)."""
    traffic, store = connect(cluster, **extra)
    env = Environment("k8s-test", traffic, FakeMetrics(time.time), store, "kube emu / lms")
    return env, traffic, store


def driver_for(env: Environment, holder: str):
    from console.driver.loop import Driver

    return Driver(env, "courses", holder=holder, lease_ttl=5.0, tick_interval=0.1)


def drive(
    driver, until: Callable[[RolloutRecord | None], bool], observe: Callable[[], None], timeout=30
) -> RolloutRecord:
    """Tick the driver (bounded) until ``until(record)``; ``observe`` runs after each tick."""
    deadline = time.monotonic() + timeout
    rec = None
    while time.monotonic() < deadline:
        rec = driver.tick()
        observe()
        if until(rec):
            return rec
        time.sleep(0.1)
    raise AssertionError(
        f"rollout did not get there in {timeout}s: {rec and rec.phase} {rec and rec.message}"
    )


def recorder(fn: Callable[[], Any]) -> tuple[list, Callable[[], None]]:
    states: list = []

    def observe() -> None:
        s = fn()
        if not states or states[-1] != s:
            states.append(s)

    return states, observe
