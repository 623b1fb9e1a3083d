"""Providers: how each mesh or gateway names its request metrics, turned into PromQL.

A provider says which counter counts requests, which histogram holds latencies (and in which
unit), which labels carry the service, the version, the namespace and the status code, and how
to read the version out of a label that holds more than the version (an Envoy cluster name, a
per-version Kubernetes Service). From that, ``Queries`` builds one PromQL expression per
built-in metric; each returns every version of the service at once (``sum by (version)``),
whatever the number of versions. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from backends.base import Unsupported
from backends.prometheus.promql import quote, regex_escape, render
from backends.units import format_one_unit

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")

# The label every query's result carries the version in.
VERSION = "version"
QUANTILES = {"latency-p50": 0.5, "latency-p95": 0.95, "latency-p99": 0.99}


@dataclass(frozen=True)
class Provider:
    """Where one mesh or gateway keeps per-version request counts and latencies."""

    name: str
    requests: str  # counter of requests, with a status-code label
    buckets: str | None  # histogram ``_bucket`` series; None: no latency histogram
    latency_unit: float  # seconds per histogram unit (0.001 for milliseconds)
    version_label: str  # label that holds the version, or a string containing it
    version_pattern: str | None  # RE2 capturing the version from version_label; placeholders
    service_label: str | None  # label equal to the service name; None: in version_pattern
    namespace_label: str | None  # label equal to the namespace, when one is configured
    code_label: str
    error_regex: str  # status codes counted as errors (RE2, full match)
    fixed: tuple[tuple[str, str], ...] = ()  # extra exact matchers, e.g. reporter="destination"
    no_latency: str = ""  # why latency is unavailable (when buckets is None)
    description: str = ""


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            name="http",
            requests="http_request_duration_seconds_count",
            buckets="http_request_duration_seconds_bucket",
            latency_unit=1.0,
            version_label="version",
            version_pattern=None,
            service_label="service",
            namespace_label=None,
            code_label="code",
            error_regex="5..",
            description="application histogram http_request_duration_seconds{service,version,code}",
        ),
        Provider(
            name="istio",
            requests="istio_requests_total",
            buckets="istio_request_duration_milliseconds_bucket",
            latency_unit=0.001,
            version_label="destination_version",
            version_pattern=None,
            service_label="destination_service_name",
            namespace_label="destination_service_namespace",
            code_label="response_code",
            error_regex="5..",
            fixed=(("reporter", "destination"),),
            description="Istio standard metrics, reported by the destination proxy",
        ),
        Provider(
            name="linkerd",
            requests="response_total",
            buckets="response_latency_ms_bucket",
            latency_unit=0.001,
            version_label="deployment",
            version_pattern="{{service}}-(.+)",
            service_label=None,
            namespace_label="namespace",
            code_label="status_code",
            error_regex="5..",
            fixed=(("direction", "inbound"),),
            description="Linkerd proxy metrics, one Deployment <service>-<version> per version",
        ),
        Provider(
            name="envoy",
            requests="envoy_cluster_upstream_rq",
            buckets="envoy_cluster_upstream_rq_time_bucket",
            latency_unit=0.001,
            version_label="envoy_cluster_name",
            # Contour names clusters <namespace>/<service>/<port>/<hash>; Envoy's stats turn
            # that into <namespace>_<service>_<port>[_<hash>]. One Service per version.
            version_pattern="{{namespace}}_{{service}}-(.+?)_[0-9]+(?:_.*)?",
            service_label=None,
            namespace_label=None,
            code_label="envoy_response_code",
            error_regex="5..",
            description="Envoy upstream cluster stats (Contour, Envoy Gateway), "
            "one Service <service>-<version> per version",
        ),
        Provider(
            name="nginx-ingress",
            requests="nginx_ingress_controller_requests",
            buckets="nginx_ingress_controller_request_duration_seconds_bucket",
            latency_unit=1.0,
            version_label="service",
            version_pattern="{{service}}-(.+)",
            service_label=None,
            namespace_label="namespace",
            code_label="status",
            error_regex="5..",
            description="ingress-nginx with a canary Ingress, one Service <service>-<version> "
            "per version",
        ),
        Provider(
            name="haproxy",
            requests="haproxy_server_http_responses_total",
            buckets=None,
            latency_unit=1.0,
            version_label="server",
            # Servers are named after their version, optionally numbered: v2, v2-1, v2_3.
            version_pattern="(.+?)(?:[-_][0-9]+)?",
            service_label="proxy",
            namespace_label=None,
            code_label="code",
            error_regex="5xx",
            no_latency="HAProxy's built-in exporter has no latency histogram (only averages); "
            "use the error-rate and request-rate metrics, or a custom query",
            description="HAProxy built-in Prometheus exporter, backend = service, server = version",
        ),
    )
}


def provider_with(base: Provider, overrides: Mapping[str, Any]) -> Provider:
    """``base`` with the config file's label names, version pattern and metric names.

    ``overrides`` keys: labels (service/version/namespace/code), versionPattern, errorCodes,
    requestsMetric, bucketsMetric, latencyUnit. Raises ValueError naming a bad field.
    """
    changes: dict[str, Any] = {}
    labels = overrides.get("labels") or {}
    names = {"service": "service_label", "version": "version_label"}
    names |= {"namespace": "namespace_label", "code": "code_label"}
    for key, value in labels.items():
        if key not in names:
            raise ValueError(f"labels.{key}: unknown; expected one of {', '.join(names)}")
        if not isinstance(value, str) or not LABEL_NAME.match(value):
            raise ValueError(f"labels.{key}: {value!r} is not a Prometheus label name")
        changes[names[key]] = value
    if "versionPattern" in overrides:
        pattern = overrides["versionPattern"]
        if pattern is not None and (not isinstance(pattern, str) or "(" not in pattern):
            raise ValueError("versionPattern: must be a regex with one group capturing the version")
        changes["version_pattern"] = pattern
    elif "version" in labels and "version_label" in changes:
        # A new version label holds the bare version unless a pattern says otherwise.
        changes["version_pattern"] = None
    if "errorCodes" in overrides:
        if not isinstance(overrides["errorCodes"], str) or not overrides["errorCodes"]:
            raise ValueError("errorCodes: must be a regex of status codes, e.g. '5..'")
        changes["error_regex"] = overrides["errorCodes"]
    for key, attr in (("requestsMetric", "requests"), ("bucketsMetric", "buckets")):
        if key in overrides:
            value = overrides[key]
            if not isinstance(value, str) or not METRIC_NAME.match(value):
                raise ValueError(f"{key}: {value!r} is not a Prometheus metric name")
            changes[attr] = value
    if "latencyUnit" in overrides:
        unit = overrides["latencyUnit"]
        units = {"s": 1.0, "seconds": 1.0, "ms": 0.001, "milliseconds": 0.001}
        if unit not in units:
            raise ValueError("latencyUnit: must be 's' or 'ms'")
        changes["latency_unit"] = units[unit]
    return replace(base, **changes)


@dataclass(frozen=True)
class Queries:
    """PromQL for one provider, service and namespace."""

    provider: Provider
    service: str
    namespace: str | None = None

    def _selector(self, *extra: str) -> str:
        p = self.provider
        matchers = [f"{k}={quote(v)}" for k, v in p.fixed]
        if p.service_label:
            matchers.append(f"{p.service_label}={quote(self.service)}")
        if p.namespace_label and self.namespace:
            matchers.append(f"{p.namespace_label}={quote(self.namespace)}")
        pattern = self._pattern()
        if pattern is not None:
            matchers.append(f"{p.version_label}=~{quote(pattern)}")
        matchers.extend(extra)
        return "{" + ", ".join(matchers) + "}"

    def _pattern(self) -> str | None:
        """The version pattern with the service and namespace filled in as literal regex."""
        p = self.provider
        if p.version_pattern is None:
            return None
        values = {
            "service": regex_escape(self.service),
            # No namespace configured: any namespace (lazy, so the rest still anchors).
            "namespace": regex_escape(self.namespace) if self.namespace else ".+?",
        }
        try:
            return render(p.version_pattern, values, raw=frozenset(values))
        except KeyError as exc:
            raise ValueError(
                f"versionPattern: unknown placeholder {{{{{exc.args[0]}}}}}; "
                "use {{service}} and {{namespace}}"
            ) from None

    def _by_version(self, expr: str) -> str:
        """``expr`` with the version copied into the ``version`` label when it lives elsewhere."""
        p = self.provider
        pattern = self._pattern()
        if p.version_label == VERSION and pattern is None:
            return expr
        regex = pattern if pattern is not None else "(.*)"
        return f'label_replace({expr}, "{VERSION}", "$1", {quote(p.version_label)}, {quote(regex)})'

    def _rate(self, metric: str, window: float, *extra: str) -> str:
        inner = f"rate({metric}{self._selector(*extra)}[{format_one_unit(window)}])"
        return self._by_version(inner)

    def _increase(self, metric: str, window: float, *extra: str) -> str:
        inner = f"increase({metric}{self._selector(*extra)}[{format_one_unit(window)}])"
        return self._by_version(inner)

    def failures(self, window: float) -> str:
        """5xx answers per version counted over the window (the sequential test's counts)."""
        p = self.provider
        errors = self._increase(p.requests, window, f"{p.code_label}=~{quote(p.error_regex)}")
        total = f"sum by ({VERSION}) ({self._increase(p.requests, window)})"
        return f"sum by ({VERSION}) ({errors}) or 0 * {total}"

    def bucket_counts(self, window: float) -> str:
        """Requests per version and latency bucket ``le`` (cumulative, the provider's unit)
        counted over the window. Raises Unsupported without a histogram."""
        p = self.provider
        if p.buckets is None:
            raise Unsupported(f"slow-requests is not available from provider '{p.name}'")
        return f"sum by ({VERSION}, le) ({self._increase(p.buckets, window)})"

    def request_rate(self, window: float) -> str:
        """Requests per second per version over the window."""
        return f"sum by ({VERSION}) ({self._rate(self.provider.requests, window)})"

    def error_ratio(self, window: float) -> str:
        """5xx / all per version: 0 for traffic without errors, NaN (no value) without traffic."""
        p = self.provider
        errors = self._rate(p.requests, window, f"{p.code_label}=~{quote(p.error_regex)}")
        total = f"sum by ({VERSION}) ({self._rate(p.requests, window)})"
        # `or 0 * total` gives versions that have traffic but no error series a 0 numerator.
        return f"(sum by ({VERSION}) ({errors}) or 0 * {total}) / {total}"

    def latency(self, metric: str, window: float) -> str:
        """A latency quantile per version in seconds. Raises Unsupported without a histogram."""
        p = self.provider
        if metric not in QUANTILES:
            raise ValueError(f"not a latency metric: {metric}")
        if p.buckets is None:
            raise Unsupported(f"{metric} is not available from provider '{p.name}': {p.no_latency}")
        rate = self._rate(p.buckets, window)
        expr = f"histogram_quantile({QUANTILES[metric]}, sum by ({VERSION}, le) ({rate}))"
        return expr if p.latency_unit == 1.0 else f"{expr} * {p.latency_unit:g}"

    def builtin(self, metric: str, window: float) -> str:
        """The query for a built-in metric name (request-rate, error-rate, latency-pNN)."""
        if metric == "request-rate":
            return self.request_rate(window)
        if metric == "error-rate":
            return self.error_ratio(window)
        if metric in QUANTILES:
            return self.latency(metric, window)
        raise ValueError(f"unknown built-in metric '{metric}'")

    def custom(self, template: str, window: float, version: str | None) -> str:
        """A plan's custom query with ``{{service}}``, ``{{version}}``, ``{{namespace}}`` and
        ``{{window}}`` filled in (values escaped for string literals)."""
        values = {"service": self.service, "namespace": self.namespace or ""}
        values["window"] = format_one_unit(window)
        if version is not None:
            values["version"] = version
        try:
            return render(template, values, raw=frozenset({"window"}))
        except KeyError as exc:
            raise ValueError(
                f"custom query: unknown placeholder {{{{{exc.args[0]}}}}}; "
                "use {{service}}, {{version}}, {{namespace}} and {{window}}"
            ) from None
