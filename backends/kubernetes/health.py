"""Per-version health from Deployments and Pods (pure: dicts in, VersionHealth out).

ready/total count the version's pods (terminating ones excluded); restarts add up container
restart counts; reasons are what an operator acts on: CrashLoopBackOff, ImagePullBackOff /
ErrImagePull, CreateContainerConfigError, Unschedulable (the scheduler's FailedScheduling),
OOMKilled, and the Deployment's ProgressDeadlineExceeded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from backends.base import VersionHealth
from backends.kubernetes.objects import APP, version_label, version_of

WAITING_REASONS = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
    "RunContainerError",
)


def pod_ready(pod: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def pod_reasons(pod: Mapping[str, Any]) -> list[str]:
    """Why a pod is not serving, in the words kubectl shows."""
    name = (pod.get("metadata") or {}).get("name", "?")
    status = pod.get("status") or {}
    out: list[str] = []
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            reason = cond.get("reason") or "Unschedulable"
            out.append(f"{reason} (FailedScheduling): {name}: {cond.get('message', '')}".rstrip())
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in WAITING_REASONS:
            detail = ""
            last = (cs.get("lastState") or {}).get("terminated") or {}
            if reason == "CrashLoopBackOff" and "exitCode" in last:
                detail = f" exit {last['exitCode']}"
                if last.get("reason") == "OOMKilled":
                    detail += " (OOMKilled)"
            out.append(f"{reason}: {name}{detail}")
    return out


def deployment_reasons(dep: Mapping[str, Any]) -> list[str]:
    out = []
    for cond in (dep.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            name = (dep.get("metadata") or {}).get("name", "?")
            out.append(f"ProgressDeadlineExceeded: {name}: {cond.get('message', '')}".rstrip(": "))
    return out


def version_health(
    service: str,
    deployments: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
) -> dict[str, VersionHealth]:
    """Health per version of ``service`` (versions with a Deployment or a pod)."""
    names: dict[str, str] = {}  # version label -> version as named
    desired: dict[str, int] = {}
    dep_reasons: dict[str, list[str]] = {}
    for dep in deployments:
        labels = ((dep.get("spec") or {}).get("template") or {}).get("metadata", {}).get(
            "labels"
        ) or {}
        if labels.get(APP) != service:
            continue
        version = version_of(dep)
        if version is None:
            continue
        label = version_label(version)
        names[label] = version
        desired[label] = desired.get(label, 0) + int((dep.get("spec") or {}).get("replicas", 1))
        dep_reasons.setdefault(label, []).extend(deployment_reasons(dep))
    ready: dict[str, int] = {}
    total: dict[str, int] = {}
    restarts: dict[str, int] = {}
    reasons: dict[str, list[str]] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        if labels.get(APP) != service or "version" not in labels or meta.get("deletionTimestamp"):
            continue
        label = str(labels["version"])
        names.setdefault(label, label)
        total[label] = total.get(label, 0) + 1
        ready[label] = ready.get(label, 0) + (1 if pod_ready(pod) else 0)
        restarts[label] = restarts.get(label, 0) + sum(
            int(cs.get("restartCount", 0))
            for cs in (pod.get("status") or {}).get("containerStatuses") or []
        )
        reasons.setdefault(label, []).extend(pod_reasons(pod))
    out: dict[str, VersionHealth] = {}
    for label, version in names.items():
        found = reasons.get(label, []) + dep_reasons.get(label, [])
        out[version] = VersionHealth(
            version=version,
            ready=ready.get(label, 0),
            total=total.get(label, 0),
            restarts=restarts.get(label, 0),
            reasons=tuple(_summarize(found)),
            desired=desired.get(label),
        )
    return out


def _summarize(reasons: list[str], limit: int = 5) -> list[str]:
    """Keep the list short: at most ``limit`` reasons, the rest counted."""
    if len(reasons) <= limit:
        return reasons
    return [*reasons[:limit], f"... and {len(reasons) - limit} more"]
