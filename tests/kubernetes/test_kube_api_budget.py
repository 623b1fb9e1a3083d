"""API calls per minute while a driver watches a rollout (the figure in docs/kubernetes.md).

One simulated minute: 60 driver ticks, the driver's and the store's clock advanced 1 s per
tick, every request counted by the emulator. Watch requests are long-lived and renewed
once per ``watchTimeout`` per kind (see test_kube_errors.py, resume without relisting), so
they are counted apart: 5 kinds x 60/300 = 1 request a minute with the default.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from backends.base import Environment, Phase
from tests.kubernetes.kubetest import DEPLOY, apply, connect
from tests.support.clock import Clock
from tests.support.fakes import FakeMetrics
from tests.support.waits import wait_for

pytestmark = pytest.mark.slow

GATED = """\
service: courses
strategy: canary
stable: v1
candidate: v2
steps:
  - setWeight: 10
  - pause: {}
  - setWeight: 100
analysis:
  interval: 5s
  minRequests: 1
  metrics:
    - {name: error-rate, max: 0.05}
"""

PROGRESSING = GATED.replace("pause: {}", "pause: 40s")


def one_minute(cluster, text: str, viewer: bool = False) -> tuple[Counter, Phase]:
    """Requests in one simulated minute: the driver's, or (``viewer``) a second console's."""
    from console.driver.loop import Driver
    from console.plan.load import parse_plan

    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    traffic, store = connect(cluster, watchTimeout=300)
    traffic2, store2 = connect(cluster, watchTimeout=300)
    clock = Clock(time.time())
    store.clock = store2.clock = clock
    env = Environment("budget", traffic, FakeMetrics(time.time), store)
    env2 = Environment("viewer", traffic2, FakeMetrics(time.time), store2)
    driver = Driver(env, "courses", holder="alice@laptop:1:aa", clock=clock, lease_ttl=10.0)
    other = Driver(env2, "courses", holder="bob@desk:2:bb", clock=clock, lease_ttl=10.0)
    try:
        wait_for(lambda: traffic.health("courses")["v2"].ready == 3, what="v2 ready")
        driver.begin(parse_plan(text, "budget.yaml"))
        for _ in range(5):  # settle: first weight, lease taken, the viewer's caches warm
            clock.advance(1)
            driver.tick()
            if viewer:
                other.tick()
        # the KubeApi counts every request it makes (one per client: driver or viewer)
        api = (store2 if viewer else store).api
        before = Counter(api.calls)
        for _ in range(60):
            clock.advance(1)
            rec = driver.tick()
            if viewer:
                assert other.tick() is None  # refused the lease: it only watches
            time.sleep(0.01)
        calls = Counter(api.calls)
        calls.subtract(before)
        calls = Counter({k: v for k, v in calls.items() if v > 0 and k[0] != "watch"})
        assert rec is not None
        return calls, rec.phase
    finally:
        other.close()
        driver.close()
        for x in (traffic, store, traffic2, store2):
            x.close()


def test_calls_per_minute_at_a_manual_gate(cluster, capsys):
    calls, phase = one_minute(cluster, GATED)
    assert phase is Phase.PAUSED
    total = sum(calls.values())
    with capsys.disabled():
        print(f"\n[api-budget] paused at a gate: {total} calls/min {dict(calls)}")
    # lease renewals (at most every ttl/3 = 3.3 s) and the record saved when analysis
    # (every 5 s, it keeps measuring while paused) changes it; no reads at all
    assert calls[("update", "leases")] <= 19
    assert calls[("update", "configmaps")] <= 13
    assert not [k for k in calls if k[0] in ("get", "list")]
    assert total <= 32


def test_calls_per_minute_while_progressing(cluster, capsys):
    calls, phase = one_minute(cluster, PROGRESSING)
    total = sum(calls.values())
    with capsys.disabled():
        print(f"\n[api-budget] progressing, analysis every 5 s: {total} calls/min {dict(calls)}")
    assert phase in (Phase.PROGRESSING, Phase.COMPLETED)
    assert calls[("update", "leases")] <= 19
    # record saves when the engine's state changes (measurements, steps) plus audit appends
    assert total <= 40


def test_calls_per_minute_of_a_viewing_console(cluster, capsys):
    calls, _ = one_minute(cluster, GATED, viewer=True)
    total = sum(calls.values())
    with capsys.disabled():
        print(f"\n[api-budget] a second console watching: {total} calls/min {dict(calls)}")
    # it re-reads the holder's lease every ttl/3, and nothing else
    assert set(calls) == {("get", "leases")}
    assert total <= 19
