"""Argo Rollouts' CRDs for the API emulator (argoproj.io/v1alpha1).

From argo-rollouts' published manifests/crds (rollout-crd.yaml, analysis-run-crd.yaml,
analysis-template-crd.yaml, cluster-analysis-template-crd.yaml): names, scope and
subresources as there (Rollout: ``status`` and ``scale``; the others none), and the types
of the Rollout fields the plugin's verbs write, checked on every write (a wrong type is a
422, as the API server's structural schema would answer). Unknown ``status`` fields are
refused rather than pruned, so a misspelt patch fails a test instead of vanishing.
"""

from __future__ import annotations

from typing import Any

from .emulator import Emulator, Resource
from .patch import ApiError

GROUP = "argoproj.io"
RESOURCES = [
    Resource(GROUP, "v1alpha1", "rollouts", "Rollout"),
    Resource(GROUP, "v1alpha1", "analysisruns", "AnalysisRun"),
    Resource(GROUP, "v1alpha1", "analysistemplates", "AnalysisTemplate"),
    Resource(GROUP, "v1alpha1", "clusteranalysistemplates", "ClusterAnalysisTemplate", False),
]
SHORT = {"rollouts": ["ro"], "analysisruns": ["ar"], "analysistemplates": ["at"]}
SHORT["clusteranalysistemplates"] = ["cat"]

# status fields of rollout-crd.yaml (v1alpha1 RolloutStatus), with the JSON type of those
# the plugin writes
STATUS_FIELDS = {
    "HPAReplicas", "abort", "abortedAt", "alb", "albs", "availableReplicas", "blueGreen",
    "canary", "collisionCount", "conditions", "controllerPause", "currentPodHash",
    "currentStepHash", "currentStepIndex", "duration", "message", "observedGeneration",
    "pauseConditions", "phase", "promoteFull", "readyReplicas", "replicas", "restartedAt",
    "selector", "stableRS", "updatedReplicas", "workloadObservedGeneration",
}  # fmt: skip
STATUS_TYPES = {
    "abort": bool,
    "controllerPause": bool,
    "promoteFull": bool,
    "currentStepIndex": int,
    "pauseConditions": list,
}
SPEC_TYPES = {"paused": bool, "replicas": int, "template": dict}


def _invalid(field: str, value: Any, want: type) -> ApiError:
    return ApiError(
        422,
        "Invalid",
        f'Rollout.argoproj.io is invalid: {field}: Invalid value: "{value}": {field} in body '
        f"must be of type {want.__name__}",
    )


def check_rollout(obj: dict[str, Any]) -> None:
    """The schema checks for the fields the verbs write (422 otherwise)."""
    status = obj.get("status") or {}
    for key, value in status.items():
        if key not in STATUS_FIELDS:
            raise ApiError(422, "Invalid", f'Rollout.argoproj.io: unknown field "status.{key}"')
        want = STATUS_TYPES.get(key)
        if want is not None and value is not None and type(value) is not want:
            raise _invalid(f"status.{key}", value, want)
    for cond in status.get("pauseConditions") or []:
        if not isinstance(cond, dict) or not cond.get("reason") or not cond.get("startTime"):
            raise ApiError(422, "Invalid", "status.pauseConditions: reason and startTime required")
    for key, want in SPEC_TYPES.items():
        value = (obj.get("spec") or {}).get(key)
        if value is not None and type(value) is not want:
            raise _invalid(f"spec.{key}", value, want)


def install(emu: Emulator) -> None:
    """Register the CRDs (served resources, the CRD objects discovery-minded clients read,
    Rollout's status subresource and its schema check)."""
    for res in RESOURCES:
        emu.resources[(res.group, res.plural)] = res
        singular = res.kind.lower()
        subresources: dict[str, Any] = {}
        if res.plural == "rollouts":
            subresources = {
                "status": {},
                "scale": {
                    "labelSelectorPath": ".status.selector",
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.HPAReplicas",
                },
            }
        emu.put(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            {
                "metadata": {"name": f"{res.plural}.{GROUP}"},
                "spec": {
                    "group": GROUP,
                    "names": {
                        "kind": res.kind,
                        "listKind": f"{res.kind}List",
                        "plural": res.plural,
                        "singular": singular,
                        "shortNames": SHORT[res.plural],
                    },
                    "scope": "Namespaced" if res.namespaced else "Cluster",
                    "versions": [
                        {
                            "name": "v1alpha1",
                            "served": True,
                            "storage": True,
                            "subresources": subresources,
                        }
                    ],
                },
            },
        )
    emu.status_subresources.add((GROUP, "rollouts"))
    emu.validators[(GROUP, "rollouts")] = check_rollout
