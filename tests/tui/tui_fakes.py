"""An in-process environment for console tests and the console benchmark.

The traffic router and the metrics source are small in-memory implementations of the
``backends.base`` Protocols with fixed, deterministic data; the state store is the real
``FileStateStore`` in a temporary directory. ``dead`` makes every backend call raise
``BackendUnavailable``; ``hang`` makes it block until released (a frozen API server).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from backends.base import (
    BackendUnavailable,
    Environment,
    Event,
    MatchRule,
    MetricSample,
    Phase,
    RolloutRecord,
    Strategy,
    TrafficSplit,
    VersionHealth,
)
from backends.local.store import FileStateStore

T0 = 1_700_000_000.0  # fixed clock for deterministic renders


class Switch:
    """Shared failure mode for the fake backends."""

    def __init__(self) -> None:
        self.dead = False
        self.release = threading.Event()
        self.release.set()

    def check(self) -> None:
        if not self.release.is_set():
            self.release.wait(20.0)  # bounded: a test always releases it in teardown
        if self.dead:
            raise BackendUnavailable("connection refused (fake backend is down)")

    def hang(self) -> None:
        self.release.clear()


class FakeTraffic:
    name = "fake"

    def __init__(self, services: Sequence[str], switch: Switch) -> None:
        self.switch = switch
        self.splits: dict[str, dict[str, int]] = {s: {"v1": 100, "v2": 0} for s in services}
        self.calls: list[tuple[str, ...]] = []
        self.approximate = False  # replica-ratio splitting, as Kubernetes without Gateway API

    def services(self) -> list[str]:
        self.switch.check()
        return list(self.splits)

    def versions(self, service: str) -> list[str]:
        self.switch.check()
        return ["v1", "v2"]

    def get_split(self, service: str) -> TrafficSplit:
        self.switch.check()
        return TrafficSplit(weights=dict(self.splits[service]), approximate=self.approximate)

    def set_split(self, service: str, weights: Mapping[str, int]) -> None:
        self.switch.check()
        self.calls.append(("set_split", service, repr(dict(weights))))
        self.splits[service] = dict(weights)

    def set_match(self, service: str, rules: Sequence[MatchRule], version: str | None) -> None:
        self.switch.check()

    def set_mirror(self, service: str, version: str | None, percent: int) -> None:
        self.switch.check()

    def health(self, service: str) -> dict[str, VersionHealth]:
        self.switch.check()
        return {
            "v1": VersionHealth("v1", 3, 3),
            "v2": VersionHealth("v2", 2, 3, restarts=1, reasons=("v2-2: exit 1 (fault)",)),
        }

    def deploy(self, service: str, version: str, instances: int) -> None:
        self.switch.check()

    def scale(self, service: str, version: str, instances: int) -> None:
        self.switch.check()

    def retire(self, service: str, version: str) -> None:
        self.switch.check()


class FakeMetrics:
    """Fixed samples: v1 healthy, v2 a little worse; history is a smooth fixed series."""

    def __init__(self, switch: Switch, clock: object) -> None:
        self.switch = switch
        self.clock = clock

    def _sample(self, version: str, at: float, wobble: float = 0.0) -> MetricSample:
        if version == "v1":
            return MetricSample("v1", at, 10.0, 900.0, 90.0, 0.001, 0.020 + wobble, 0.045, 0.080)
        return MetricSample("v2", at, 10.0, 100.0, 10.0, 0.020, 0.025 + wobble, 0.060, 0.120)

    def sample(
        self, service: str, versions: Sequence[str], window: float
    ) -> dict[str, MetricSample]:
        self.switch.check()
        now = self.clock()  # type: ignore[operator]
        return {v: self._sample(v, now) for v in versions}

    def history(
        self, service: str, versions: Sequence[str], since: float, step: float
    ) -> dict[str, list[MetricSample]]:
        self.switch.check()
        now = self.clock()  # type: ignore[operator]
        n = int((now - since) // step)
        return {
            v: [self._sample(v, since + i * step, 0.005 * ((i % 7) - 3) / 3) for i in range(n)]
            for v in versions
        }

    def query(
        self, service: str, versions: Sequence[str], template: str, window: float
    ) -> dict[str, float | None]:
        return {v: None for v in versions}


CANARY_PLAN = {
    "service": "courses",
    "strategy": "canary",
    "candidate": "v2",
    "stable": "v1",
    "steps": [
        {"setWeight": 10},
        {"pause": {"duration": 30.0}},
        {"setWeight": 50},
        {"pause": {}},
        {"setWeight": 100},
    ],
    "analysis": {
        "interval": 5.0,
        "window": None,
        "min_requests": 20,
        "failure_limit": 1,
        "inconclusive_limit": 3,
        "consecutive_error_limit": 4,
        "on_failure": "rollback",
        "metrics": [
            {"name": "error-rate", "min": None, "max": 0.05, "query": None},
            {"name": "latency-p99", "min": None, "max": 0.4, "query": None},
        ],
    },
    "match": [],
    "mirror": 0,
    "bluegreen": None,
    "rolling": None,
    "webhooks": [],
    "source": "examples/canary.yaml",
}


def canary_record(
    service: str = "courses", phase: Phase = Phase.PROGRESSING, step: int = 1, **kw: object
) -> RolloutRecord:
    """A canary record at a timed pause (step 2 of 5), 12 s into it, with a few events."""
    plan = dict(CANARY_PLAN, service=service)
    fields: dict = dict(
        service=service,
        strategy=Strategy.CANARY,
        stable="v1",
        candidate="v2",
        phase=phase,
        plan=plan,
        step_index=step,
        step_started_at=T0 - 12.0,
        weights={"v1": 90, "v2": 10},
        message="step 2/5: pause 30s",
        started_at=T0 - 60.0,
        updated_at=T0 - 12.0,
        engine={"counters": {"failures": 1, "inconclusive": 0}},
        events=(
            Event(T0 - 60.0, service, "started", "canary v1 -> v2 started by alice@laptop"),
            Event(T0 - 30.0, service, "weight", "v2 takes 10% (v1 90%)"),
            Event(T0 - 20.0, service, "analysis", "error-rate 0.020 <= max 0.05 on v2: ok"),
        ),
    )
    fields.update(kw)
    return RolloutRecord(**fields)


class FakeControl:
    """Stands in for the demo's DemoControl: records fault calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def inject_fault(
        self, service: str, version: str, errors: float = 0.3, latency: float = 0.3
    ) -> None:
        self.calls.append(("inject", service, version))

    def clear_fault(self, service: str, version: str) -> None:
        self.calls.append(("clear", service, version))


def fake_env(
    state_dir: Path,
    services: Sequence[str] = ("courses", "enrollments", "grades"),
    *,
    clock: object = lambda: T0,
    demo: bool = True,
) -> tuple[Environment, Switch]:
    """An environment with fake traffic/metrics and a real file store under ``state_dir``."""
    switch = Switch()
    env = Environment(
        name="demo" if demo else "fake",
        traffic=FakeTraffic(services, switch),
        metrics=FakeMetrics(switch, clock),
        store=FileStateStore(state_dir),
        description="demo" if demo else "fake",
        extras={"control": FakeControl()} if demo else {},
    )
    return env, switch
