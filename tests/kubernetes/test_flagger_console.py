"""Canaries on the overview, the detail panels and `rollout status`, read from the emulator
with the simulated Flagger moving them: Waiting, Progressing with failed checks,
WaitingPromotion, Failed; the metric templates with their thresholds and queries."""

from __future__ import annotations

import time
from typing import Any

from backends.base import Phase
from console.cli import main
from console.commands.exits import EXIT_OK
from console.config.environments import open_environment
from console.view import foreign_detail
from console.view.overview import overview_rows
from console.view.snapshot import collect_snapshot
from tests.kubernetes.flaggertest import (
    ENV,
    new_revision,
    phase,
    reconcile_until,
    seed,
    status,
)


def rows(name: str | None = None) -> tuple[Any, Any]:
    env = open_environment(ENV)
    snap = collect_snapshot(env, detail=name)
    assert snap.error is None, snap.error
    by_name = {r.service: r for r in overview_rows(snap, holder="me", now=time.time())}
    return by_name, snap


def test_canaries_in_each_phase_on_the_overview_and_detail(flagger, gate, capsys):
    c, sim = flagger.cluster, flagger.sim
    for name in ("search", "grades", "enrollments"):
        seed(c, gate.address, name)
    reconcile_until(
        sim,
        lambda: {phase(c, n) for n in ("search", "grades", "enrollments")} == {"Initialized"},
        "initialized",
    )
    for name in ("search", "grades", "enrollments"):
        new_revision(c, name, f"ghcr.io/example/lms-{name}:2.0.0")
    reconcile_until(sim, lambda: phase(c, "grades") == "Waiting", "waiting")
    env = open_environment(ENV)
    foreign: Any = env.foreign
    foreign.act("search", "resume", user="alice@laptop")
    foreign.act("enrollments", "resume", user="alice@laptop")
    search = lambda: phase(c, "search") == "WaitingPromotion"  # noqa: E731
    for _ in range(20):
        if not search():
            sim.step(only="search")
    assert search()
    # enrollments: weight 10, held there, with two failed checks out of five
    for _ in range(5):
        if status(c, "enrollments").get("canaryWeight") != 10:
            sim.step(only="enrollments")
    foreign.act("enrollments", "pause", user="alice@laptop")
    sim.fail_analysis = True
    for _ in range(2):
        sim.step(only="enrollments")
    sim.fail_analysis = False
    assert status(c, "enrollments")["failedChecks"] == 2

    by_name, snap = rows("enrollments")
    waiting, holding, failing = by_name["grades"], by_name["search"], by_name["enrollments"]
    assert (waiting.phase, waiting.strategy, waiting.driver) == ("Waiting", "canary", "flagger")
    assert (holding.phase, holding.step, holding.weights) == ("WaitingPromotion", "5/7", "set 50")
    assert (failing.phase, failing.weights) == ("Progressing", "set 10")
    assert not failing.alert

    fr = snap.services["enrollments"].foreign
    assert fr.phase == Phase.PAUSED  # held by the closed confirm-traffic-increase gate
    title = foreign_detail.title_lines(fr)
    assert title[0].startswith("Progressing  canary 1-0-0 → 2-0-0  step 1/7  (flagger)")
    assert "failed checks 2/5" in title[-1] and "iterations 0" in title[-1]
    assert "since " in title[-1]
    timeline = [(i.label, i.state) for i in foreign_detail.timeline(fr)]
    assert timeline[:3] == [
        ("setWeight 10", "done"),
        ("setWeight 20", "current"),
        ("setWeight 30", "todo"),
    ]
    panel = foreign_detail.analysis_panel(fr)
    assert panel is not None
    texts = {r.metric: r.threshold for r in panel.rows}
    assert texts["request-success-rate"].startswith("ok: result >= 99 · failed 2/5")
    assert texts["error-rate"].startswith("ok: result <= 1 · failed 2/5")
    # the MetricTemplate's query, filled in, is what a chart asks Prometheus for; the
    # built-in request-success-rate gets Flagger's Istio query (no provider: the default)
    charted = {metric: (address, query) for metric, address, query in foreign_detail.queries(fr)}
    assert set(charted) == {"request-success-rate", "error-rate"}
    address, query = charted["error-rate"]
    assert address == "http://prometheus.monitoring:9090"
    assert 'service="enrollments-canary"' in query and "[1m]" in query
    address, query = charted["request-success-rate"]
    assert address == "" and query.startswith("sum(rate(istio_requests_total{")
    assert 'destination_workload=~"enrollments"' in query

    # rolled back: an alert on the overview
    foreign.act("enrollments", "abort", user="alice@laptop")
    reconcile_until(sim, lambda: phase(c, "enrollments") == "Failed", "failed")
    by_name, _ = rows()
    assert by_name["enrollments"].phase == "Failed (aborted)" and by_name["enrollments"].alert

    # `rollout status` (text): Flagger's counters in the message column
    assert main(["status", "--env", ENV]) == EXIT_OK
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("grades"))
    assert "Paused" in line and "waiting for confirm-rollout" in line
    assert "failed 0/5, iterations 0" in line
