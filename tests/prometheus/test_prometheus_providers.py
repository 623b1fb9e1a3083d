"""Each provider's PromQL against a real Prometheus scraping an exporter with that provider's
metric names and labels, and known rates, error fractions and latency buckets.

Every exporter serves the same per-version truth for service ``courses`` in namespace ``lms``,
plus decoy series (another service, namespace, reporter or direction) with large values that
must not leak into the answer:

- v1: 20 req/s, 1 % errors, fast buckets;  v2: 6 req/s, 25 % errors, slow buckets;
- v3: 4 req/s and no error series at all (error ratio must be 0, not missing);
- v4: series present but no traffic (rate 0, error ratio and latencies missing);
- v9: no series (everything missing).

Tolerance: 3 % relative on rates, ratios and quantiles (linear counters make rate() exact up
to scrape jitter).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from backends.base import BackendError, Unsupported
from backends.prometheus import PrometheusMetrics, from_config
from tests.prometheus.prom_exporters import (
    DEFAULT_BUCKETS,
    Exporter,
    Traffic,
    expected_quantile,
    render,
    settled,
    wait_for_scrapes,
)

pytestmark = pytest.mark.slow

SLOW_BUCKETS = ((0.1, 0.2), (0.25, 0.5), (0.5, 0.9), (1.0, 1.0))
TRUTH = {
    "v1": {"rate": 20.0, "errors": 0.01, "buckets": DEFAULT_BUCKETS},
    "v2": {"rate": 6.0, "errors": 0.25, "buckets": SLOW_BUCKETS},
    "v3": {"rate": 4.0, "errors": 0.0, "buckets": DEFAULT_BUCKETS},
    "v4": {"rate": 0.0, "errors": None, "buckets": DEFAULT_BUCKETS},
}
VERSIONS = ["v1", "v2", "v3", "v4", "v9"]
WINDOW = 5.0


def _scaled(
    buckets: tuple[tuple[float, float], ...], unit: float
) -> tuple[tuple[float, float], ...]:
    return tuple((le / unit, frac) for le, frac in buckets)


@dataclass
class Scenario:
    provider: str
    counter: str
    histogram: str | None
    unit: float  # seconds per exporter unit
    version_labels: Callable[[str], list[dict[str, str]]]  # one label set per series group
    ok: dict[str, str]
    err: dict[str, str]
    decoys: list[dict[str, str]]
    counter_on_histogram: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    extra: list[dict[str, str]] = field(default_factory=list)  # 7 req/s, 10 % errors each

    def traffic(self) -> list[Traffic]:
        out = []
        for version, truth in TRUTH.items():
            groups = self.version_labels(version)
            for labels in groups:
                out.append(
                    Traffic(
                        labels=labels,
                        rate=float(truth["rate"]) / len(groups),  # type: ignore[arg-type]
                        error_fraction=float(truth["errors"] or 0.0),  # type: ignore[arg-type]
                        ok_labels=self.ok,
                        error_labels=self.err,
                        buckets=_scaled(truth["buckets"], self.unit),  # type: ignore[arg-type]
                        emit_error_series=version != "v3",
                    )
                )
        for labels in self.extra:
            out.append(Traffic(labels, 7.0, 0.1, self.ok, self.err, DEFAULT_BUCKETS))
        for labels in self.decoys:
            out.append(
                Traffic(labels, 100.0, 0.5, self.ok, self.err, _scaled(SLOW_BUCKETS, self.unit))
            )
        return out

    def text(self, elapsed: float) -> str:
        return render(
            self.counter,
            self.histogram,
            self.traffic(),
            elapsed,
            counter_on_histogram=self.counter_on_histogram,
        )


def _istio(v: str, **over: str) -> dict[str, str]:
    labels = {
        "reporter": "destination",
        "destination_service_name": "courses",
        "destination_service_namespace": "lms",
        "destination_version": v,
        "destination_workload": f"courses-{v}",
    }
    return labels | over


SCENARIOS = [
    Scenario(
        provider="http",
        counter="http_request_duration_seconds_count",
        histogram="http_request_duration_seconds",
        counter_on_histogram=True,
        unit=1.0,
        version_labels=lambda v: [{"service": "courses", "version": v}],
        ok={"code": "200"},
        err={"code": "503"},
        decoys=[{"service": "grades", "version": "v1"}, {"service": "course", "version": "v2"}],
        # The Kubernetes backend labels pods of an image candidate with its tag ("2-0").
        extra=[{"service": "courses", "version": "2-0"}],
    ),
    Scenario(
        provider="istio",
        counter="istio_requests_total",
        histogram="istio_request_duration_milliseconds",
        unit=0.001,
        version_labels=lambda v: [_istio(v)],
        ok={"response_code": "200"},
        err={"response_code": "500"},
        decoys=[
            _istio("v1", reporter="source"),
            _istio("v2", destination_service_namespace="other"),
            _istio("v1", destination_service_name="grades"),
        ],
    ),
    Scenario(
        provider="linkerd",
        counter="response_total",
        histogram="response_latency_ms",
        unit=0.001,
        version_labels=lambda v: [
            {"direction": "inbound", "namespace": "lms", "deployment": f"courses-{v}"}
        ],
        ok={"status_code": "200", "classification": "success"},
        err={"status_code": "502", "classification": "failure"},
        decoys=[
            {"direction": "outbound", "namespace": "lms", "deployment": "courses-v1"},
            {"direction": "inbound", "namespace": "other", "deployment": "courses-v2"},
            {"direction": "inbound", "namespace": "lms", "deployment": "grades-v1"},
        ],
    ),
    Scenario(
        provider="envoy",
        counter="envoy_cluster_upstream_rq",
        histogram="envoy_cluster_upstream_rq_time",
        unit=0.001,
        # Contour: <namespace>_<service>_<port>; v2 is served on two ports (must add up).
        version_labels=lambda v: (
            [{"envoy_cluster_name": f"lms_courses-{v}_80"}]
            if v != "v2"
            else [
                {"envoy_cluster_name": "lms_courses-v2_80"},
                {"envoy_cluster_name": "lms_courses-v2_8080_da39a3ee5e"},
            ]
        ),
        ok={"envoy_response_code": "200"},
        err={"envoy_response_code": "503"},
        decoys=[
            {"envoy_cluster_name": "lms_grades-v1_80"},
            {"envoy_cluster_name": "other_courses-v1_80"},
        ],
    ),
    Scenario(
        provider="nginx-ingress",
        counter="nginx_ingress_controller_requests",
        histogram="nginx_ingress_controller_request_duration_seconds",
        unit=1.0,
        version_labels=lambda v: [
            {
                "namespace": "lms",
                "ingress": "courses" if v == "v1" else "courses-canary",
                "service": f"courses-{v}",
                "canary": "" if v == "v1" else f"courses-{v}",
            }
        ],
        ok={"status": "200"},
        err={"status": "500"},
        decoys=[
            {"namespace": "other", "ingress": "courses", "service": "courses-v1", "canary": ""},
            {"namespace": "lms", "ingress": "grades", "service": "grades-v1", "canary": ""},
        ],
    ),
    Scenario(
        provider="haproxy",
        counter="haproxy_server_http_responses_total",
        histogram=None,
        unit=1.0,
        # Backend = service, servers named <version>-<n>; v1 runs on two servers.
        version_labels=lambda v: (
            [{"proxy": "courses", "server": f"{v}-1"}, {"proxy": "courses", "server": f"{v}-2"}]
            if v == "v1"
            else [{"proxy": "courses", "server": v}]
        ),
        ok={"code": "2xx"},
        err={"code": "5xx"},
        decoys=[{"proxy": "grades", "server": "v1-1"}],
    ),
]


@pytest.fixture(scope="module")
def prom(start_prom: Callable[..., Any]) -> Iterator[tuple[str, dict[str, Exporter]]]:
    exporters = {s.provider: Exporter(s.text) for s in SCENARIOS}
    try:
        handle = start_prom([e.target for e in exporters.values()])
        # 8 scrapes: every 5 s window at "now" is full of data.
        wait_for_scrapes(handle.url, len(exporters), 8)
        yield handle.url, exporters
    finally:
        for e in exporters.values():
            e.stop()


def _backend(url: str, scenario: Scenario) -> PrometheusMetrics:
    cfg = {"kind": "prometheus", "url": url, "provider": scenario.provider, "namespace": "lms"}
    return from_config(cfg | scenario.config)


def _close(actual: float | None, expected: float, rel: float = 0.03) -> bool:
    return actual is not None and actual == pytest.approx(expected, rel=rel, abs=1e-9)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.provider for s in SCENARIOS])
def test_provider_sample_matches_exporter(prom: tuple[str, Any], scenario: Scenario) -> None:
    url, _ = prom
    backend = _backend(url, scenario)
    got = settled(
        lambda: backend.sample("courses", VERSIONS, WINDOW),
        lambda g: all(_close(g[v].request_rate, t["rate"]) for v, t in TRUTH.items()),
    )
    assert set(got) == set(VERSIONS)
    for version, truth in TRUTH.items():
        s = got[version]
        assert _close(s.request_rate, truth["rate"]), (version, s)  # type: ignore[arg-type]
        assert _close(s.requests, truth["rate"] * WINDOW), (version, s)  # type: ignore[operator]
        if truth["errors"] is None:
            assert s.error_ratio is None, (version, s)  # no traffic: missing, never 0
        else:
            assert _close(s.error_ratio, truth["errors"]), (version, s)  # type: ignore[arg-type]
        for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            value = getattr(s, name)
            if scenario.histogram is None or truth["rate"] == 0:
                assert value is None, (version, name, s)
            else:
                expected = expected_quantile(q, truth["buckets"])  # type: ignore[arg-type]
                assert _close(value, expected), (version, name, value, expected)
    assert got["v3"].error_ratio == 0.0  # traffic and no 5xx series: exactly 0
    absent = got["v9"]
    assert (absent.request_rate, absent.error_ratio, absent.p99) == (None, None, None)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.provider for s in SCENARIOS])
def test_provider_history_matches_exporter(prom: tuple[str, Any], scenario: Scenario) -> None:
    url, _ = prom
    backend = _backend(url, scenario)

    def read() -> tuple[float, dict[str, Any]]:
        now = time.time()
        return now, backend.history("courses", ["v1", "v2"], since=now - 3, step=1.0, window=4.0)

    def exact(got: tuple[float, dict[str, Any]]) -> bool:
        return all(
            _close(p.request_rate, TRUTH[v]["rate"]) for v in ("v1", "v2") for p in got[1][v]
        )

    # A scrape that came late (a loaded machine) leaves past points a few % low until they
    # slide out of the 3 s range: read for up to ~9 s, not the default ~3 s.
    now, hist = settled(read, exact, attempts=30)
    for version in ("v1", "v2"):
        points = hist[version]
        assert 3 <= len(points) <= 4, points
        for p in points:
            assert _close(p.request_rate, TRUTH[version]["rate"]), p  # type: ignore[arg-type]
            assert _close(p.error_ratio, TRUTH[version]["errors"]), p  # type: ignore[arg-type]
            assert now - 3.5 <= p.at <= now + 0.5
        if scenario.histogram is not None:
            expected = expected_quantile(0.99, TRUTH[version]["buckets"])  # type: ignore[arg-type]
            assert all(_close(p.p99, expected) for p in points), points


def test_haproxy_latency_is_unsupported_with_a_reason(prom: tuple[str, Any]) -> None:
    url, _ = prom
    backend = _backend(url, SCENARIOS[-1])
    backend.require(["error-rate", "request-rate"])  # fine
    with pytest.raises(Unsupported, match="no latency histogram"):
        backend.require(["error-rate", "latency-p99"])


def test_custom_query_per_version_and_all_at_once(prom: tuple[str, Any]) -> None:
    url, _ = prom
    backend = _backend(url, SCENARIOS[0])
    per_version = (
        'sum(rate(http_request_duration_seconds_count{service="{{service}}", '
        'version="{{version}}", code!~"5.."}[{{window}}]))'
    )
    got = backend.query("courses", ["v1", "v2", "v9"], per_version, WINDOW)
    assert _close(got["v1"], 20.0 * 0.99)
    assert _close(got["v2"], 6.0 * 0.75)
    assert got["v9"] is None
    grouped = 'sum by (version) (rate(http_request_duration_seconds_count{service="{{service}}"}[{{window}}]))'
    got = backend.query("courses", ["v1", "v3", "v9"], grouped, WINDOW)
    assert _close(got["v1"], 20.0) and _close(got["v3"], 4.0) and got["v9"] is None
    # A grouped query without a version label cannot be attributed: an error, not a guess.
    with pytest.raises(BackendError, match="version"):
        backend.query("courses", ["v1"], "sum(up)", WINDOW)


def test_placeholder_values_are_escaped(prom: tuple[str, Any]) -> None:
    """A service or version with quotes and backslashes stays inside its string literal."""
    url, _ = prom
    backend = _backend(url, SCENARIOS[0])
    evil = 'courses"} or vector(1) or x{a="'
    got = backend.sample(evil, ["v1"], WINDOW)
    assert got["v1"].request_rate is None  # no such service: no data, and no injection
    template = 'sum(rate(http_request_duration_seconds_count{version="{{version}}"}[{{window}}]))'
    assert backend.query("courses", ['v1\\"'], template, WINDOW) == {'v1\\"': None}
    for name in ("istio", "envoy", "haproxy"):
        other = _backend(url, next(s for s in SCENARIOS if s.provider == name))
        assert other.sample("cour.es", ["v1"], WINDOW)["v1"].request_rate is None


def test_label_names_are_configurable(prom: tuple[str, Any]) -> None:
    """The http provider reading istio's labels through ``labels`` and metric overrides."""
    url, _ = prom
    cfg = {
        "kind": "prometheus",
        "url": url,
        "provider": "http",
        "requestsMetric": "istio_requests_total",
        "bucketsMetric": "istio_request_duration_milliseconds_bucket",
        "latencyUnit": "ms",
        "labels": {
            "service": "destination_service_name",
            "version": "destination_version",
            "code": "response_code",
        },
    }
    backend = from_config(cfg)
    got = backend.sample("courses", ["v1"], WINDOW)["v1"]
    # No reporter filter here, so the source-reporter decoy (100 req/s on v1) is counted too:
    # that it shows up proves the label names were used.
    assert _close(got.request_rate, 20.0 + 100.0)


def test_image_candidates_are_found_under_their_label_form(prom: tuple[str, Any]) -> None:
    """A plan may name an image; its pods (and so its series) carry the tag as ``version``."""
    url, _ = prom
    backend = _backend(url, SCENARIOS[0])
    image = "ghcr.io/lms/courses:2.0"
    got = backend.sample("courses", [image, "v1"], WINDOW)
    assert set(got) == {image, "v1"} and got[image].version == image
    assert _close(got[image].request_rate, 7.0) and _close(got[image].error_ratio, 0.1)
    template = 'sum(rate(http_request_duration_seconds_count{version="{{version}}"}[{{window}}]))'
    assert _close(backend.query("courses", [image], template, WINDOW)[image], 7.0)
