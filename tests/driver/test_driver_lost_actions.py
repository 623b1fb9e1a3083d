"""Actions the driver saved but that never reached the backend still land.

The driver saves the record before it applies the actions, so a driver killed in between
(or an apply lost on the way) leaves the record ahead of the world. Here the real demo's
traffic backend sits behind a wrapper that silently drops chosen calls, exactly what such
a crash looks like from the backend's side; the next driver tick must notice and apply
them again, and the rollout must end as if nothing happened.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from backends.base import Environment, Phase
from console.driver.loop import Driver
from console.plan.load import parse_plan
from tests.support.waits import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_options() -> dict[str, Any]:
    return {"rps": 60, "instances": 2}


class DropsCalls:
    """The demo's TrafficBackend, except that the first ``n`` calls of a method vanish."""

    def __init__(self, inner: Any, **drop: int) -> None:
        self.inner, self.drop = inner, dict(drop)
        self.dropped: list[tuple[str, tuple[Any, ...]]] = []
        self.name = inner.name

    def __getattr__(self, method: str) -> Any:
        real = getattr(self.inner, method)
        if method not in self.drop:
            return real

        def call(*args: Any) -> None:
            if self.drop[method] > 0:
                self.drop[method] -= 1
                self.dropped.append((method, args))
                return None
            return real(*args)

        return call


def drive(demo_env: Any, traffic: DropsCalls, text: str) -> tuple[Any, list[str]]:
    env = Environment("demo", traffic, demo_env.env.metrics, demo_env.env.store)
    events: list[str] = []
    d = Driver(env, text.split()[1], holder="qa@lab:1:lost", tick_interval=0.2)
    d.on_event = lambda e: events.append(e.message)
    try:
        d.begin(parse_plan(text, "lost.yaml"))
        deadline = time.monotonic() + 90
        rec = d.record
        while time.monotonic() < deadline:
            rec = d.tick()
            if rec is not None and rec.phase.terminal:
                break
            time.sleep(0.2)
        return rec, events
    finally:
        d.close()


ROLLING = """\
service: grades
strategy: rolling
stable: v1
candidate: v2
maxSurge: 1
maxUnavailable: 0
minReady: 0s
analysis: false
"""

BLUEGREEN = """\
service: enrollments
strategy: bluegreen
stable: v1
candidate: v2
previewDuration: 0s
autoPromote: 0s
scaleDownDelay: 0s
"""


def candidate_gone(demo_env: Any, service: str) -> None:
    """Start from v1 only, so the first batch or preview pool is a Deploy."""
    demo_env.env.traffic.scale(service, "v2", 0)
    wait_until(lambda: demo_env.env.traffic.health(service)["v2"].total == 0, 20, "v2 gone")


def test_a_rolling_batch_and_a_scale_down_that_never_landed_are_applied(demo_env: Any) -> None:
    candidate_gone(demo_env, "grades")
    traffic = DropsCalls(demo_env.env.traffic, deploy=1, scale=1)
    rec, events = drive(demo_env, traffic, ROLLING)
    assert rec is not None and rec.phase is Phase.COMPLETED, rec and rec.message
    assert [m for m, _ in traffic.dropped] == ["deploy", "scale"]
    assert any(e.startswith("re-applying v2 at 1 instances") for e in events), events
    health = demo_env.env.traffic.health("grades")
    assert health["v2"].ready == 2 and ("v1" not in health or health["v1"].total == 0)
    assert demo_env.env.traffic.get_split("grades").weights.get("v2") == 100


def test_a_blue_green_preview_pool_that_never_landed_is_deployed(demo_env: Any) -> None:
    candidate_gone(demo_env, "enrollments")
    traffic = DropsCalls(demo_env.env.traffic, deploy=1)
    rec, events = drive(demo_env, traffic, BLUEGREEN)
    assert rec is not None and rec.phase is Phase.COMPLETED, rec and rec.message
    assert [m for m, _ in traffic.dropped] == ["deploy"]
    assert any(e.startswith("re-applying v2 at 2 instances") for e in events), events
    assert demo_env.env.traffic.get_split("enrollments").weights.get("v2") == 100
