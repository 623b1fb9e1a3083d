"""Flagger's built-in metrics charted through the real path: Canaries in the emulator read
with the real client, their request-success-rate and request-duration asked of Debian's
Prometheus with the query Flagger runs for the provider, scraping synthetic Istio and
Linkerd exporters whose truth is known: the chart shows 100 * (1 - errors) and the P99 of
the exporter's buckets, not the decoys' (other reporter, direction, namespace, the primary).
Neither Canary names a provider, so the environment's ``cluster.flaggerProvider`` decides,
as Flagger's -mesh-provider would: unset (Istio, Flagger's default) in one environment,
``linkerd`` in the other."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from backends.local.prometheus_runner import PrometheusNotInstalled, find_binary, start_prometheus
from console.config.environments import open_environment
from console.view.snapshot import collect_snapshot
from tests.kubernetes.fakecluster import flagger_crd
from tests.kubernetes.flaggertest import ENV, example, write_config
from tests.kubernetes.kubetest import NS
from tests.prometheus.prom_exporters import (
    Exporter,
    Traffic,
    expected_quantile,
    render,
    wait_for_scrapes,
)
from tests.support.waits import wait_for

pytestmark = pytest.mark.slow

# cumulative fraction of requests at or below each bound, in milliseconds (Istio, Linkerd)
ISTIO_BUCKETS = ((50.0, 0.5), (100.0, 0.9), (250.0, 0.99), (500.0, 1.0))
LINKERD_BUCKETS = ((10.0, 0.5), (20.0, 0.9), (40.0, 0.99), (80.0, 1.0))
ISTIO_ERRORS, LINKERD_ERRORS = 0.2, 0.05


def _istio(workload: str, **over: str) -> dict[str, str]:
    labels = {
        "reporter": "destination",
        "destination_workload_namespace": NS,
        "destination_workload": workload,
    }
    return labels | over


def _linkerd(deployment: str, **over: str) -> dict[str, str]:
    return {"namespace": NS, "deployment": deployment, "direction": "inbound"} | over


def exposition(elapsed: float) -> str:
    istio = [
        Traffic(
            _istio("search"),
            rate=10,
            error_fraction=ISTIO_ERRORS,
            ok_labels={"response_code": "200"},
            error_labels={"response_code": "503"},
            buckets=ISTIO_BUCKETS,
        ),
        # decoys: what Flagger's query must not count
        Traffic(
            _istio("search", reporter="source"),
            rate=10,
            error_fraction=0.9,
            ok_labels={"response_code": "200"},
            error_labels={"response_code": "500"},
            buckets=((1000.0, 0.5), (2000.0, 1.0)),
        ),
        Traffic(
            _istio("search-primary"),
            rate=50,
            error_fraction=0.5,
            ok_labels={"response_code": "200"},
            error_labels={"response_code": "500"},
            buckets=((1000.0, 0.5), (2000.0, 1.0)),
        ),
        Traffic(
            _istio("search", destination_workload_namespace="other"),
            rate=10,
            error_fraction=0.7,
            ok_labels={"response_code": "200"},
            error_labels={"response_code": "500"},
        ),
    ]
    linkerd = [
        Traffic(
            _linkerd("grades"),
            rate=20,
            error_fraction=LINKERD_ERRORS,
            ok_labels={"classification": "success", "status_code": "200"},
            error_labels={"classification": "failure", "status_code": "502"},
            buckets=LINKERD_BUCKETS,
        ),
        Traffic(
            _linkerd("grades", direction="outbound"),
            rate=20,
            error_fraction=0.6,
            ok_labels={"classification": "success", "status_code": "200"},
            error_labels={"classification": "failure", "status_code": "502"},
            buckets=((500.0, 1.0),),
        ),
    ]
    return render(
        "istio_requests_total", "istio_request_duration_milliseconds", istio, elapsed
    ) + render("response_total", "response_latency_ms", linkerd, elapsed)


def canary(name: str, interval: str | None) -> dict[str, Any]:
    obj = example("Canary")
    obj["metadata"]["name"] = name
    obj["spec"]["targetRef"]["name"] = name
    assert "provider" not in obj["spec"]
    metrics: list[dict[str, Any]] = [
        {"name": "request-success-rate", "thresholdRange": {"min": 99}},
        {"name": "request-duration", "thresholdRange": {"max": 500}},
    ]
    for m in metrics:
        if interval:
            m["interval"] = interval
    obj["spec"]["analysis"]["metrics"] = metrics
    assert flagger_crd.canary_problems(obj) == []
    return obj


LINKERD_ENV = "flagger-linkerd"


def use_prometheus(flagger: Any, url: str) -> None:
    """Two environments on the cluster with Prometheus for their charts: ``flagger`` (no
    ``flaggerProvider``: Istio) and ``flagger-linkerd`` (Flagger runs with Linkerd)."""
    path = write_config(flagger.config.parents[2], flagger.cluster)
    body = yaml.safe_load(path.read_text())
    envs = body["environments"]
    envs[ENV]["metrics"] = {"kind": "prometheus", "url": url, "provider": "istio"}
    envs[LINKERD_ENV] = copy.deepcopy(envs[ENV])
    envs[LINKERD_ENV]["cluster"]["flaggerProvider"] = "linkerd"
    path.write_text(yaml.safe_dump(body))


def test_builtin_metrics_are_charted_with_flaggers_query(flagger, tmp_path):
    try:
        find_binary()
    except PrometheusNotInstalled as exc:
        pytest.skip(str(exc))
    exporter = Exporter(exposition)
    handle = start_prometheus([exporter.target], tmp_path / "prom", "1s")
    try:
        wait_for_scrapes(handle.url, 1, 3)
        emu = flagger.cluster.emu
        emu.put(flagger_crd.GROUP, "canaries", canary("search", "30s"), NS)
        emu.put(flagger_crd.GROUP, "canaries", canary("grades", None), NS)
        use_prometheus(flagger, handle.url)

        def charted(env_name: str, name: str) -> Any:
            env = open_environment(env_name)

            def check() -> Any:
                state = collect_snapshot(env, detail=name).services[name]
                series = state.query_series
                both = ("request-success-rate", "request-duration")
                return state if all(len(series.get(m, ((), ()))[0]) >= 2 for m in both) else None

            return wait_for(check, timeout=60, what=f"{name}'s built-in metrics over time")

        search = charted(ENV, "search")
        rates = search.query_series["request-success-rate"][1]
        p99s = search.query_series["request-duration"][1]
        assert rates == pytest.approx([100 * (1 - ISTIO_ERRORS)] * len(rates), abs=1e-3)
        assert p99s == pytest.approx([expected_quantile(0.99, ISTIO_BUCKETS)] * len(p99s), abs=1e-3)
        metrics = {m.name: m for m in search.foreign.analyses[0].metrics}
        assert metrics["request-success-rate"].message == "percentage of non-5xx responses (istio)"
        assert "[30s]" in metrics["request-duration"].query

        grades = charted(LINKERD_ENV, "grades")
        rates = grades.query_series["request-success-rate"][1]
        p99s = grades.query_series["request-duration"][1]
        assert rates == pytest.approx([100 * (1 - LINKERD_ERRORS)] * len(rates), abs=1e-3)
        assert p99s == pytest.approx(
            [expected_quantile(0.99, LINKERD_BUCKETS)] * len(p99s), abs=1e-3
        )
        metrics = {m.name: m for m in grades.foreign.analyses[0].metrics}
        assert metrics["request-duration"].message == (
            "P99 request duration in milliseconds (linkerd)"
        )
        assert "response_latency_ms_bucket" in metrics["request-duration"].query
        assert "[1m]" in metrics["request-duration"].query  # Flagger's default metric interval
    finally:
        handle.stop()
        exporter.stop()
