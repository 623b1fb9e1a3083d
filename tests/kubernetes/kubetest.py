"""Helpers for the Kubernetes tests: seed manifests, wait (bounded), start the emulator.

A uniquely named module (not conftest) so that test modules can import it whatever other
test directories' conftest modules are loaded. Fixtures live in conftest.py.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))

from emulator import Emulator
from kubesim import KubeSim

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


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``check`` until truthy (bounded); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: last={last!r}")


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
