"""A simulated deployment controller, replicaset controller and kubelet for the emulator.

Runs in a thread beside the emulator and edits its store directly (as the real controllers
do through the API server), so the backend under test sees Deployments, ReplicaSets and Pods
change through its watches.

Pod behaviour is chosen by the image, so a test states it in the manifest:
- an image whose tag contains ``crash`` -> CrashLoopBackOff, restarts counting up;
- ``pullfail`` -> ImagePullBackOff;
- a CPU request of ``"64"`` or more -> Unschedulable (FailedScheduling);
- anything else -> Ready after ``ready_delay`` seconds.
A Deployment whose new pods are not all ready ``progressDeadlineSeconds`` after its template
changed gets the ``Progressing=False, ProgressDeadlineExceeded`` condition.
Simplifications: minReadySeconds is ignored; rolling updates move one surge batch per tick.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from typing import Any

from .emulator import Emulator

APPS = "apps"
REVISION = "deployment.kubernetes.io/revision"


def template_hash(template: dict[str, Any]) -> str:
    t = copy.deepcopy(template)
    t.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    return hashlib.sha256(json.dumps(t, sort_keys=True).encode()).hexdigest()[:10]


def _int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = total * int(value[:-1]) / 100
        return int(-(-exact // 1)) if round_up else int(exact)
    return int(value)


class KubeSim:
    """Deployment -> ReplicaSet -> Pod reconciliation, ticking every ``period`` seconds."""

    def __init__(
        self,
        emu: Emulator,
        namespace: str = "lms",
        *,
        ready_delay: float = 0.1,
        period: float = 0.05,
    ) -> None:
        self.emu, self.ns = emu, namespace
        self.ready_delay, self.period = ready_delay, period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._seq = 0
        self._changed_at: dict[str, float] = {}  # deployment -> when its template last changed

    def start(self) -> KubeSim:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            with self.emu.lock:
                self.tick()

    # ------------------------------------------------------------------ controllers

    def tick(self) -> None:
        for dep in self.emu.list(APPS, "deployments", self.ns):
            self._deployment(dep)
        for rs in self.emu.list(APPS, "replicasets", self.ns):
            self._replicaset(rs)
        for pod in self.emu.list("", "pods", self.ns):
            self._kubelet(pod)
        for dep in self.emu.list(APPS, "deployments", self.ns):
            self._deployment_status(dep)

    def _owned(self, owner: dict[str, Any], plural: str, group: str = APPS) -> list[dict]:
        uid = owner["metadata"]["uid"]
        return [
            o
            for o in self.emu.list(group, plural, self.ns)
            if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences", []))
        ]

    def _deployment(self, dep: dict[str, Any]) -> None:
        name, spec = dep["metadata"]["name"], dep["spec"]
        template = spec["template"]
        h = template_hash(template)
        sets = self._owned(dep, "replicasets")
        revisions = [int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in sets]
        new = next(
            (rs for rs in sets if rs["metadata"]["labels"].get("pod-template-hash") == h), None
        )
        if spec.get("paused"):
            return
        top = max(revisions, default=0)
        if new is None:
            tpl = copy.deepcopy(template)
            tpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
            new = {
                "metadata": {
                    "name": f"{name}-{h}",
                    "labels": dict(tpl["metadata"]["labels"]),
                    "annotations": {REVISION: str(top + 1)},
                    "ownerReferences": [_owner(dep)],
                },
                "spec": {"replicas": 0, "selector": spec.get("selector"), "template": tpl},
            }
            new = self.emu.put(APPS, "replicasets", new, self.ns)
            sets.append(new)
            self._changed_at[name] = time.monotonic()
        elif int(new["metadata"]["annotations"].get(REVISION, "0")) < top:
            # rolling back to an older template makes its ReplicaSet the newest revision again
            new["metadata"]["annotations"][REVISION] = str(top + 1)
            new = self.emu.put(APPS, "replicasets", new, self.ns)
            self._changed_at[name] = time.monotonic()
        olds = [rs for rs in sets if rs["metadata"]["name"] != new["metadata"]["name"]]
        desired = int(spec.get("replicas", 1))
        ready = {
            rs["metadata"]["name"]: sum(1 for p in self._owned(rs, "pods", "") if _ready(p))
            for rs in sets
        }
        rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        surge = _int_or_percent(rolling.get("maxSurge", "25%"), desired, True)
        unavailable = _int_or_percent(rolling.get("maxUnavailable", "25%"), desired, False)
        if surge == 0 and unavailable == 0:
            surge = 1
        old_total = sum(int(rs["spec"]["replicas"]) for rs in olds)
        new_replicas = int(new["spec"]["replicas"])
        if not olds or old_total == 0:
            target_new = desired
        else:
            target_new = max(new_replicas, min(desired, desired + surge - old_total))
        if target_new != new_replicas:
            new["spec"]["replicas"] = target_new
            self.emu.put(APPS, "replicasets", new, self.ns)
        # scale old sets down as far as availability allows
        available = sum(ready.values())
        can_remove = max(0, available - (desired - unavailable))
        can_remove = max(can_remove, old_total + target_new - desired - surge)
        for rs in sorted(olds, key=lambda r: r["metadata"]["name"]):
            cur = int(rs["spec"]["replicas"])
            if cur == 0 or can_remove <= 0:
                continue
            drop = min(cur, can_remove)
            rs["spec"]["replicas"] = cur - drop
            can_remove -= drop
            self.emu.put(APPS, "replicasets", rs, self.ns)

    def _replicaset(self, rs: dict[str, Any]) -> None:
        pods = self._owned(rs, "pods", "")
        want = int(rs["spec"].get("replicas", 0))
        for pod in sorted(pods, key=lambda p: (_ready(p), p["metadata"]["name"]))[
            : max(0, len(pods) - want)
        ]:
            self.emu.delete("", "pods", self.ns, pod["metadata"]["name"])
        for _ in range(want - len(pods)):
            self._seq += 1
            tpl = copy.deepcopy(rs["spec"]["template"])
            pod = {
                "metadata": {
                    "name": f"{rs['metadata']['name']}-{self._seq:05d}",
                    "labels": tpl.get("metadata", {}).get("labels", {}),
                    "ownerReferences": [_owner(rs)],
                    "annotations": {"sim/created": str(time.monotonic())},
                },
                "spec": tpl.get("spec", {}),
                "status": {"phase": "Pending", "conditions": []},
            }
            self.emu.put("", "pods", pod, self.ns)

    def _kubelet(self, pod: dict[str, Any]) -> None:
        containers = pod["spec"].get("containers") or [{"name": "app", "image": "x:1"}]
        image = containers[0].get("image", "")
        tag = image.rsplit(":", 1)[-1] if ":" in image else ""
        cpu = str(((containers[0].get("resources") or {}).get("requests") or {}).get("cpu", "0"))
        age = time.monotonic() - float(pod["metadata"]["annotations"].get("sim/created", "0"))
        status = copy.deepcopy(pod.get("status") or {})
        name = containers[0].get("name", "app")
        if cpu.isdigit() and int(cpu) >= 64:
            new = {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/3 nodes are available: 3 Insufficient cpu.",
                    }
                ],
            }
        elif age < self.ready_delay:
            return
        elif "crash" in tag or "pullfail" in tag:
            restarts = int((status.get("containerStatuses") or [{}])[0].get("restartCount", 0))
            if "crash" in tag:
                restarts = min(restarts + 1, 50) if age > 0.3 * restarts else restarts
                waiting = {
                    "reason": "CrashLoopBackOff",
                    "message": "back-off restarting failed container",
                }
            else:
                waiting = {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{image}"',
                }
            new = {
                "phase": "Running" if "crash" in tag else "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
                ],
                "containerStatuses": [
                    {
                        "name": name,
                        "image": image,
                        "ready": False,
                        "restartCount": restarts,
                        "state": {"waiting": waiting},
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}
                        if "crash" in tag
                        else {},
                    }
                ],
            }
        else:
            new = {
                "phase": "Running",
                "conditions": [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "True"},
                ],
                "containerStatuses": [
                    {
                        "name": name,
                        "image": image,
                        "ready": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                    }
                ],
            }
        if new != status:
            pod["status"] = new
            self.emu.put("", "pods", pod, self.ns)

    def _deployment_status(self, dep: dict[str, Any]) -> None:
        name, spec = dep["metadata"]["name"], dep["spec"]
        h = template_hash(spec["template"])
        pods = [p for rs in self._owned(dep, "replicasets") for p in self._owned(rs, "pods", "")]
        updated = [p for p in pods if p["metadata"]["labels"].get("pod-template-hash") == h]
        ready = sum(1 for p in pods if _ready(p))
        desired = int(spec.get("replicas", 1))
        new_rs = next(
            (
                rs
                for rs in self._owned(dep, "replicasets")
                if rs["metadata"]["labels"].get("pod-template-hash") == h
            ),
            None,
        )
        deadline = float(spec.get("progressDeadlineSeconds", 600))
        changed = self._changed_at.get(name, time.monotonic())
        complete = len(updated) == desired and all(_ready(p) for p in updated)
        if spec.get("paused"):
            progressing = {"type": "Progressing", "status": "Unknown", "reason": "DeploymentPaused"}
        elif complete:
            progressing = {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable",
            }
        elif time.monotonic() - changed > deadline:
            progressing = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{name}-{h}" has timed out progressing.',
            }
        else:
            progressing = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
        status = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": len(updated),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, desired - ready),
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if ready >= desired else "False",
                },
                progressing,
            ],
        }
        if new_rs is not None:
            dep.setdefault("metadata", {}).setdefault("annotations", {})[REVISION] = new_rs[
                "metadata"
            ]["annotations"][REVISION]
        if status != dep.get("status") or (
            new_rs is not None
            and dep["metadata"]["annotations"].get(REVISION)
            != (self.emu.get(APPS, "deployments", self.ns, name) or {})
            .get("metadata", {})
            .get("annotations", {})
            .get(REVISION)
        ):
            dep["status"] = status
            self.emu.put(APPS, "deployments", dep, self.ns)


def _owner(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
    }


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )
