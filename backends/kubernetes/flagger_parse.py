"""Flagger's ``Canary`` (flagger.app/v1beta1) as plain data: pure, no requests.

``canary(obj)`` -> ``FlaggerCanary`` (what the Canary says: phase, canary weight, failed
checks against ``analysis.threshold``, iterations, last transition, metrics with their
thresholds, webhooks); ``to_foreign(c, ...)`` maps it onto the console's ``ForeignRollout``.
Field names and defaults follow Flagger's API (pkg/apis/flagger/v1beta1/canary.go, status.go,
metric.go) and its scheduler (``maxWeight`` 100 unless set, ``threshold`` 1 unless set, the
strategy: A/B with ``match`` and ``iterations``, blue/green with ``iterations`` alone, else
canary). Flagger keeps no measured values in the Canary: the console charts its metrics from
Prometheus with the MetricTemplate's query (``fill_query``), and the built-in
``request-success-rate`` and ``request-duration`` with the query Flagger runs for the
Canary's provider (flagger_builtins.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.base import (
    ForeignAnalysis,
    ForeignMetric,
    ForeignRollout,
    ForeignStep,
    Phase,
    Strategy,
)
from backends.kubernetes import flagger_builtins as builtins
from backends.kubernetes.console_events import epoch  # RFC 3339 -> seconds

GROUP = "flagger.app"
VERSION = "v1beta1"
PLURAL = "canaries"
KIND = "Canary"
TEMPLATES = "metrictemplates"
CONTROLLER = "flagger"

# The webhook types that gate a Canary (canary.go HookType); the others only notify or test.
CONFIRM_ROLLOUT = "confirm-rollout"
CONFIRM_TRAFFIC = "confirm-traffic-increase"
CONFIRM_PROMOTION = "confirm-promotion"
ROLLBACK = "rollback"
GATE_TYPES = (CONFIRM_ROLLOUT, CONFIRM_TRAFFIC, CONFIRM_PROMOTION, ROLLBACK)

# Flagger's phases (status.go) -> the console's word.
PHASES: Mapping[str, Phase] = {
    "": Phase.PENDING,
    "Initializing": Phase.PENDING,
    "Initialized": Phase.COMPLETED,  # set up, primary serving everything: nothing rolls out
    "Waiting": Phase.PAUSED,  # confirm-rollout closed
    "Progressing": Phase.PROGRESSING,
    "WaitingPromotion": Phase.PAUSED,  # confirm-promotion closed
    "Promoting": Phase.PROGRESSING,
    "Finalising": Phase.PROGRESSING,
    "Succeeded": Phase.COMPLETED,
    "Failed": Phase.ROLLED_BACK,
    "Terminating": Phase.ABORTED,
    "Terminated": Phase.ABORTED,
}
# Phases in which a rollout is under way (the canary takes or may take traffic).
ACTIVE = ("Waiting", "Progressing", "WaitingPromotion", "Promoting", "Finalising")

# Flagger's built-in metrics (no templateRef): what they measure, for the detail screen
# (flagger_builtins.describe says it per provider).
BUILTIN = {
    "request-success-rate": "percentage of non-5xx responses",
    "request-duration": "P99 request duration in milliseconds",
}


@dataclass(frozen=True)
class CanaryMetric:
    """One entry of ``analysis.metrics``: a built-in or a MetricTemplate, with its bounds."""

    name: str
    template: str = ""  # templateRef.name ("" for a built-in or an inline query)
    template_namespace: str = ""
    threshold: float | None = None  # the deprecated single bound (a maximum)
    min: float | None = None  # thresholdRange
    max: float | None = None
    interval: str = ""
    query: str = ""  # an inline query (deprecated in Flagger, still accepted)
    variables: Mapping[str, str] | None = None  # templateVariables

    def condition(self) -> str:
        """The accepted range in words, as Flagger checks it: ``result >= 99``."""
        parts = []
        if self.min is not None:
            parts.append(f"result >= {_num(self.min)}")
        if self.max is not None:
            parts.append(f"result <= {_num(self.max)}")
        if self.threshold is not None and self.max is None:
            parts.append(f"result <= {_num(self.threshold)}")
        return " && ".join(parts)


@dataclass(frozen=True)
class CanaryWebhook:
    name: str
    type: str  # "" is Flagger's default: a rollout (test) hook
    url: str
    timeout: str = ""
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True)
class FlaggerCanary:
    """What a Canary says, field by field (Flagger's names, defaults applied)."""

    name: str
    namespace: str
    target: str  # spec.targetRef.name (the Deployment)
    target_kind: str
    phase: str  # Flagger's own word; "" before Flagger has seen it
    canary_weight: int
    failed_checks: int
    threshold: int
    iterations: int  # status.iterations: analysis runs done
    max_iterations: int | None  # analysis.iterations (blue/green, A/B)
    interval: str
    step_weight: int
    step_weights: tuple[int, ...]
    max_weight: int
    strategy: str  # "canary", "ab-testing", "blue-green"
    last_transition: float | None
    message: str  # the Promoted condition's message
    metrics: tuple[CanaryMetric, ...]
    webhooks: tuple[CanaryWebhook, ...]
    skip_analysis: bool = False
    # what Flagger's built-in metrics are queried by (toMetricModel, runBuiltinMetricChecks)
    provider: str = ""  # spec.provider ("": Flagger's -mesh-provider)
    target_api: str = ""  # spec.targetRef.apiVersion
    service: str = ""  # spec.service.name
    ingress: str = ""  # spec.ingressRef.name
    route: str = ""  # spec.routeRef.name
    metrics_server: str = ""  # spec.metricsServer (Prometheus for the built-ins)

    def gates(self) -> tuple[CanaryWebhook, ...]:
        """The webhooks that gate the rollout (confirm-*, rollback)."""
        return tuple(w for w in self.webhooks if w.type in GATE_TYPES)


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return int(value)
    return default


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _metric(m: Mapping[str, Any]) -> CanaryMetric:
    ref: Mapping[str, Any] = m.get("templateRef") or {}
    rng: Mapping[str, Any] = m.get("thresholdRange") or {}
    ref = ref if isinstance(ref, Mapping) else {}
    rng = rng if isinstance(rng, Mapping) else {}
    variables = m.get("templateVariables")
    return CanaryMetric(
        name=str(m.get("name", "")),
        template=str(ref.get("name") or ""),
        template_namespace=str(ref.get("namespace") or ""),
        threshold=_float(m.get("threshold")),
        min=_float(rng.get("min")),
        max=_float(rng.get("max")),
        interval=str(m.get("interval") or ""),
        query=str(m.get("query") or ""),
        variables={str(k): str(v) for k, v in variables.items()}
        if isinstance(variables, Mapping)
        else None,
    )


def _webhook(w: Mapping[str, Any]) -> CanaryWebhook:
    meta = w.get("metadata")
    return CanaryWebhook(
        name=str(w.get("name", "")),
        type=str(w.get("type") or ""),
        url=str(w.get("url", "")),
        timeout=str(w.get("timeout") or ""),
        metadata={str(k): str(v) for k, v in meta.items()} if isinstance(meta, Mapping) else None,
    )


def canary(obj: Mapping[str, Any]) -> FlaggerCanary:
    """Parse one Canary object (as the API server returns it)."""
    spec = obj.get("spec") or {}
    # ``canaryAnalysis`` is the deprecated name of ``analysis`` (GetAnalysis)
    analysis = spec.get("analysis") or spec.get("canaryAnalysis") or {}
    status = obj.get("status") or {}
    step_weights = tuple(_int(w) for w in analysis.get("stepWeights") or [])
    max_weight = step_weights[-1] if step_weights else _int(analysis.get("maxWeight")) or 100
    iterations = _int(analysis.get("iterations"))
    if analysis.get("match") and iterations > 0:
        strategy = "ab-testing"
    elif iterations > 0:
        strategy = "blue-green"
    else:
        strategy = "canary"
    promoted: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if _get(c, "type") == "Promoted"), {}
    )
    return FlaggerCanary(
        name=str(_get(obj, "metadata", "name") or ""),
        namespace=str(_get(obj, "metadata", "namespace") or ""),
        target=str(_get(spec, "targetRef", "name") or ""),
        target_kind=str(_get(spec, "targetRef", "kind") or "Deployment"),
        phase=str(status.get("phase") or ""),
        canary_weight=_int(status.get("canaryWeight")),
        failed_checks=_int(status.get("failedChecks")),
        threshold=_int(analysis.get("threshold")) or 1,
        iterations=_int(status.get("iterations")),
        max_iterations=iterations or None,
        interval=str(analysis.get("interval") or "1m"),
        step_weight=_int(analysis.get("stepWeight")),
        step_weights=step_weights,
        max_weight=min(max_weight, 100),
        strategy=strategy,
        last_transition=epoch(status.get("lastTransitionTime")),
        message=str(promoted.get("message") or ""),
        metrics=tuple(_metric(m) for m in analysis.get("metrics") or [] if isinstance(m, Mapping)),
        webhooks=tuple(
            _webhook(w) for w in analysis.get("webhooks") or [] if isinstance(w, Mapping)
        ),
        skip_analysis=bool(spec.get("skipAnalysis")),
        provider=str(spec.get("provider") or ""),
        target_api=str(_get(spec, "targetRef", "apiVersion") or ""),
        service=str(_get(spec, "service", "name") or ""),
        ingress=str(_get(spec, "ingressRef", "name") or ""),
        route=str(_get(spec, "routeRef", "name") or ""),
        metrics_server=str(spec.get("metricsServer") or ""),
    )


def weights(c: FlaggerCanary) -> tuple[int, ...]:
    """The canary weights Flagger steps through: ``stepWeights``, or ``stepWeight`` up to
    ``maxWeight`` (scheduler.go nextStepWeight/maxWeight); () for blue/green and A/B."""
    if c.strategy != "canary":
        return ()
    if c.step_weights:
        return c.step_weights
    if c.step_weight <= 0:
        return ()
    out = list(range(c.step_weight, c.max_weight + 1, c.step_weight))
    if not out or out[-1] < c.max_weight:  # the last step stops at maxWeight
        out.append(c.max_weight)
    return tuple(out)


def steps(c: FlaggerCanary) -> tuple[ForeignStep, ...]:
    """The rollout as steps in words: one ``setWeight N`` per weight, or ``iterations N``."""
    out = [ForeignStep(f"setWeight {w}", weight=w) for w in weights(c)]
    if not out and c.max_iterations:
        out.append(ForeignStep(f"{c.strategy} {c.max_iterations} iterations of {c.interval}"))
    if CONFIRM_PROMOTION in {w.type for w in c.webhooks}:
        out.append(ForeignStep("confirm-promotion"))
    out.append(ForeignStep("promote", weight=0))
    return tuple(out)


def current_step(c: FlaggerCanary) -> int | None:
    """Steps done, counting from 1 as the overview shows ``k/N`` (None when not rolling)."""
    if c.phase not in ACTIVE:
        return None
    ws = weights(c)
    if c.phase in ("Promoting", "Finalising"):
        return len(steps(c)) - 1  # everything but the promotion itself
    if c.phase == "WaitingPromotion":  # the analysis is done; the gate is the current step
        return len(ws) + (1 if c.max_iterations and not ws else 0)
    if ws:
        return sum(1 for w in ws if w <= c.canary_weight)
    return 1 if c.max_iterations else None


TEMPLATE_VAR = re.compile(r"\{\{\s*(variables\.)?([A-Za-z0-9_]+)\s*\}\}")


def fill_query(query: str, c: FlaggerCanary, metric: CanaryMetric) -> str:
    """A MetricTemplate query with Flagger's template functions filled in
    (MetricTemplateModel: name, namespace, target, service, interval, variables.X)."""
    values = {
        "name": c.name,
        "namespace": c.namespace,
        "target": c.target,
        "service": c.target,
        "interval": metric.interval or c.interval,
    }
    variables = dict(metric.variables or {})

    def value(m: re.Match[str]) -> str:
        if m.group(1):
            return variables.get(m.group(2), m.group(0))
        return values.get(m.group(2), m.group(0))

    return TEMPLATE_VAR.sub(value, query)


def template_key(c: FlaggerCanary, metric: CanaryMetric) -> tuple[str, str]:
    """(namespace, name) of the MetricTemplate a metric refers to (the Canary's namespace
    unless it names another)."""
    return (metric.template_namespace or c.namespace, metric.template)


def builtin_model(c: FlaggerCanary, metric: CanaryMetric) -> builtins.Model:
    """Flagger's template model for a built-in metric (toMetricModel; the interval is the
    metric's, else Flagger's 1m, not the analysis interval)."""
    return builtins.Model(
        namespace=c.namespace,
        target=c.target,
        service=c.service or c.target,
        ingress=c.ingress or c.target,
        route=c.route or c.target,
        interval=metric.interval or builtins.DEFAULT_INTERVAL,
    )


def builtin_metric(c: FlaggerCanary, metric: CanaryMetric, mesh_provider: str) -> ForeignMetric:
    """A built-in metric with the query Flagger runs for it: the Canary's provider, else
    ``mesh_provider`` (the environment's ``cluster.flaggerProvider``), asked of the Canary's
    ``metricsServer`` when it names one. No query for a provider rollout has none for."""
    provider = builtins.metrics_provider(c.provider, mesh_provider, c.target_kind, c.target_api)
    model = builtin_model(c, metric)
    query = builtins.query(metric.name, provider, model)
    said = builtins.describe(metric.name, provider)
    return ForeignMetric(
        name=metric.name,
        phase=c.phase,
        success_condition=metric.condition(),
        failed=c.failed_checks,
        failure_limit=c.threshold,
        interval=model.interval,
        provider="prometheus",
        address=c.metrics_server,
        query=query,
        message=f"{said} ({provider})" if query else said,
        no_chart="" if query else builtins.why_not(provider),
    )


def metric_of(
    c: FlaggerCanary,
    metric: CanaryMetric,
    template: Mapping[str, Any] | None,
    *,
    mesh_provider: str = builtins.DEFAULT_PROVIDER,
) -> ForeignMetric:
    """One metric for the detail screen: its bounds as a condition, the Canary's failed
    checks against ``threshold``, and the provider's query filled in (for charts)."""
    provider = _get(template, "spec", "provider") or {}
    query = str(_get(template, "spec", "query") or metric.query)
    if not query and not metric.template and metric.name in BUILTIN:
        return builtin_metric(c, metric, mesh_provider)
    kind = str(provider.get("type") or ("prometheus" if metric.name in BUILTIN else ""))
    return ForeignMetric(
        name=metric.name,
        phase=c.phase,
        success_condition=metric.condition(),
        failed=c.failed_checks,
        failure_limit=c.threshold,
        interval=metric.interval or c.interval,
        provider=kind,
        address=str(provider.get("address") or ""),
        query=fill_query(query, c, metric) if query else "",
        message=BUILTIN.get(
            metric.name, f"MetricTemplate {metric.template}" if metric.template else ""
        ),
    )


def analysis_of(
    c: FlaggerCanary,
    templates: Mapping[tuple[str, str], Mapping[str, Any]],
    *,
    mesh_provider: str = builtins.DEFAULT_PROVIDER,
) -> ForeignAnalysis:
    """The Canary's analysis as one ``ForeignAnalysis`` (Flagger has no separate runs)."""
    metrics = tuple(
        metric_of(c, m, templates.get(template_key(c, m)), mesh_provider=mesh_provider)
        for m in c.metrics
    )
    phase = {"Succeeded": "Successful", "Failed": "Failed"}.get(
        c.phase, "Running" if c.phase in ACTIVE else ""
    )
    return ForeignAnalysis(
        name=f"{c.name} analysis",
        phase=phase,
        kind="canary",
        message=f"failed checks {c.failed_checks}/{c.threshold}, iterations {c.iterations}",
        metrics=metrics,
    )


def _image(deployment: Mapping[str, Any] | None) -> str:
    containers = _get(deployment, "spec", "template", "spec", "containers") or []
    first = containers[0] if containers and isinstance(containers[0], Mapping) else {}
    return str(first.get("image") or "")


def to_foreign(
    c: FlaggerCanary,
    *,
    deployments: Mapping[str, Mapping[str, Any]] | None = None,
    templates: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    held: bool = False,
    mesh_provider: str = builtins.DEFAULT_PROVIDER,
) -> ForeignRollout:
    """The console's view of a Canary. ``deployments`` by name (the target and its
    ``-primary``, when readable) give the images and replica counts; ``held``: the gate's
    confirm-traffic-increase is closed (``rollout pause``), so a Progressing Canary with
    that webhook holds its weight and shows as paused; ``mesh_provider``: Flagger's
    ``-mesh-provider``, for the built-in metrics of a Canary without ``spec.provider``."""
    deployments = deployments or {}
    primary = deployments.get(f"{c.target}-primary")
    target = deployments.get(c.target)
    stable, candidate = _image(primary), _image(target)
    rolling = c.phase in ACTIVE
    all_steps = steps(c)
    status = primary if not rolling else target
    replicas = _get(status, "status") or {}
    phase = PHASES.get(c.phase, Phase.PENDING)
    reasons = _pause_reasons(c)
    if held and c.phase == "Progressing" and CONFIRM_TRAFFIC in {w.type for w in c.gates()}:
        phase, reasons = Phase.PAUSED, ("confirm-traffic-increase closed (paused)",)
    return ForeignRollout(
        controller=CONTROLLER,
        kind=KIND,
        name=c.name,
        phase=phase,
        status=c.phase or "Pending",
        strategy=Strategy.BLUEGREEN if c.strategy == "blue-green" else Strategy.CANARY,
        message=c.message,
        step=current_step(c),
        steps_total=len(all_steps) if rolling else None,
        steps=all_steps,
        set_weight=c.canary_weight if rolling else None,
        actual_weight=None,
        stable=stable or f"{c.target}-primary",
        canary=(candidate or c.target) if rolling else "",
        ready=_int(replicas.get("readyReplicas")),
        desired=_int(_get(status, "spec", "replicas"), _int(replicas.get("replicas"))),
        updated=_int(replicas.get("updatedReplicas")),
        pause_reasons=reasons,
        aborted=c.phase == "Failed",
        analyses=(analysis_of(c, templates or {}, mesh_provider=mesh_provider),),
        failed_checks=c.failed_checks,
        threshold=c.threshold,
        iterations=c.iterations,
        updated_at=c.last_transition,
    )


def _pause_reasons(c: FlaggerCanary) -> tuple[str, ...]:
    if c.phase == "Waiting":
        return ("waiting for confirm-rollout",)
    if c.phase == "WaitingPromotion":
        return ("waiting for confirm-promotion",)
    return ()


def gate_urls(c: FlaggerCanary) -> Sequence[tuple[str, str]]:
    """(type, url) of the Canary's gate webhooks, for the detail screen and docs checks."""
    return [(w.type, w.url) for w in c.gates()]
