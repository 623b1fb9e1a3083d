"""Prometheus metrics backend: per-version traffic metrics through PromQL.

``from_config(cfg)`` turns an environment's ``metrics: {kind: prometheus, ...}`` entry into a
``PrometheusMetrics`` (a ``MetricsBackend``). Providers (``http``, ``istio``, ``linkerd``,
``envoy``, ``nginx-ingress``, ``haproxy``) map the built-in metrics to each mesh's or gateway's
metric names; see docs/prometheus.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.prometheus.client import QueryRejected
from backends.prometheus.config import PrometheusConfig, PrometheusConfigError, parse_config
from backends.prometheus.metrics import PrometheusMetrics
from backends.prometheus.providers import PROVIDERS, Provider, Queries

__all__ = [
    "PROVIDERS",
    "PrometheusConfig",
    "PrometheusConfigError",
    "PrometheusMetrics",
    "Provider",
    "Queries",
    "QueryRejected",
    "from_config",
]


def from_config(cfg: Mapping[str, Any], where: str = "metrics") -> PrometheusMetrics:
    """A MetricsBackend for the config entry. Raises PrometheusConfigError (a ValueError) naming
    the bad field; connects lazily, so an unreachable Prometheus fails on the first query."""
    return PrometheusMetrics(parse_config(cfg, where))
