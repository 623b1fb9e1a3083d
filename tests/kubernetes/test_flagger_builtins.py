"""Flagger's built-in metrics get the query Flagger itself runs for the Canary's provider:
the strings are Flagger's (pkg/metrics/observers/*.go, v1.x), whitespace folded onto one
line, filled with its template model (namespace, target, service, ingress, route, interval);
the provider is chosen as its scheduler and observer factory choose it."""

from __future__ import annotations

from typing import Any

import pytest

from backends.kubernetes import flagger_builtins as builtins
from backends.kubernetes import flagger_parse as parse
from console.config.environments import open_foreign
from console.config.settings import ConfigError
from console.view.foreign_detail import analysis_panel, queries

# Flagger's templates filled for: namespace lms, target search, service search-svc, ingress
# search-web, route search-route, interval 30s (skipper: its route pattern, non-word -> _).
EXPECTED = {
    "istio": (
        'sum(rate(istio_requests_total{reporter="destination", destination_workload_namespace="lms", destination_workload=~"search", response_code!~"5.*"}[30s])) / sum(rate(istio_requests_total{reporter="destination", destination_workload_namespace="lms", destination_workload=~"search"}[30s])) * 100',
        'histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination", destination_workload_namespace="lms", destination_workload=~"search"}[30s])) by (le))',
    ),
    "linkerd": (
        'sum(rate(response_total{namespace="lms", deployment=~"search", classification!="failure", direction="inbound"}[30s])) / sum(rate(response_total{namespace="lms", deployment=~"search", direction="inbound"}[30s])) * 100',
        'histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="lms", deployment=~"search", direction="inbound"}[30s])) by (le))',
    ),
    "nginx": (
        'sum(rate(nginx_ingress_controller_requests{namespace="lms", ingress="search-web", canary!="", status!~"5.*"}[30s])) / sum(rate(nginx_ingress_controller_requests{namespace="lms", ingress="search-web", canary!=""}[30s])) * 100',
        'sum(rate(nginx_ingress_controller_response_duration_seconds_sum{namespace="lms", ingress="search-web", canary!=""}[30s])) / sum(rate(nginx_ingress_controller_response_duration_seconds_count{namespace="lms", ingress="search-web", canary!=""}[30s])) * 1000',
    ),
    "contour": (
        'sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name=~"lms_search-svc-canary_[0-9a-zA-Z-]+", envoy_response_code!~"5.*"}[30s])) / sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name=~"lms_search-svc-canary_[0-9a-zA-Z-]+",}[30s])) * 100',
        'histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=~"lms_search-svc-canary_[0-9a-zA-Z-]+",}[30s])) by (le))',
    ),
    "gloo": (
        'sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name=~"lms-search-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+", envoy_response_code!~"5.*"}[30s])) / sum(rate(envoy_cluster_upstream_rq{envoy_cluster_name=~"lms-search-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+",}[30s])) * 100',
        'histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=~"lms-search-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+",}[30s])) by (le))',
    ),
    "appmesh": (
        'sum(rate(envoy_cluster_upstream_rq{kubernetes_namespace="lms", kubernetes_pod_name=~"search-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)", envoy_response_code!~"5.*"}[30s])) / sum(rate(envoy_cluster_upstream_rq{kubernetes_namespace="lms", kubernetes_pod_name=~"search-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[30s])) * 100',
        'histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{kubernetes_namespace="lms", kubernetes_pod_name=~"search-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[30s])) by (le))',
    ),
    "traefik": (
        'sum(rate(traefik_service_request_duration_seconds_bucket{service=~"lms-search-canary-[0-9a-zA-Z-]+@kubernetescrd", code!~"5..", le="+Inf"}[30s])) / sum(rate(traefik_service_request_duration_seconds_bucket{service=~"lms-search-canary-[0-9a-zA-Z-]+@kubernetescrd", le="+Inf"}[30s])) * 100',
        'histogram_quantile(0.99, sum(rate(traefik_service_request_duration_seconds_bucket{service=~"lms-search-canary-[0-9a-zA-Z-]+@kubernetescrd"}[30s])) by (le)) * 1000',
    ),
    "kubernetes": (
        'sum(rate(http_request_duration_seconds_count{kubernetes_namespace="lms", kubernetes_pod_name=~"search-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)", status!~"5.*"}[30s])) / sum(rate(http_request_duration_seconds_count{kubernetes_namespace="lms", kubernetes_pod_name=~"search-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[30s])) * 100',
        'histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{kubernetes_namespace="lms", kubernetes_pod_name=~"search-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[30s])) by (le))',
    ),
    "osm": (
        'sum(rate(osm_request_total{destination_namespace="lms", destination_kind="Deployment", destination_name="search", response_code!~"5.*"}[30s])) / sum(rate(osm_request_total{destination_namespace="lms", destination_kind="Deployment", destination_name="search"}[30s])) * 100',
        'histogram_quantile(0.99, sum(rate(osm_request_duration_ms_bucket{destination_namespace="lms", destination_kind="Deployment", destination_name="search"}[30s])) by (le))',
    ),
    "kuma": (
        'sum(rate(envoy_cluster_upstream_rq{service=~"search-canary_lms_svc_[0-9a-zA-Z-]+", envoy_response_code!~"5.*"}[30s])) / sum(rate(envoy_cluster_upstream_rq{service=~"search-canary_lms_svc_[0-9a-zA-Z-]+",}[30s])) * 100',
        'histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{service=~"search-canary_lms_svc_[0-9a-zA-Z-]+",}[30s])) by (le))',
    ),
    "apisix": (
        'sum(rate(apisix_http_status{route=~"lms_search-route-search-canary_.+", code!~"5.."}[30s])) / sum(rate(apisix_http_status{route=~"lms_search-route-search-canary_.+"}[30s])) * 100',
        'histogram_quantile(0.99, sum(rate(apisix_http_latency_bucket{type=~"request", route=~"lms_search-route-search-canary_.+"}[30s])) by (le))',
    ),
    "skipper": (
        'sum(rate(skipper_response_duration_seconds_bucket{route=~"kube(ew)?_lms__search_web_canary__.*__search_svc_canary(_[0-9]+)?", code!~"5..", le="+Inf"}[30s])) / sum(rate(skipper_response_duration_seconds_bucket{route=~"kube(ew)?_lms__search_web_canary__.*__search_svc_canary(_[0-9]+)?", le="+Inf"}[30s])) * 100',
        'sum(rate(skipper_serve_route_duration_seconds_sum{route=~"kube(ew)?_lms__search_web_canary__.*__search_svc_canary(_[0-9]+)?"}[30s])) / sum(rate(skipper_serve_route_duration_seconds_count{route=~"kube(ew)?_lms__search_web_canary__.*__search_svc_canary(_[0-9]+)?"}[30s])) * 1000',
    ),
}


def canary_obj(provider: str | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "search"},
        "service": {"name": "search-svc", "port": 80},
        "ingressRef": {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "name": "search-web",
        },
        "routeRef": {
            "apiVersion": "apisix.apache.org/v2",
            "kind": "ApisixRoute",
            "name": "search-route",
        },
        "analysis": {
            "interval": "1m",
            "threshold": 5,
            "metrics": [
                {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "30s"},
                {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "30s"},
            ],
        },
    }
    if provider is not None:
        body["provider"] = provider
    body.update(spec)
    return {"metadata": {"name": "search", "namespace": "lms"}, "spec": body}


def builtin_queries(obj: dict[str, Any], mesh: str = "istio") -> dict[str, tuple[str, str]]:
    """(address, query) per metric, through the console's own path (to_foreign -> queries)."""
    fr = parse.to_foreign(parse.canary(obj), mesh_provider=mesh)
    return {metric: (address, query) for metric, address, query in queries(fr)}


def messages(obj: dict[str, Any], mesh: str = "istio") -> dict[str, str]:
    fr = parse.to_foreign(parse.canary(obj), mesh_provider=mesh)
    return {m.name: m.message for m in fr.analyses[0].metrics}


@pytest.mark.parametrize("provider", sorted(EXPECTED))
def test_each_provider_gets_flaggers_query(provider):
    got = builtin_queries(canary_obj(provider))
    success, duration = EXPECTED[provider]
    assert got == {"request-success-rate": ("", success), "request-duration": ("", duration)}


@pytest.mark.parametrize(
    ("provider", "like"),
    [
        ("appmesh:v1beta2", "appmesh"),  # factory.go: prefix
        ("gloo", "gloo"),
        ("gatewayapi:v1", "kubernetes"),  # the http observer
        ("gatewayapi:v1beta1", "kubernetes"),
        ("smi:v1alpha3", "istio"),  # a name Flagger knows without an observer: its default
    ],
)
def test_provider_names_map_as_flaggers_factory(provider, like):
    assert builtin_queries(canary_obj(provider))["request-success-rate"][1] == EXPECTED[like][0]


def test_without_spec_provider_the_mesh_provider_decides():
    assert (
        builtin_queries(canary_obj(), mesh="linkerd")["request-duration"][1]
        == (EXPECTED["linkerd"][1])
    )
    # Flagger: a Linkerd mesh makes Linkerd's queries win over the Canary's provider
    assert (
        builtin_queries(canary_obj("nginx"), mesh="linkerd")["request-success-rate"][1]
        == (EXPECTED["linkerd"][0])
    )
    assert builtins.metrics_provider("", "") == "istio"  # Flagger's -mesh-provider default


def test_a_service_target_gets_flaggers_service_suffix():
    # runBuiltinMetricChecks appends ":service"; the factory then matches no exact name and
    # falls back to Istio, except for the prefix matches (appmesh, gloo, gatewayapi)
    target = {"targetRef": {"apiVersion": "v1", "kind": "Service", "name": "search"}}
    assert builtins.metrics_provider("kubernetes", "istio", "Service", "v1") == "kubernetes:service"
    got = builtin_queries(canary_obj("kubernetes", **target))
    assert got["request-success-rate"][1] == EXPECTED["istio"][0]
    got = builtin_queries(canary_obj("gloo", **target))
    assert got["request-success-rate"][1] == EXPECTED["gloo"][0]
    knative = {
        "targetRef": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "s"}
    }
    assert builtins.metrics_provider(
        "knative", "", "Service", knative["targetRef"]["apiVersion"]
    ) == ("knative")


def test_defaults_interval_1m_service_ingress_route_from_the_target():
    obj = canary_obj("contour")
    del obj["spec"]["service"]["name"]
    for m in obj["spec"]["analysis"]["metrics"]:
        del m["interval"]  # Flagger's MetricInterval, not the analysis interval
    obj["spec"]["analysis"]["interval"] = "2m"
    fr = parse.to_foreign(parse.canary(obj))
    rate = fr.analyses[0].metrics[0]
    assert rate.interval == "1m"
    assert 'envoy_cluster_name=~"lms_search-canary_[0-9a-zA-Z-]+"' in rate.query
    assert "[1m]" in rate.query and "[2m]" not in rate.query
    obj = canary_obj("nginx")
    del obj["spec"]["ingressRef"]
    assert 'ingress="search"' in builtin_queries(obj)["request-duration"][1]


def test_metrics_server_is_where_the_chart_asks():
    got = builtin_queries(canary_obj("istio", metricsServer="http://prom.mesh:9090"))
    assert got["request-success-rate"] == ("http://prom.mesh:9090", EXPECTED["istio"][0])


def detail_rows(obj: dict[str, Any], mesh: str = "istio") -> dict[str, str]:
    """The detail screen's analysis rows: metric -> its threshold column."""
    panel = analysis_panel(parse.to_foreign(parse.canary(obj), mesh_provider=mesh))
    assert panel is not None
    return {r.metric: r.threshold for r in panel.rows}


@pytest.mark.parametrize("provider", ["consul", "istio-typo", ""])
def test_an_unknown_provider_has_no_query_and_says_so(provider):
    obj = canary_obj(provider or None)
    name = provider or "my-mesh"  # no spec.provider: the environment's setting
    assert builtin_queries(obj, mesh=name) == {}
    rows = detail_rows(obj, mesh=name)
    why = f"provider '{name}' has no built-in query known to rollout"
    assert rows["request-success-rate"] == (
        f"ok: result >= 99 · failed 0/5 inconclusive 0/- errors 0/- · {why}"
    )
    assert rows["request-duration"].endswith(f" · {why}")
    said = messages(obj, mesh=name)
    assert said["request-success-rate"] == "percentage of non-5xx responses"


def test_knative_is_not_charted_and_says_why():
    assert builtin_queries(canary_obj("knative")) == {}
    row = detail_rows(canary_obj("knative"))["request-success-rate"]
    assert row.endswith(
        " · provider 'knative': Flagger fills its query with the Knative Service's latest "
        "revision, which rollout does not read"
    )


def test_a_charted_builtin_row_is_as_before():
    rows = detail_rows(canary_obj("istio"))
    assert (
        rows["request-success-rate"] == "ok: result >= 99 · failed 0/5 inconclusive 0/- errors 0/-"
    )


def test_known_provider_message_names_it_and_what_is_measured():
    said = messages(canary_obj("linkerd"))
    assert said == {
        "request-success-rate": "percentage of non-5xx responses (linkerd)",
        "request-duration": "P99 request duration in milliseconds (linkerd)",
    }
    assert messages(canary_obj("nginx"))["request-duration"] == (
        "mean request duration in milliseconds (nginx)"  # nginx.go: sum/count, not a quantile
    )


def test_a_template_or_inline_query_still_wins():
    obj = canary_obj("istio")
    obj["spec"]["analysis"]["metrics"] = [
        {"name": "request-success-rate", "query": 'up{job="{{ target }}"}', "interval": "30s"}
    ]
    assert builtin_queries(obj)["request-success-rate"] == ("", 'up{job="search"}')


@pytest.mark.parametrize("bad", [5, "", "  ", ["istio"]])
def test_flagger_provider_setting_must_be_a_name(bad):
    cluster = {"kind": "kubernetes", "controller": "flagger", "flaggerProvider": bad}
    with pytest.raises(ConfigError, match=r"environment 'prod': cluster.flaggerProvider must be"):
        open_foreign("prod", cluster)
