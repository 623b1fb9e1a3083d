"""The requests of the ``kubectl argo rollouts`` plugin as data: which body, which patch
type, and whether it goes to the ``status`` subresource. Pure; argo.py sends them.

From pkg/kubectl-argo-rollouts/cmd/{promote,pause,abort,retry,undo} of argoproj/argo-rollouts.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.base import Strategy
from backends.kubernetes.argo_parse import (
    HASH_LABEL,
    REVISION,
    as_int,
    canary_steps,
    current_step_index,
    dig,
    owned_by,
    strategy_of,
)


@dataclass(frozen=True)
class Patch:
    """One PATCH request: ``kind`` is ``merge`` (application/merge-patch+json) or ``json``
    (application/json-patch+json); ``status``: sent to the status subresource."""

    body: Any
    kind: str = "merge"
    status: bool = False


def _inconclusive(obj: Mapping[str, Any]) -> bool:
    return (
        strategy_of(obj) == Strategy.CANARY
        and dig(obj, "status", "canary", "currentStepAnalysisRunStatus", "status") == "Inconclusive"
    )


def _next_index(obj: Mapping[str, Any]) -> int | None:
    index = current_step_index(obj)
    if index is None:
        return None
    return index + 1 if index < len(canary_steps(obj)) else index


def promote_patches(
    obj: Mapping[str, Any], *, full: bool
) -> tuple[Patch | None, Patch | None, Patch]:
    """(spec patch, status patch, unified patch) as the plugin's ``getPatches`` makes them:
    the status patch goes first (to the status subresource); the unified one replaces both
    when the API has no status subresource (404)."""
    spec_paused = bool(dig(obj, "spec", "paused"))
    status = obj.get("status") or {}
    spec_patch = status_patch = None
    if full:
        if spec_paused:
            spec_patch = Patch({"spec": {"paused": False}})
        if status.get("currentPodHash") != status.get("stableRS"):
            status_patch = Patch({"status": {"promoteFull": True}}, status=True)
        return (
            spec_patch,
            status_patch,
            Patch({"spec": {"paused": False}, "status": {"promoteFull": True}}),
        )
    unified = Patch({"spec": {"paused": False}, "status": {"pauseConditions": None}})
    if spec_paused:
        spec_patch = Patch({"spec": {"paused": False}})
    conditions = status.get("pauseConditions") or []
    if _inconclusive(obj) and conditions and status.get("controllerPause"):
        index = _next_index(obj)
        if index is not None:
            body = {
                "status": {
                    "pauseConditions": None,
                    "controllerPause": False,
                    "currentStepIndex": index,
                }
            }
            status_patch = Patch(body, status=True)
    elif conditions:
        status_patch = Patch({"status": {"pauseConditions": None}}, status=True)
    elif strategy_of(obj) == Strategy.CANARY:
        index = _next_index(obj)
        if index is not None:
            status_patch = Patch(
                {"status": {"pauseConditions": None, "currentStepIndex": index}}, status=True
            )
            unified = Patch(
                {
                    "spec": {"paused": False},
                    "status": {"pauseConditions": None, "currentStepIndex": index},
                }
            )
    return spec_patch, status_patch, unified


PAUSE = Patch({"spec": {"paused": True}})
ABORT = Patch({"status": {"abort": True}}, status=True)
RETRY = Patch({"status": {"abort": False}}, status=True)


def undo_target(
    obj: Mapping[str, Any], replicasets: Sequence[Mapping[str, Any]]
) -> tuple[int, Mapping[str, Any]] | None:
    """(revision, ReplicaSet) the plugin's ``undo`` goes back to: the second newest
    revision among the ReplicaSets the rollout controls; None when there is none."""
    owned = []
    for rs in replicasets:
        if not owned_by(rs, obj):
            continue
        rev = as_int((dig(rs, "metadata", "annotations") or {}).get(REVISION))
        owned.append((rev or 0, rs))
    owned.sort(key=lambda pair: pair[0])
    return owned[-2] if len(owned) >= 2 else None


def undo_patch(replicaset: Mapping[str, Any]) -> Patch:
    """``[{"op": "replace", "path": "/spec/template", "value": <the ReplicaSet's template
    without the pod-template-hash label>}]`` as a JSON patch on the Rollout."""
    template = copy.deepcopy(dict(dig(replicaset, "spec", "template") or {}))
    labels = dig(template, "metadata", "labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return Patch([{"op": "replace", "path": "/spec/template", "value": template}], kind="json")


def same_template(obj: Mapping[str, Any], replicaset: Mapping[str, Any]) -> bool:
    """The rollout already runs that template (the plugin then skips the rollback)."""

    def bare(template: Any) -> Any:
        template = copy.deepcopy(template or {})
        labels = dig(template, "metadata", "labels")
        if isinstance(labels, dict):
            labels.pop(HASH_LABEL, None)
        return template

    return bare(dig(obj, "spec", "template")) == bare(dig(replicaset, "spec", "template"))
