"""The detail's analysis chart asks a real Prometheus for the AnalysisTemplate's own query
with the Rollout's args filled in: at the address the template names when the environment
has no Prometheus of its own."""

from __future__ import annotations

import copy

import pytest

from backends.local.prometheus_runner import PrometheusNotInstalled, find_binary, start_prometheus
from console.view.snapshot import collect_snapshot
from tests.kubernetes.argotest import GROUP, SUCCESS_RATE, argo_env, rollout_obj
from tests.kubernetes.kubetest import NS
from tests.prometheus.prom_exporters import Exporter, wait_for_scrapes
from tests.support.waits import wait_for

pytestmark = pytest.mark.slow


def test_the_template_query_is_charted_from_its_prometheus(argo, tmp_path):
    try:
        find_binary()
    except PrometheusNotInstalled as exc:
        pytest.skip(str(exc))
    exporter = Exporter(lambda t: f'http_requests_total{{service="courses"}} {100 + 10 * t}\n')
    handle = start_prometheus([exporter.target], tmp_path / "prom", "1s")
    try:
        wait_for_scrapes(handle.url, 1, 3)
        template = copy.deepcopy(SUCCESS_RATE)
        template["spec"]["args"][1]["value"] = handle.url  # the template's own address
        metric = template["spec"]["metrics"][0]
        metric["provider"]["prometheus"]["query"] = (
            'sum(http_requests_total{service="{{args.service-name}}"})'
        )
        argo.emu.put(GROUP, "analysistemplates", template, NS)
        argo.add(rollout_obj("courses", "ghcr.io/lms/courses:1.0"))
        argo.settle()
        argo.set_image("courses", "ghcr.io/lms/courses:2.0")
        argo.settle(2)  # paused before the analysis step: only the template is known
        env = argo_env(argo)

        def charted():
            state = collect_snapshot(env, detail="courses").services["courses"]
            xs, _ = state.query_series.get("success-rate", ((), ()))
            return state if len(xs) >= 2 else None

        state = wait_for(charted, timeout=60, what="the template's query over time")
        xs, ys = state.query_series["success-rate"]
        assert list(xs) == sorted(xs) and all(y >= 100 for y in ys)
        assert list(ys) == sorted(ys)  # the counter grows: the series is the exporter's
    finally:
        handle.stop()
        exporter.stop()
