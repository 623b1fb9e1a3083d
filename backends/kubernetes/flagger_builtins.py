"""Flagger's built-in metrics as the PromQL Flagger itself asks: pure, no requests.

``request-success-rate`` and ``request-duration`` carry no query in the Canary: Flagger
computes them with a fixed query per mesh or ingress provider (pkg/metrics/observers/*.go,
chosen in pkg/controller/scheduler_metrics.go ``runBuiltinMetricChecks`` and
observers/factory.go). The templates below are Flagger's, token for token, with the
whitespace of its multi-line Go strings folded onto one line (PromQL ignores it; the detail
screen shows one line). They are filled with the variables of Flagger's
``MetricTemplateModel`` (``toMetricModel``): namespace, target, service, ingress, route,
interval.

Not charted: ``knative`` (Flagger fills ``route`` with the Knative Service's latest created
revision, read from the cluster) and names Flagger does not know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

SUCCESS_RATE = "request-success-rate"
DURATION = "request-duration"
NAMES = (SUCCESS_RATE, DURATION)

# Flagger's -mesh-provider default, and its default metric interval (canary.go MetricInterval).
DEFAULT_PROVIDER = "istio"
DEFAULT_INTERVAL = "1m"

# observer -> (request-success-rate, request-duration); the file each comes from.
QUERIES: Mapping[str, tuple[str, str]] = {
    # istio.go
    "istio": (
        'sum(rate(istio_requests_total{reporter="destination", destination_workload_namespace="{{ namespace }}", destination_workload=~"{{ target }}", response_code!~"5.*"}[{{ interval }}])) / sum(rate(istio_requests_total{reporter="destination", destination_workload_namespace="{{ namespace }}", destination_workload=~"{{ target }}"}[{{ interval }}])) * 100',
        'histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination", destination_workload_namespace="{{ namespace }}", destination_workload=~"{{ target }}"}[{{ interval }}])) by (le))',
    ),
    # linkerd.go
    "linkerd": (
        'sum(rate(response_total{namespace="{{ namespace }}", deployment=~"{{ target }}", classification!="failure", direction="inbound"}[{{ interval }}])) / sum(rate(response_total{namespace="{{ namespace }}", deployment=~"{{ target }}", direction="inbound"}[{{ interval }}])) * 100',
        'histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="{{ namespace }}", deployment=~"{{ target }}", direction="inbound"}[{{ interval }}])) by (le))',
    ),
    # nginx.go
    "nginx": (
        'sum(rate(nginx_ingress_controller_requests{namespace="{{ namespace }}", ingress="{{ ingress }}", canary!="", status!~"5.*"}[{{ interval }}])) / sum(rate(nginx_ingress_controller_requests{namespace="{{ namespace }}", ingress="{{ ingress }}", canary!=""}[{{ interval }}])) * 100',
        'sum(rate(nginx_ingress_controller_response_duration_seconds_sum{namespace="{{ namespace }}", ingress="{{ ingress }}", canary!=""}[{{ interval }}])) / sum(rate(nginx_ingress_controller_response_duration_seconds_count{namespace="{{ namespace }}", ingress="{{ ingress }}", canary!=""}[{{ interval }}])) * 1000',
    ),
    # contour.go
    "contour": (
        'sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+", envoy_response_code!~"5.*"}[{{ interval }}])) / sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+",}[{{ interval }}])) * 100',
        'histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=~"{{ namespace }}_{{ service }}-canary_[0-9a-zA-Z-]+",}[{{ interval }}])) by (le))',
    ),
    # gloo.go
    "gloo": (
        'sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+", envoy_response_code!~"5.*"}[{{ interval }}])) / sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+",}[{{ interval }}])) * 100',
        'histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+",}[{{ interval }}])) by (le))',
    ),
    # appmesh.go
    "appmesh": (
        'sum(rate(envoy_cluster_upstream_rq{kubernetes_namespace="{{ namespace }}", kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)", envoy_response_code!~"5.*"}[{{ interval }}])) / sum(rate(envoy_cluster_upstream_rq{kubernetes_namespace="{{ namespace }}", kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}])) * 100',
        'histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{kubernetes_namespace="{{ namespace }}", kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}])) by (le))',
    ),
    # traefik.go
    "traefik": (
        'sum(rate(traefik_service_request_duration_seconds_bucket{service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd", code!~"5..", le="+Inf"}[{{ interval }}])) / sum(rate(traefik_service_request_duration_seconds_bucket{service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd", le="+Inf"}[{{ interval }}])) * 100',
        'histogram_quantile(0.99, sum(rate(traefik_service_request_duration_seconds_bucket{service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd"}[{{ interval }}])) by (le)) * 1000',
    ),
    # http.go
    "kubernetes": (
        'sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}", kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)", status!~"5.*"}[{{ interval }}])) / sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}", kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}])) * 100',
        'histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{kubernetes_namespace="{{ namespace }}", kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}])) by (le))',
    ),
    # osm.go
    "osm": (
        'sum(rate(osm_request_total{destination_namespace="{{ namespace }}", destination_kind="Deployment", destination_name="{{ target }}", response_code!~"5.*"}[{{ interval }}])) / sum(rate(osm_request_total{destination_namespace="{{ namespace }}", destination_kind="Deployment", destination_name="{{ target }}"}[{{ interval }}])) * 100',
        'histogram_quantile(0.99, sum(rate(osm_request_duration_ms_bucket{destination_namespace="{{ namespace }}", destination_kind="Deployment", destination_name="{{ target }}"}[{{ interval }}])) by (le))',
    ),
    # kuma.go
    "kuma": (
        'sum(rate(envoy_cluster_upstream_rq{service=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+", envoy_response_code!~"5.*"}[{{ interval }}])) / sum(rate(envoy_cluster_upstream_rq{service=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+",}[{{ interval }}])) * 100',
        'histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{service=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+",}[{{ interval }}])) by (le))',
    ),
    # apisix.go
    "apisix": (
        'sum(rate(apisix_http_status{route=~"{{ namespace }}_{{ route }}-{{ target }}-canary_.+", code!~"5.."}[{{ interval }}])) / sum(rate(apisix_http_status{route=~"{{ namespace }}_{{ route }}-{{ target }}-canary_.+"}[{{ interval }}])) * 100',
        'histogram_quantile(0.99, sum(rate(apisix_http_latency_bucket{type=~"request", route=~"{{ namespace }}_{{ route }}-{{ target }}-canary_.+"}[{{ interval }}])) by (le))',
    ),
    # skipper.go
    "skipper": (
        'sum(rate(skipper_response_duration_seconds_bucket{route=~"{{ $route }}", code!~"5..", le="+Inf"}[{{ interval }}])) / sum(rate(skipper_response_duration_seconds_bucket{route=~"{{ $route }}", le="+Inf"}[{{ interval }}])) * 100',
        'sum(rate(skipper_serve_route_duration_seconds_sum{route=~"{{ $route }}"}[{{ interval }}])) / sum(rate(skipper_serve_route_duration_seconds_count{route=~"{{ $route }}"}[{{ interval }}])) * 1000',
    ),
}

# Providers Flagger knows (provider.go, -mesh-provider) that its factory sends to the Istio
# observer, its default: the SMI versions and Crossover have no observer of their own.
ISTIO_FALLBACK = ("smi", "crossover")
# Flagger's other provider names, with why rollout shows no query for them.
NOT_CHARTED = {
    "knative": "Flagger fills its query with the Knative Service's latest revision, which "
    "rollout does not read",
}
# Flagger's skipper observer builds the route name from the model with non-word characters
# replaced (skipper.go routePattern, encodeModelForSkipper).
SKIPPER_ROUTE = "kube(ew)?_{namespace}__{ingress}_canary__.*__{service}_canary(_[0-9]+)?"
PLACEHOLDER = re.compile(r"\{\{ (\$?[a-z]+) \}\}")


@dataclass(frozen=True)
class Model:
    """Flagger's ``MetricTemplateModel`` for one Canary and metric (toMetricModel)."""

    namespace: str
    target: str  # spec.targetRef.name
    service: str  # spec.service.name, else the target
    ingress: str  # spec.ingressRef.name, else the target
    route: str  # spec.routeRef.name, else the target
    interval: str  # the metric's interval, else 1m


def metrics_provider(
    canary_provider: str, mesh_provider: str, target_kind: str = "", target_api: str = ""
) -> str:
    """The provider Flagger picks its built-in queries by (runBuiltinMetricChecks): the
    Canary's ``spec.provider``, else the mesh provider (Linkerd's wins when it is the mesh),
    with ``:service`` appended for a Service target that is not a Knative Service."""
    mesh = mesh_provider or DEFAULT_PROVIDER
    provider = "crossover" if "crossover" in mesh else mesh
    if canary_provider:
        provider = "linkerd" if "linkerd" in mesh else canary_provider
    if target_kind == "Service" and not target_api.startswith("serving.knative.dev/"):
        provider += ":service"
    return provider


def observer(provider: str) -> str | None:
    """The key of ``QUERIES`` Flagger's observer factory picks for ``provider``
    (factory.go: exact names, prefixes for appmesh, gloo and gatewayapi, Istio for the
    rest of its names); None for knative and for a name Flagger does not know."""
    for prefix in ("appmesh", "gloo"):
        if provider.startswith(prefix):
            return prefix
    if provider == "kubernetes" or provider.startswith("gatewayapi"):
        return "kubernetes"
    if provider in QUERIES:
        return provider
    if provider in NOT_CHARTED:
        return None
    base = provider.removesuffix(":service")
    known = base in QUERIES or base in NOT_CHARTED or base.startswith(ISTIO_FALLBACK)
    return "istio" if known else None


def why_not(provider: str) -> str:
    """Why a provider's built-in metrics have no query here (for the detail row)."""
    reason = NOT_CHARTED.get(provider)
    if reason:
        return f"provider '{provider}': {reason}"
    return f"provider '{provider}' has no built-in query known to rollout"


def fill(template: str, model: Model) -> str:
    """A template with the model's values in place of ``{{ namespace }}`` and the rest."""
    values = {
        "namespace": model.namespace,
        "target": model.target,
        "service": model.service,
        "ingress": model.ingress,
        "route": model.route,
        "interval": model.interval,
    }
    if "{{ $route }}" in template:
        word = {k: re.sub(r"\W", "_", v, flags=re.ASCII) for k, v in values.items()}
        values["$route"] = SKIPPER_ROUTE.format(**word)
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def query(metric: str, provider: str, model: Model) -> str:
    """The query Flagger runs for built-in ``metric`` under ``provider`` (already resolved by
    ``metrics_provider``), filled in; "" when rollout knows none."""
    key = observer(provider)
    if key is None or metric not in NAMES:
        return ""
    return fill(QUERIES[key][NAMES.index(metric)], model)


def describe(metric: str, provider: str) -> str:
    """What the built-in measures under ``provider``: Flagger's nginx and skipper observers
    take the mean duration, the others the 99th percentile."""
    if metric == SUCCESS_RATE:
        return "percentage of non-5xx responses"
    if observer(provider) in ("nginx", "skipper"):
        return "mean request duration in milliseconds"
    return "P99 request duration in milliseconds"
