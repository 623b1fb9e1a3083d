"""A simulated Argo Rollouts controller for the API emulator: enough to move a Rollout
through its canary steps and pause conditions, blue/green's promotion, AnalysisRuns, abort,
retry and full promotion, as the real controller shows them in ``status``.

It edits the emulator's store directly (as the real controller does through the API server),
one step per reconcile so a test can watch each state. Per Rollout:
- a new pod template -> a ReplicaSet (``rollouts-pod-template-hash``, revision annotation,
  owner reference) and ``status.currentPodHash``; the first one becomes stable at once;
- canary steps from ``status.currentStepIndex``: ``setWeight`` sets
  ``status.canary.weights``; ``pause`` adds a ``CanaryPauseStep`` pause condition and
  ``controllerPause`` (a duration ends it; the plugin's promote clears it); ``analysis``
  creates an AnalysisRun from the templates and takes one measurement per reconcile from
  ``measure`` (Failed -> abort, Inconclusive -> ``InconclusiveAnalysisRun`` pause);
- blue/green: the preview selector, then ``BlueGreenPause`` until promoted
  (``autoPromotionEnabled: false``), then the active selector;
- ``spec.paused`` -> Paused; ``status.abort`` -> Degraded with ``RolloutAborted``;
  ``status.promoteFull`` -> stable at once; the last step -> Healthy.
Simplifications: every pod is ready at once (replica counts follow the weight), no
experiments, no traffic router (the weights are what the router would be told).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .emulator import Emulator
from .kubesim import template_hash
from .periodic import Periodic

GROUP = "argoproj.io"
HASH = "rollouts-pod-template-hash"
REVISION = "rollout.argoproj.io/revision"
Measure = Callable[[str, str, int], tuple[str, str]]  # (run, metric, n) -> (value, phase)


def stamp(at: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if at is None else at, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def healthy_measure(run: str, metric: str, n: int) -> tuple[str, str]:
    del run, metric, n
    return "0.99", "Successful"


def _duration(value: Any) -> float | None:
    if value in (None, ""):
        return None
    text = str(value)
    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def _limit(value: Any, default: int) -> int:
    return int(value) if value is not None and str(value).isdigit() else default


class ArgoSim:
    """Reconciles every Rollout of ``namespace`` every ``period`` seconds (or on
    ``reconcile()``)."""

    def __init__(
        self,
        emu: Emulator,
        namespace: str = "lms",
        *,
        period: float = 0.1,
        measure: Measure = healthy_measure,
    ) -> None:
        self.emu, self.ns, self.period, self.measure = emu, namespace, period, measure
        self._loop = Periodic(lambda: self.reconcile(), lambda: self.period)
        self.frozen: set[str] = set()  # rollouts left as a test wrote them

    def start(self) -> ArgoSim:
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop(timeout=5)

    def reconcile(self) -> None:
        with self.emu.lock:
            for ro in self.emu.list(GROUP, "rollouts", self.ns):
                if ro["metadata"]["name"] not in self.frozen:
                    self._one(ro)

    # ------------------------------------------------------------------ one rollout

    def _one(self, ro: dict[str, Any]) -> None:
        before = copy.deepcopy(ro.get("status") or {})
        status = copy.deepcopy(before)
        spec = ro.get("spec") or {}
        h = self._replicaset(ro)
        if not status.get("stableRS"):
            status.update(stableRS=h, currentPodHash=h)
        if status.get("currentPodHash") != h:  # a new revision: start over at step 0
            status.update(currentPodHash=h, currentStepIndex=0, abort=False, controllerPause=False)
            status.pop("pauseConditions", None)
            status.pop("abortedAt", None)
        canary = (spec.get("strategy") or {}).get("canary")
        steps = (canary or {}).get("steps") or []
        if h == status.get("stableRS"):
            self._healthy(ro, status, h, len(steps))
        elif status.get("abort"):
            self._aborted(ro, status)
        elif status.get("promoteFull"):
            self._promote(ro, status, h, len(steps))
            status["promoteFull"] = False
        elif spec.get("paused"):
            status.update(phase="Paused", message="manually paused")
        elif canary is not None:
            self._canary(ro, status, h, steps)
        else:
            self._bluegreen(ro, status, h)
        self._replicas(ro, status)
        if status != before:
            status["conditions"] = [
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": status.get("phase", ""),
                    "lastUpdateTime": stamp(),
                    "lastTransitionTime": stamp(),
                }
            ]
            status["observedGeneration"] = str(ro["metadata"].get("generation", 1))
            ro["status"] = status
            self.emu.put(GROUP, "rollouts", ro, self.ns)

    def _healthy(self, ro: dict[str, Any], status: dict[str, Any], h: str, n: int) -> None:
        status.update(phase="Healthy", message="", currentPodHash=h, controllerPause=False)
        status.pop("pauseConditions", None)
        if (ro["spec"].get("strategy") or {}).get("canary") is not None:
            status["currentStepIndex"] = n
            status["canary"] = {"weights": self._weights(ro, status, 0)}
        else:
            status["blueGreen"] = {"activeSelector": h, "previewSelector": h}

    def _promote(self, ro: dict[str, Any], status: dict[str, Any], h: str, n: int) -> None:
        status["stableRS"] = h
        self._healthy(ro, status, h, n)

    def _aborted(self, ro: dict[str, Any], status: dict[str, Any]) -> None:
        revision = ro["metadata"].get("annotations", {}).get(REVISION, "?")
        why = status.get("message", "") if status.get("phase") == "Degraded" else ""
        status.update(phase="Degraded", controllerPause=False)
        status["message"] = why or f"RolloutAborted: Rollout aborted update to revision {revision}"
        status.setdefault("abortedAt", stamp())
        status.pop("pauseConditions", None)
        if (ro["spec"].get("strategy") or {}).get("canary") is not None:
            status["canary"] = {**status.get("canary", {}), "weights": self._weights(ro, status, 0)}

    def _pause(self, status: dict[str, Any], reason: str, duration: float | None) -> bool:
        """Hold on a pause condition; True once it is over (promoted, or its time is up)."""
        conditions = status.get("pauseConditions") or []
        if status.get("controllerPause") and not conditions:  # the plugin's promote
            status["controllerPause"] = False
            return True
        if not conditions:
            status["pauseConditions"] = [{"reason": reason, "startTime": stamp()}]
            status["controllerPause"] = True
        else:
            started = datetime.fromisoformat(conditions[0]["startTime"].replace("Z", "+00:00"))
            if duration is not None and time.time() - started.timestamp() >= duration:
                status.pop("pauseConditions", None)
                status["controllerPause"] = False
                return True
        status.update(phase="Paused", message=reason)
        return False

    def _canary(self, ro: dict[str, Any], status: dict[str, Any], h: str, steps: list) -> None:
        index = int(status.get("currentStepIndex") or 0)
        if index >= len(steps):
            self._promote(ro, status, h, len(steps))
            return
        step = steps[index]
        status.update(phase="Progressing", message="more replicas need to be updated")
        done = True
        if "setWeight" in step:
            status["canary"] = {
                **status.get("canary", {}),
                "weights": self._weights(ro, status, int(step["setWeight"])),
            }
        elif "pause" in step:
            done = self._pause(
                status, "CanaryPauseStep", _duration((step["pause"] or {}).get("duration"))
            )
        elif "analysis" in step:
            done = self._analysis(ro, status, h, index, step["analysis"])
        if done:
            status["currentStepIndex"] = index + 1

    def _bluegreen(self, ro: dict[str, Any], status: dict[str, Any], h: str) -> None:
        blue = ro["spec"]["strategy"].get("blueGreen") or {}
        status["blueGreen"] = {**status.get("blueGreen", {}), "previewSelector": h}
        status["blueGreen"].setdefault("activeSelector", status.get("stableRS"))
        auto = blue.get("autoPromotionEnabled", True)
        if auto or self._pause(status, "BlueGreenPause", None):
            status["blueGreen"]["activeSelector"] = h
            self._promote(ro, status, h, 0)

    # ------------------------------------------------------------------ analysis

    def _analysis(
        self, ro: dict[str, Any], status: dict[str, Any], h: str, index: int, spec: dict[str, Any]
    ) -> bool:
        name = f"{ro['metadata']['name']}-{h}-{index}"
        run = self.emu.get(GROUP, "analysisruns", self.ns, name) or self._create_run(
            ro, h, name, spec
        )
        conditions = status.get("pauseConditions") or []
        if run["status"]["phase"] == "Inconclusive":
            if status.get("controllerPause") and not conditions:
                return False  # the plugin's promote moves currentStepIndex itself
            self._pause(status, "InconclusiveAnalysisRun", None)
            return False
        if run["status"]["phase"] == "Running":
            self._measure(run)
            self.emu.put(GROUP, "analysisruns", run, self.ns)
        phase = run["status"]["phase"]
        status["canary"] = {
            **status.get("canary", {}),
            "currentStepAnalysisRunStatus": {
                "name": name,
                "status": phase,
                "message": run["status"].get("message", ""),
            },
        }
        if phase == "Failed":
            status["abort"] = True
            status.update(
                phase="Degraded",
                message=f"RolloutAborted: Rollout aborted update to revision "
                f"{ro['metadata'].get('annotations', {}).get(REVISION, '?')}: {run['status']['message']}",
            )
            return False
        if phase == "Inconclusive":
            self._pause(status, "InconclusiveAnalysisRun", None)
            return False
        return phase == "Successful"

    def _create_run(
        self, ro: dict[str, Any], h: str, name: str, spec: dict[str, Any]
    ) -> dict[str, Any]:
        metrics: list[dict[str, Any]] = []
        args: dict[str, str] = {}
        for ref in spec.get("templates") or []:
            cluster = ref.get("clusterScope")
            plural = "clusteranalysistemplates" if cluster else "analysistemplates"
            tmpl = (
                self.emu.get(GROUP, plural, None if cluster else self.ns, ref["templateName"]) or {}
            )
            metrics += copy.deepcopy((tmpl.get("spec") or {}).get("metrics") or [])
            for a in (tmpl.get("spec") or {}).get("args") or []:
                if a.get("value") is not None:
                    args[a["name"]] = str(a["value"])
        for a in spec.get("args") or []:
            args[a["name"]] = str(a.get("value", ""))
        run = {
            "metadata": {
                "name": name,
                "labels": {HASH: h, "rollout-type": "Step"},
                "annotations": {REVISION: ro["metadata"].get("annotations", {}).get(REVISION, "")},
                "ownerReferences": [
                    {
                        "apiVersion": f"{GROUP}/v1alpha1",
                        "kind": "Rollout",
                        "name": ro["metadata"]["name"],
                        "uid": ro["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": {
                "metrics": metrics,
                "args": [{"name": k, "value": v} for k, v in args.items()],
            },
            "status": {"phase": "Running", "startedAt": stamp(), "metricResults": []},
        }
        return self.emu.put(GROUP, "analysisruns", run, self.ns)

    def _measure(self, run: dict[str, Any]) -> None:
        """One measurement per metric still running; then each metric's and the run's phase."""
        results = {r["name"]: r for r in run["status"].get("metricResults") or []}
        messages = []
        for metric in run["spec"]["metrics"]:
            r = results.setdefault(
                metric["name"], {"name": metric["name"], "phase": "Running", "measurements": []}
            )
            if r["phase"] == "Running":
                n = len(r["measurements"])
                value, phase = self.measure(run["metadata"]["name"], metric["name"], n)
                r["measurements"].append(
                    {"phase": phase, "value": value, "startedAt": stamp(), "finishedAt": stamp()}
                )
                key = {
                    "Successful": "successful",
                    "Failed": "failed",
                    "Inconclusive": "inconclusive",
                    "Error": "error",
                }[phase]
                r[key] = r.get(key, 0) + 1
                r["count"] = n + 1
                failure_limit = _limit(metric.get("failureLimit"), 0)
                inconclusive_limit = _limit(metric.get("inconclusiveLimit"), 0)
                if r.get("failed", 0) > failure_limit:
                    r["phase"] = "Failed"
                    r["message"] = (
                        f'Metric "{metric["name"]}" assessed Failed due to failed '
                        f"({r['failed']}) > failureLimit ({failure_limit})"
                    )
                    messages.append(r["message"])
                elif r.get("inconclusive", 0) > inconclusive_limit:
                    r["phase"] = "Inconclusive"
                    r["message"] = (
                        f'Metric "{metric["name"]}" assessed Inconclusive due to inconclusive '
                        f"({r['inconclusive']}) > inconclusiveLimit ({inconclusive_limit})"
                    )
                    messages.append(r["message"])
                elif r["count"] >= _limit(metric.get("count"), 1):
                    r["phase"] = "Successful"
        run["status"]["metricResults"] = list(results.values())
        phases = {r["phase"] for r in results.values()}
        for worst in ("Failed", "Error", "Inconclusive", "Running"):
            if worst in phases:
                run["status"]["phase"] = worst
                break
        else:
            run["status"]["phase"] = "Successful"
        if messages:
            run["status"]["message"] = messages[0]

    # ------------------------------------------------------------------ pods and weights

    def _weights(self, ro: dict[str, Any], status: dict[str, Any], canary: int) -> dict[str, Any]:
        return {
            "canary": {"weight": canary, "podTemplateHash": status.get("currentPodHash")},
            "stable": {"weight": 100 - canary, "podTemplateHash": status.get("stableRS")},
        }

    def _replicas(self, ro: dict[str, Any], status: dict[str, Any]) -> None:
        desired = int(ro["spec"].get("replicas", 1))
        weight = (((status.get("canary") or {}).get("weights") or {}).get("canary") or {}).get(
            "weight", 0
        )
        stable = status.get("stableRS") == status.get("currentPodHash")
        updated = desired if stable else math.ceil(desired * weight / 100)
        status.update(
            replicas=desired + (0 if stable else updated),
            readyReplicas=desired,
            availableReplicas=desired,
            updatedReplicas=updated,
        )

    def _replicaset(self, ro: dict[str, Any]) -> str:
        """The hash of the rollout's template; its ReplicaSet is created on first sight."""
        template = copy.deepcopy(ro["spec"]["template"])
        h = template_hash(template)
        owned = [
            rs
            for rs in self.emu.list("apps", "replicasets", self.ns)
            if any(
                ref.get("uid") == ro["metadata"]["uid"]
                for ref in rs["metadata"].get("ownerReferences") or []
            )
        ]
        revisions = {
            rs["metadata"]["labels"].get(HASH): int(rs["metadata"]["annotations"].get(REVISION, 0))
            for rs in owned
        }
        revision = revisions.get(h)
        if revision is None:
            revision = max(revisions.values(), default=0) + 1
            template.setdefault("metadata", {}).setdefault("labels", {})[HASH] = h
            labels = {**(ro["spec"].get("selector") or {}).get("matchLabels", {}), HASH: h}
            self.emu.put(
                "apps",
                "replicasets",
                {
                    "metadata": {
                        "name": f"{ro['metadata']['name']}-{h}",
                        "labels": labels,
                        "annotations": {REVISION: str(revision)},
                        "ownerReferences": [
                            {
                                "apiVersion": f"{GROUP}/v1alpha1",
                                "kind": "Rollout",
                                "name": ro["metadata"]["name"],
                                "uid": ro["metadata"]["uid"],
                                "controller": True,
                            }
                        ],
                    },
                    "spec": {
                        "replicas": 0,
                        "selector": {"matchLabels": labels},
                        "template": template,
                    },
                },
                self.ns,
            )
        notes = ro["metadata"].setdefault("annotations", {})
        if notes.get(REVISION) != str(revision):
            notes[REVISION] = str(revision)
            self.emu.put(GROUP, "rollouts", ro, self.ns)
            ro.update(self.emu.get(GROUP, "rollouts", self.ns, ro["metadata"]["name"]) or {})
        return h
