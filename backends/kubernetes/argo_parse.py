"""Argo Rollouts' custom resources (argoproj.io/v1alpha1) as plain data. Pure: dicts in,
dataclasses out (argo_patches.py makes the verbs' patches, argo.py does the requests).

Field names are the CRDs' (manifests/crds in argoproj/argo-rollouts); the step and weight
rules follow the controller's utils/replicaset (GetCurrentCanaryStep, GetCurrentSetWeight).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from backends.base import (
    ForeignAnalysis,
    ForeignMeasurement,
    ForeignMetric,
    ForeignRollout,
    ForeignStep,
    Phase,
    Strategy,
)
from backends.kubernetes.console_events import epoch  # RFC 3339 -> seconds

GROUP = "argoproj.io"
VERSION = "v1alpha1"
CONTROLLER = "argo-rollouts"
HASH_LABEL = "rollouts-pod-template-hash"  # v1alpha1.DefaultRolloutUniqueLabelKey
TYPE_LABEL = "rollout-type"  # Step, Background, PrePromotion, PostPromotion
REVISION = "rollout.argoproj.io/revision"
RUN_KINDS = {
    "Step": "step",
    "Background": "background",
    "PrePromotion": "pre-promotion",
    "PostPromotion": "post-promotion",
}
# Argo's own defaults for a metric's limits (analysis_types.go).
DEFAULT_FAILURE_LIMIT = 0
DEFAULT_INCONCLUSIVE_LIMIT = 0
DEFAULT_ERROR_LIMIT = 4


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def as_int(value: Any) -> int | None:
    """An IntOrString limit as an int; None for a templated string (``{{args.limit}}``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


# --------------------------------------------------------------------------- steps


def step_text(step: Mapping[str, Any]) -> ForeignStep:
    """One canary step in the words of its YAML: ``setWeight 20``, ``pause 30s``."""
    if "setWeight" in step:
        return ForeignStep(f"setWeight {step['setWeight']}", as_int(step["setWeight"]))
    if "pause" in step:
        duration = dig(step, "pause", "duration")
        return ForeignStep(f"pause {duration}" if duration not in (None, "") else "pause")
    if "analysis" in step:
        names = [t.get("templateName", "") for t in dig(step, "analysis", "templates") or []]
        return ForeignStep(f"analysis {', '.join(n for n in names if n)}".strip())
    if "experiment" in step:
        return ForeignStep("experiment")
    if "setCanaryScale" in step:
        scale = step["setCanaryScale"] or {}
        words = ", ".join(f"{k} {v}" for k, v in scale.items())
        return ForeignStep(f"setCanaryScale {words}".strip())
    for key in ("setHeaderRoute", "setMirrorRoute"):
        if key in step:
            return ForeignStep(f"{key} {dig(step, key, 'name') or ''}".strip())
    if "plugin" in step:
        return ForeignStep(f"plugin {dig(step, 'plugin', 'name') or ''}".strip())
    return ForeignStep(", ".join(step) or "step")


def canary_steps(rollout: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(dig(rollout, "spec", "strategy", "canary", "steps") or [])


def strategy_of(rollout: Mapping[str, Any]) -> Strategy:
    return Strategy.BLUEGREEN if dig(rollout, "spec", "strategy", "blueGreen") else Strategy.CANARY


def current_step_index(rollout: Mapping[str, Any]) -> int | None:
    """``status.currentStepIndex`` (0 when unset), None without canary steps
    (replicasetutil.GetCurrentCanaryStep)."""
    steps = canary_steps(rollout)
    if strategy_of(rollout) != Strategy.CANARY or not steps:
        return None
    index = as_int(dig(rollout, "status", "currentStepIndex"))
    return 0 if index is None else index


def set_weight(rollout: Mapping[str, Any]) -> int:
    """The canary weight the controller asks for now (replicasetutil.GetCurrentSetWeight)."""
    if dig(rollout, "status", "abort"):
        return 0
    steps = canary_steps(rollout)
    index = current_step_index(rollout)
    if index is None or index >= len(steps):
        return 100
    for step in reversed(steps[: index + 1]):
        if "setWeight" in step:
            return as_int(step["setWeight"]) or 0
    return 0


# --------------------------------------------------------------------------- analysis


def fill_args(text: str, args: Mapping[str, str]) -> str:
    """A query with ``{{args.NAME}}`` replaced by the run's argument values."""

    def value(m: re.Match[str]) -> str:
        return args.get(m.group(1), m.group(0))

    return re.sub(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}", value, text)


def args_of(spec: Mapping[str, Any] | None) -> dict[str, str]:
    """A run's or template's ``args`` with a value (``valueFrom`` ones are resolved by the
    controller into the run, so a template's show as unset)."""
    out: dict[str, str] = {}
    for a in (spec or {}).get("args") or []:
        if isinstance(a, Mapping) and a.get("name") and a.get("value") is not None:
            out[str(a["name"])] = str(a["value"])
    return out


def _provider(metric: Mapping[str, Any]) -> tuple[str, str, str]:
    provider = metric.get("provider") or {}
    for name, body in provider.items():
        body = body if isinstance(body, Mapping) else {}
        return str(name), str(body.get("address") or ""), str(body.get("query") or "")
    return "", "", ""


def metric_of(
    spec: Mapping[str, Any], result: Mapping[str, Any] | None, args: Mapping[str, str]
) -> ForeignMetric:
    """One metric: its spec (conditions as written, limits, provider) and its result."""
    result = result or {}
    provider, address, query = _provider(spec)
    measurements = tuple(
        ForeignMeasurement(
            value=str(m.get("value", "")),
            phase=str(m.get("phase", "")),
            at=epoch(m.get("finishedAt")) or epoch(m.get("startedAt")),
            message=str(m.get("message", "")),
        )
        for m in result.get("measurements") or []
        if isinstance(m, Mapping)
    )
    failure_limit = spec.get("failureLimit", DEFAULT_FAILURE_LIMIT)
    inconclusive_limit = spec.get("inconclusiveLimit", DEFAULT_INCONCLUSIVE_LIMIT)
    error_limit = spec.get("consecutiveErrorLimit", DEFAULT_ERROR_LIMIT)
    return ForeignMetric(
        name=str(spec.get("name", "")),
        phase=str(result.get("phase", "")),
        success_condition=str(spec.get("successCondition", "")),
        failure_condition=str(spec.get("failureCondition", "")),
        failed=int(result.get("failed") or 0),
        inconclusive=int(result.get("inconclusive") or 0),
        errors=int(result.get("error") or 0),
        successful=int(result.get("successful") or 0),
        count=int(result.get("count") or 0),
        failure_limit=as_int(fill_args(str(failure_limit), args)),
        inconclusive_limit=as_int(fill_args(str(inconclusive_limit), args)),
        error_limit=as_int(fill_args(str(error_limit), args)),
        interval=str(spec.get("interval", "")),
        provider=provider,
        address=fill_args(address, args),
        query=fill_args(query, args),
        message=str(result.get("message", "")),
        measurements=measurements,
    )


def analysis_run(run: Mapping[str, Any]) -> ForeignAnalysis:
    """An AnalysisRun: each metric with its measurements, conditions and limits."""
    spec = run.get("spec") or {}
    status = run.get("status") or {}
    args = args_of(spec)
    results = {str(r.get("name")): r for r in status.get("metricResults") or []}
    labels = dig(run, "metadata", "labels") or {}
    return ForeignAnalysis(
        name=str(dig(run, "metadata", "name") or ""),
        phase=str(status.get("phase") or "Pending"),
        kind=RUN_KINDS.get(str(labels.get(TYPE_LABEL, "")), ""),
        message=str(status.get("message", "")),
        metrics=tuple(
            metric_of(m, results.get(str(m.get("name"))), args) for m in spec.get("metrics") or []
        ),
        args=args,
    )


def template_analysis(
    template: Mapping[str, Any], kind: str = "template", given: Mapping[str, str] | None = None
) -> ForeignAnalysis:
    """An (Cluster)AnalysisTemplate as an analysis that has not run: conditions, no values;
    ``given``: the args the Rollout passes (they win over the template's defaults)."""
    spec = template.get("spec") or {}
    args = {**args_of(spec), **(given or {})}
    return ForeignAnalysis(
        name=str(dig(template, "metadata", "name") or ""),
        phase="Pending",
        kind=kind,
        metrics=tuple(metric_of(m, None, args) for m in spec.get("metrics") or []),
        args=args,
    )


def owned_by(obj: Mapping[str, Any], rollout: Mapping[str, Any]) -> bool:
    """Whether ``obj``'s controller owner is ``rollout`` (by uid, else by kind and name)."""
    uid = dig(rollout, "metadata", "uid")
    name = dig(rollout, "metadata", "name")
    for ref in dig(obj, "metadata", "ownerReferences") or []:
        if uid and ref.get("uid") == uid:
            return True
        if not uid and ref.get("kind") == "Rollout" and ref.get("name") == name:
            return True
    return False


def current_runs(
    rollout: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The AnalysisRuns of the rollout's current revision (pod template hash), oldest first."""
    current = dig(rollout, "status", "currentPodHash")
    mine = [
        r
        for r in runs
        if owned_by(r, rollout)
        and (not current or (dig(r, "metadata", "labels") or {}).get(HASH_LABEL) == current)
    ]
    return sorted(mine, key=lambda r: str(dig(r, "metadata", "creationTimestamp") or ""))


def rollout_args(rollout: Mapping[str, Any]) -> dict[str, str]:
    """The args with a value that the Rollout's analysis blocks pass to their templates."""
    canary = dig(rollout, "spec", "strategy", "canary") or {}
    blue = dig(rollout, "spec", "strategy", "blueGreen") or {}
    blocks = [canary.get("analysis")]
    blocks += [s.get("analysis") for s in canary.get("steps") or [] if isinstance(s, Mapping)]
    blocks += [blue.get("prePromotionAnalysis"), blue.get("postPromotionAnalysis")]
    out: dict[str, str] = {}
    for block in blocks:
        if isinstance(block, Mapping):
            out.update(args_of(block))
    return out


def template_names(rollout: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(name, cluster-scoped) of every analysis template the strategy refers to, in order."""
    refs: list[Mapping[str, Any]] = []
    canary = dig(rollout, "spec", "strategy", "canary") or {}
    blue = dig(rollout, "spec", "strategy", "blueGreen") or {}
    refs += dig(canary, "analysis", "templates") or []
    for step in canary.get("steps") or []:
        refs += dig(step, "analysis", "templates") or []
    for key in ("prePromotionAnalysis", "postPromotionAnalysis"):
        refs += dig(blue, key, "templates") or []
    seen: dict[tuple[str, bool], None] = {}
    for ref in refs:
        if isinstance(ref, Mapping) and ref.get("templateName"):
            seen[(str(ref["templateName"]), bool(ref.get("clusterScope")))] = None
    return list(seen)


# --------------------------------------------------------------------------- the rollout


def _image(template: Mapping[str, Any] | None) -> str:
    containers = dig(template, "spec", "containers") or []
    return str(containers[0].get("image", "")) if containers else ""


def images(rollout: Mapping[str, Any], replicasets: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(stable, canary) images: the stable ReplicaSet's, and the current template's while a
    revision other than the stable one rolls out ("" when none does)."""
    status = rollout.get("status") or {}
    stable_hash, current_hash = status.get("stableRS"), status.get("currentPodHash")
    by_hash = {
        (dig(rs, "metadata", "labels") or {}).get(HASH_LABEL): rs
        for rs in replicasets
        if owned_by(rs, rollout)
    }
    desired = _image(dig(rollout, "spec", "template"))
    stable_rs = by_hash.get(stable_hash)
    stable = _image(dig(stable_rs, "spec", "template")) if stable_rs else ""
    if not stable_hash or stable_hash == current_hash:
        return stable or desired, ""
    current_rs = by_hash.get(current_hash)
    canary = _image(dig(current_rs, "spec", "template")) if current_rs else desired
    return stable or "?", canary


def console_phase(rollout: Mapping[str, Any], runs: Sequence[ForeignAnalysis]) -> Phase:
    """Argo's phase on the console's scale: Healthy -> Completed, Paused -> Paused,
    aborted (Degraded with ``status.abort``) -> RolledBack when an analysis failed, else
    Aborted; Progressing and any other Degraded (a deadline, a bad spec) -> Progressing."""
    status = rollout.get("status") or {}
    phase = status.get("phase")
    if status.get("abort"):
        failed = any(r.phase in ("Failed", "Error", "Inconclusive") for r in runs)
        return Phase.ROLLED_BACK if failed else Phase.ABORTED
    if phase == "Healthy":
        return Phase.COMPLETED
    if phase == "Paused" or (dig(rollout, "spec", "paused") and phase != "Degraded"):
        return Phase.PAUSED
    return Phase.PROGRESSING


def pause_reasons(rollout: Mapping[str, Any]) -> tuple[str, ...]:
    """``status.pauseConditions[].reason``, plus ``spec.paused`` as ``PausedBySpec`` (what
    `kubectl argo rollouts pause` sets)."""
    reasons = [
        str(c.get("reason"))
        for c in dig(rollout, "status", "pauseConditions") or []
        if isinstance(c, Mapping) and c.get("reason")
    ]
    if dig(rollout, "spec", "paused"):
        reasons.append("PausedBySpec")
    return tuple(reasons)


def last_transition(rollout: Mapping[str, Any]) -> float | None:
    stamps = [
        epoch(c.get("lastUpdateTime")) or epoch(c.get("lastTransitionTime"))
        for c in dig(rollout, "status", "conditions") or []
        if isinstance(c, Mapping)
    ]
    known = [s for s in stamps if s is not None]
    return max(known) if known else None


def rollout(
    obj: Mapping[str, Any],
    replicasets: Sequence[Mapping[str, Any]] = (),
    runs: Sequence[Mapping[str, Any]] = (),
    templates: Sequence[ForeignAnalysis] = (),
) -> ForeignRollout:
    """A Rollout with its ReplicaSets and AnalysisRuns (all of the namespace's: this keeps
    the rollout's own) and the analysis templates it refers to (shown until a run exists)."""
    status = obj.get("status") or {}
    strategy = strategy_of(obj)
    steps = canary_steps(obj)
    index = current_step_index(obj)
    analyses = tuple(analysis_run(r) for r in current_runs(obj, runs))
    stable, canary = images(obj, replicasets)
    weights = dig(status, "canary", "weights")
    actual = as_int(dig(weights, "canary", "weight")) if isinstance(weights, Mapping) else None
    revision = as_int((dig(obj, "metadata", "annotations") or {}).get(REVISION))
    rolling = bool(canary)
    return ForeignRollout(
        controller=CONTROLLER,
        kind="Rollout",
        name=str(dig(obj, "metadata", "name") or ""),
        phase=console_phase(obj, analyses),
        status=str(status.get("phase") or "Progressing"),
        strategy=strategy,
        message=str(status.get("message", "")),
        step=index,
        steps_total=len(steps) if index is not None else None,
        steps=tuple(step_text(s) for s in steps),
        set_weight=(set_weight(obj) if rolling else None) if strategy == Strategy.CANARY else None,
        actual_weight=actual if rolling else None,
        stable=stable,
        canary=canary,
        ready=int(status.get("readyReplicas") or 0),
        desired=int(
            dig(obj, "spec", "replicas") if dig(obj, "spec", "replicas") is not None else 1
        ),
        updated=int(status.get("updatedReplicas") or 0),
        pause_reasons=pause_reasons(obj),
        aborted=bool(status.get("abort")),
        active=str(dig(status, "blueGreen", "activeSelector") or ""),
        preview=str(dig(status, "blueGreen", "previewSelector") or ""),
        revision=revision,
        analyses=analyses or tuple(templates),
        updated_at=last_transition(obj),
    )
