"""Clients of a running demo's control API: ``LocalTraffic``, ``LocalMetrics``, ``DemoControl``.

They implement ``TrafficBackend`` and ``MetricsBackend`` from ``backends.base`` over HTTP on
127.0.0.1 with the demo's bearer token, and map answers to the contract's errors: a refused
connection is ``BackendUnavailable``, 404 ``NotFound``, 401 ``Forbidden``, any other 4xx/5xx
``BackendError`` with the demo's own message.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from backends.base import (
    BackendError,
    BackendUnavailable,
    Forbidden,
    MatchRule,
    MetricSample,
    NotFound,
    TrafficSplit,
    Unsupported,
    VersionHealth,
)

TIMEOUT = 10.0
SCALE_TIMEOUT = 90.0  # scaling waits for drains and starts


class ControlClient:
    """Thread-safe JSON calls to the control API."""

    def __init__(self, control_url: str, token: str) -> None:
        self.url = control_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
            trust_env=False,  # loopback only: never through a proxy from the environment
        )
        self._lock = threading.Lock()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float = TIMEOUT,
    ) -> Any:
        try:
            with self._lock:
                resp = self._client.request(method, path, json=body, params=params, timeout=timeout)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"demo control API at {self.url} unreachable: {exc}") from None
        try:
            data = resp.json()
        except ValueError:
            data = {"error": resp.text[:200]}
        if resp.status_code < 400:
            return data
        message = data.get("error", resp.text[:200]) if isinstance(data, dict) else str(data)
        if resp.status_code == 404:
            raise NotFound(message)
        if resp.status_code in (401, 403):
            raise Forbidden(f"demo control API: {message}")
        raise BackendError(f"demo: {message}")

    def close(self) -> None:
        self._client.close()


def _svc(service: str) -> str:
    if not service or "/" in service:
        raise NotFound(f"unknown service '{service}'")
    return service


class LocalTraffic:
    """TrafficBackend for the embedded demo."""

    name = "demo"

    def __init__(self, client: ControlClient) -> None:
        self.client = client

    def services(self) -> list[str]:
        return sorted(self.client.call("GET", "/v1/services"))

    def versions(self, service: str) -> list[str]:
        data = self.client.call("GET", "/v1/services")
        if service not in data:
            raise NotFound(f"unknown service '{service}'; known: {', '.join(sorted(data))}")
        return list(data[service])

    def get_split(self, service: str) -> TrafficSplit:
        return TrafficSplit.from_dict(
            self.client.call("GET", f"/v1/services/{_svc(service)}/split")
        )

    def set_split(self, service: str, weights: Mapping[str, int]) -> None:
        self.client.call("PUT", f"/v1/services/{_svc(service)}/split", {"weights": dict(weights)})

    def set_user_routing(self, service: str, by_user: bool) -> None:
        """UserRouting: split ``service`` by user (sticky per user) or per request."""
        self.client.call(
            "PUT", f"/v1/services/{_svc(service)}/user-routing", {"enabled": bool(by_user)}
        )

    def set_match(self, service: str, rules: Sequence[MatchRule], version: str | None) -> None:
        body = {"rules": [r.to_dict() for r in rules], "version": version}
        self.client.call("PUT", f"/v1/services/{_svc(service)}/match", body)

    def set_mirror(self, service: str, version: str | None, percent: int) -> None:
        body = {"version": version, "percent": int(percent)}
        self.client.call("PUT", f"/v1/services/{_svc(service)}/mirror", body)

    def health(self, service: str) -> dict[str, VersionHealth]:
        data = self.client.call("GET", f"/v1/services/{_svc(service)}/health")
        return {
            v: VersionHealth(
                version=v,
                ready=int(h["ready"]),
                total=int(h["total"]),
                restarts=int(h.get("restarts", 0)),
                reasons=tuple(h.get("reasons", ())),
                desired=h.get("desired"),
            )
            for v, h in data.items()
        }

    def deploy(self, service: str, version: str, instances: int) -> None:
        path = f"/v1/services/{_svc(service)}/versions/{version}/deploy"
        self.client.call("POST", path, {"instances": int(instances)}, timeout=SCALE_TIMEOUT)

    def scale(self, service: str, version: str, instances: int) -> None:
        path = f"/v1/services/{_svc(service)}/versions/{version}/scale"
        self.client.call("POST", path, {"instances": int(instances)}, timeout=SCALE_TIMEOUT)

    def retire(self, service: str, version: str) -> None:
        path = f"/v1/services/{_svc(service)}/versions/{version}/retire"
        self.client.call("POST", path, {}, timeout=SCALE_TIMEOUT)


def _sample(d: Mapping[str, Any]) -> MetricSample:
    return MetricSample(
        version=str(d["version"]),
        at=float(d["at"]),
        window=float(d["window"]),
        requests=d.get("requests"),
        request_rate=d.get("request_rate"),
        error_ratio=d.get("error_ratio"),
        p50=d.get("p50"),
        p95=d.get("p95"),
        p99=d.get("p99"),
        failures=d.get("failures"),
        latency_buckets=_buckets(d.get("latency_buckets")),
    )


def _buckets(raw: Any) -> tuple[tuple[float, float], ...] | None:
    """``[[le, count], ...]`` with ``le`` ``"+Inf"`` for the last bucket; None if absent or
    not in that shape (a gateway from before the field existed)."""
    if not isinstance(raw, list):
        return None
    try:
        return tuple((float(le), float(n)) for le, n in raw)  # float("+Inf") is math.inf
    except (TypeError, ValueError):
        return None


class LocalMetrics:
    """MetricsBackend over the gateway's in-process metrics (windows of 1 s..15 min)."""

    def __init__(self, client: ControlClient) -> None:
        self.client = client

    def sample(
        self, service: str, versions: Sequence[str], window: float
    ) -> dict[str, MetricSample]:
        params = {"versions": ",".join(versions), "window": window}
        data = self.client.call("GET", f"/v1/services/{_svc(service)}/metrics", params=params)
        return {v: _sample(s) for v, s in data.items()}

    def history(
        self, service: str, versions: Sequence[str], since: float, step: float
    ) -> dict[str, list[MetricSample]]:
        params = {"versions": ",".join(versions), "since": since, "step": step}
        data = self.client.call("GET", f"/v1/services/{_svc(service)}/history", params=params)
        return {v: [_sample(s) for s in series] for v, series in data.items()}

    def query(
        self, service: str, versions: Sequence[str], template: str, window: float
    ) -> dict[str, float | None]:
        raise Unsupported(
            "custom queries need Prometheus; start the demo with `rollout demo --metrics prometheus`"
        )

    def flag_sample(
        self, flag: str, variants: Sequence[str], window: float
    ) -> dict[str, MetricSample]:
        """Per variant of ``flag`` (FlagMetrics): the gateway's x-lms-flags accounting."""
        params = {"variants": ",".join(variants), "window": window}
        path = f"/v1/flags/{urllib.parse.quote(flag, safe='')}/metrics"
        data = self.client.call("GET", path, params=params)
        return {v: _sample(s) for v, s in data.items()}

    def flag_users(self, flag: str, variants: Sequence[str], window: float) -> dict[str, int]:
        """Distinct users per variant of ``flag`` in the window (experiment reports)."""
        params = {"variants": ",".join(variants), "window": window}
        path = f"/v1/flags/{urllib.parse.quote(flag, safe='')}/users"
        data = self.client.call("GET", path, params=params)
        return {str(v): int(n) for v, n in data.items()}


class DemoControl:
    """Demo-only knobs: inject and clear faults, read the load generator's counts."""

    def __init__(self, client: ControlClient) -> None:
        self.client = client

    def inject_fault(
        self,
        service: str,
        version: str,
        errors: float = 0.3,
        latency: float = 0.3,
        **extra: Any,
    ) -> None:
        """Make ``version`` answer ``errors`` of requests with 5xx and add ``latency`` seconds.

        ``extra`` may set slow_start (s), crash, unready, and instance (one instance's name).
        """
        body = {"errors": errors, "latency": latency, **extra}
        self.client.call("PUT", f"/v1/services/{_svc(service)}/versions/{version}/fault", body)

    def clear_fault(self, service: str, version: str) -> None:
        """Back to normal behaviour: no injected errors or latency, ready, no crash."""
        self.client.call("DELETE", f"/v1/services/{_svc(service)}/versions/{version}/fault")

    def load_stats(self) -> dict[str, Any]:
        """What the load generator sent, and how much of it failed."""
        return dict(self.client.call("GET", "/v1/load"))

    def set_rps(self, rps: float) -> dict[str, Any]:
        return dict(self.client.call("PUT", "/v1/load", {"rps": rps}))

    def set_metrics_available(self, available: bool) -> None:
        """Switch the demo's metrics source off (its metrics and history answer 503) or on."""
        self.client.call("PUT", "/v1/metrics", {"available": bool(available)})

    def restart(self, service: str, version: str, surge: int = 1) -> None:
        """Rolling replacement of every instance of a version, ``surge`` at a time."""
        path = f"/v1/services/{_svc(service)}/versions/{version}/restart"
        self.client.call("POST", path, {"surge": surge}, timeout=SCALE_TIMEOUT)

    def status(self) -> dict[str, Any]:
        """Ports, pids and every instance's state."""
        return dict(self.client.call("GET", "/v1/status"))
