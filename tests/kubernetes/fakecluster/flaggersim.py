"""A small simulated Flagger: moves each Canary in the emulator through Flagger's phases
and calls its gate webhooks over HTTP the way Flagger does.

Enough of pkg/controller/scheduler.go for the console and the gates: a new revision of the
target Deployment (its pod template changed) asks the ``confirm-rollout`` hooks (closed:
``Waiting``); ``Progressing`` asks the ``rollback`` hooks first (200: ``Failed``), runs one
analysis per step (``fail_analysis`` makes it fail: ``failedChecks`` + 1, ``Failed`` at
``analysis.threshold``), asks ``confirm-traffic-increase`` before each weight step, and at
the last weight (or the last iteration) asks ``confirm-promotion`` (closed:
``WaitingPromotion``); then ``Promoting`` (the primary gets the target's template),
``Finalising``, ``Succeeded``. Each call is a POST with Flagger's ``CanaryWebhookPayload``
(name, namespace, phase, checksum, metadata); 200-202 is yes, anything else or no answer no.
One ``step()`` is one reconciliation of every Canary; tests call it in bounded loops.
Every status written is checked against Flagger's published CRD schema.
"""

from __future__ import annotations

import copy
import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from .emulator import Emulator, now_iso
from .flagger_crd import GROUP, canary_problems
from .periodic import Periodic

ACTIVE_FOR_ROLLBACK = ("Progressing", "Waiting", "WaitingPromotion")


@dataclass
class HookCall:
    type: str
    url: str
    payload: dict[str, Any]
    code: int | None  # None: no answer


@dataclass
class FlaggerSim:
    emu: Emulator
    namespace: str
    fail_analysis: bool = False
    calls: list[HookCall] = field(default_factory=list)
    period: float = 0.3
    _loop: Periodic = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._loop = Periodic(lambda: self.step(), lambda: self.period)

    def start(self) -> FlaggerSim:
        """Reconcile on a thread every ``period`` seconds (for end-to-end tests)."""
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop(timeout=10)

    # ------------------------------------------------------------------ helpers

    def _template_hash(self, deployment: dict[str, Any] | None) -> str:
        template = ((deployment or {}).get("spec") or {}).get("template") or {}
        return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]

    def _checksum(self, status: dict[str, Any]) -> str:
        text = json.dumps([status.get("trackedConfigs"), status.get("lastAppliedSpec", "")])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _hooks(self, canary: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        analysis = canary["spec"].get("analysis") or {}
        return [w for w in analysis.get("webhooks") or [] if w.get("type") == kind]

    def _call(self, canary: dict[str, Any], hook: dict[str, Any], phase: str) -> bool:
        """POST the payload as Flagger's CallWebhook does; True for a 2xx up to 202."""
        status = canary.get("status") or {}
        payload: dict[str, Any] = {
            "name": canary["metadata"]["name"],
            "namespace": canary["metadata"]["namespace"],
            "phase": phase,
            "checksum": self._checksum(status),
        }
        if hook.get("metadata"):
            payload["metadata"] = hook["metadata"]
        request = urllib.request.Request(
            hook["url"],
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        code: int | None
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                code = resp.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except OSError:
            code = None
        self.calls.append(HookCall(hook.get("type", ""), hook["url"], payload, code))
        return code is not None and code <= 202

    def _all_open(self, canary: dict[str, Any], kind: str, phase: str) -> bool:
        return all(self._call(canary, h, phase) for h in self._hooks(canary, kind))

    def _any_rollback(self, canary: dict[str, Any], phase: str) -> bool:
        return any(self._call(canary, h, phase) for h in self._hooks(canary, "rollback"))

    def _save(self, canary: dict[str, Any], **status: Any) -> None:
        old = canary.get("status") or {}
        new = {**old, **status}
        if new.get("phase") != old.get("phase"):
            new["lastTransitionTime"] = now_iso()
            new["conditions"] = [
                {
                    "type": "Promoted",
                    "status": "True" if new["phase"] == "Succeeded" else "Unknown",
                    "reason": new["phase"],
                    "message": _message(new["phase"]),
                    "lastTransitionTime": new["lastTransitionTime"],
                    "lastUpdateTime": new["lastTransitionTime"],
                }
            ]
        canary["status"] = new
        bad = canary_problems(canary)
        assert not bad, bad  # the simulation writes only what Flagger's schema allows
        self.emu.put(GROUP, "canaries", canary, self.namespace)

    def _weights(self, analysis: dict[str, Any]) -> list[int]:
        if analysis.get("stepWeights"):
            return [int(w) for w in analysis["stepWeights"]]
        step = int(analysis.get("stepWeight") or 0)
        top = int(analysis.get("maxWeight") or 100)
        return list(range(step, top + 1, step)) if step else []

    # ------------------------------------------------------------------ one reconciliation

    def step(self, only: str | None = None) -> None:
        """One reconciliation of every Canary (or of the one named ``only``)."""
        for canary in self.emu.list(GROUP, "canaries", self.namespace):
            if only is None or canary["metadata"]["name"] == only:
                self._reconcile(copy.deepcopy(canary))

    def _reconcile(self, canary: dict[str, Any]) -> None:
        status = canary.get("status") or {}
        phase = status.get("phase") or ""
        target_name = canary["spec"]["targetRef"]["name"]
        target = self.emu.get("apps", "deployments", self.namespace, target_name)
        revision = self._template_hash(target)
        analysis = canary["spec"].get("analysis") or {}
        if phase == "":
            self._save(canary, phase="Initializing", canaryWeight=0, failedChecks=0, iterations=0)
            return
        if phase == "Initializing":
            self._promote_primary(target_name, target)
            self._save(canary, phase="Initialized", lastAppliedSpec=revision)
            return
        if phase in ACTIVE_FOR_ROLLBACK and self._any_rollback(canary, phase):
            self._save(canary, phase="Failed", canaryWeight=0)
            return
        if phase in ("Initialized", "Succeeded", "Failed", "Waiting"):
            if revision == status.get("lastAppliedSpec") and phase != "Waiting":
                return  # nothing new to roll out
            if not self._all_open(canary, "confirm-rollout", phase):
                if phase != "Waiting":
                    self._save(canary, phase="Waiting")
                return
            self._save(
                canary,
                phase="Progressing",
                canaryWeight=0,
                failedChecks=0,
                iterations=0,
                lastAppliedSpec=revision,
            )
            return
        if phase == "Promoting":
            self._promote_primary(target_name, target)
            self._save(canary, phase="Finalising")
            return
        if phase == "Finalising":
            self._save(canary, phase="Succeeded", canaryWeight=0)
            return
        if phase in ("Progressing", "WaitingPromotion"):
            self._analyse(canary, status, analysis)

    def _analyse(self, canary: dict[str, Any], status: dict[str, Any], analysis: dict) -> None:
        if self.fail_analysis:
            failed = int(status.get("failedChecks") or 0) + 1
            if failed >= int(analysis.get("threshold") or 1):
                self._save(canary, phase="Failed", canaryWeight=0, failedChecks=failed)
            else:
                self._save(canary, failedChecks=failed)
            return
        weights = self._weights(analysis)
        weight = int(status.get("canaryWeight") or 0)
        iterations = int(analysis.get("iterations") or 0)
        if weights and weight < weights[-1]:
            if self._all_open(canary, "confirm-traffic-increase", "Progressing"):
                nxt = next(w for w in weights if w > weight)
                self._save(canary, phase="Progressing", canaryWeight=nxt)
            return
        done = int(status.get("iterations") or 0)
        if not weights and iterations and done < iterations:
            self._save(canary, phase="Progressing", iterations=done + 1)
            return
        if not self._all_open(canary, "confirm-promotion", "Progressing"):
            if status.get("phase") != "WaitingPromotion":
                self._save(canary, phase="WaitingPromotion")
            return
        self._save(canary, phase="Promoting")

    def _promote_primary(self, name: str, target: dict[str, Any] | None) -> None:
        """The primary Deployment gets the target's pod template (Flagger's promotion)."""
        if target is None:
            return
        primary = self.emu.get("apps", "deployments", self.namespace, f"{name}-primary")
        body = primary or {"metadata": {"name": f"{name}-primary"}, "spec": {}}
        body["spec"]["template"] = copy.deepcopy(target["spec"]["template"])
        body["spec"]["replicas"] = target["spec"].get("replicas", 1)
        self.emu.put("apps", "deployments", body, self.namespace)


def _message(phase: str) -> str:
    return {
        "Initializing": "New Deployment detected, starting initialization.",
        "Initialized": "Deployment initialization completed.",
        "Waiting": "Waiting for approval.",
        "Progressing": "New revision detected, progressing canary analysis.",
        "WaitingPromotion": "Waiting for approval.",
        "Promoting": "Canary analysis completed, starting primary rolling update.",
        "Finalising": "Canary analysis completed, routing all traffic to primary.",
        "Succeeded": "Canary analysis completed successfully, promotion finished.",
        "Failed": "Canary analysis failed, Deployment scaled to zero.",
    }.get(phase, "")
