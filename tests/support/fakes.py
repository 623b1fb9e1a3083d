"""In-memory traffic router and metrics source: the ``backends.base`` Protocols with fixed,
deterministic data, for driver, command and console tests and for bench/tui.py.

The state store is always the real ``FileStateStore`` (in a temporary directory). Failure
modes: ``down`` on one backend makes its calls raise ``BackendUnavailable``; a ``Switch``
shared by both (see ``fake_env``) makes every call fail (``dead``) or block until released
(``hang``, a frozen API server).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from backends.base import (
    BackendUnavailable,
    Environment,
    MatchRule,
    MetricSample,
    TrafficSplit,
    Unsupported,
    VersionHealth,
)
from backends.local.store import FileStateStore
from tests.support.clock import T0


class Switch:
    """A failure mode shared by fake backends: dead (refused) or hanging."""

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
    """A router for ``services`` (each with ``versions``, all weight on the first). A service
    it does not list still answers, so a test may read any record's live split.

    ``calls`` lists every change in order as ``(method, argument)``; ``fail_set_split``
    refuses the next N ``set_split`` calls; ``approximate`` marks splits as replica ratios
    (Kubernetes without Gateway API); ``health`` is what every service reports.
    """

    name = "fake"

    def __init__(
        self,
        services: Sequence[str] = ("courses",),
        versions: Sequence[str] = ("v1", "v2"),
        *,
        switch: Switch | None = None,
        health: Mapping[str, VersionHealth] | None = None,
    ) -> None:
        self.service_names = list(services)
        self.vers = list(versions)
        self.switch = switch or Switch()
        self.down = False
        self.splits: dict[str, dict[str, int]] = {s: self._initial() for s in services}
        self.matches: dict[str, str | None] = {}
        self.mirrors: dict[str, tuple[str | None, int]] = {}
        self.calls: list[tuple[str, object]] = []
        self.fail_set_split = 0
        self.approximate = False
        self.version_health = (
            dict(health) if health is not None else {v: VersionHealth(v, 3, 3) for v in versions}
        )

    def _initial(self) -> dict[str, int]:
        return {v: 100 if i == 0 else 0 for i, v in enumerate(self.vers)}

    def _check(self) -> None:
        self.switch.check()
        if self.down:
            raise BackendUnavailable("fake traffic backend is down")

    def _split(self, service: str) -> dict[str, int]:
        return self.splits.setdefault(service, self._initial())

    @property
    def weights(self) -> dict[str, int]:
        """The first service's weights (tests with one service read and set them here)."""
        return self._split(self.service_names[0])

    @weights.setter
    def weights(self, weights: Mapping[str, int]) -> None:
        self.splits[self.service_names[0]] = dict(weights)

    def services(self) -> list[str]:
        self._check()
        return list(self.service_names)

    def versions(self, service: str) -> list[str]:
        self._check()
        return list(self.vers)

    def get_split(self, service: str) -> TrafficSplit:
        self._check()
        mirror_version, mirror_percent = self.mirrors.get(service, (None, 0))
        return TrafficSplit(
            weights=dict(self._split(service)),
            match_version=self.matches.get(service),
            mirror_version=mirror_version,
            mirror_percent=mirror_percent,
            approximate=self.approximate,
        )

    def set_split(self, service: str, weights: Mapping[str, int]) -> None:
        self._check()
        if self.fail_set_split > 0:
            self.fail_set_split -= 1
            raise BackendUnavailable("set_split refused (injected)")
        assert sum(weights.values()) == 100
        self.calls.append(("set_split", dict(weights)))
        self.splits[service] = {v: int(weights.get(v, 0)) for v in self.vers}

    def set_match(self, service: str, rules: Sequence[MatchRule], version: str | None) -> None:
        self._check()
        self.calls.append(("set_match", version))
        self.matches[service] = version

    def set_mirror(self, service: str, version: str | None, percent: int) -> None:
        self._check()
        self.calls.append(("set_mirror", (version, percent)))
        self.mirrors[service] = (version, percent)

    def health(self, service: str) -> dict[str, VersionHealth]:
        self._check()
        return dict(self.version_health)

    def deploy(self, service: str, version: str, instances: int) -> None:
        self._check()
        self.calls.append(("deploy", (version, instances)))

    def scale(self, service: str, version: str, instances: int) -> None:
        self._check()
        self.calls.append(("scale", (version, instances)))

    def retire(self, service: str, version: str) -> None:
        self._check()
        self.calls.append(("retire", version))


@dataclass(frozen=True)
class Answer:
    """What one version's metrics say: requests per second, error ratio, latencies (s)."""

    rate: float = 50.0
    error_ratio: float = 0.0
    p50: float = 0.01
    p95: float = 0.02
    p99: float = 0.03


HISTORY_WINDOW = 10.0  # seconds of traffic behind each point of the history


class FakeMetrics:
    """Every version answers its ``Answer`` (default: 50 req/s, no errors); ``errors``
    overrides a version's error ratio. History is the same answers as a smooth series (p50
    wobbles a little); custom queries are unsupported."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        answers: Mapping[str, Answer] | None = None,
        switch: Switch | None = None,
    ) -> None:
        self.clock = clock
        self.answers = dict(answers or {})
        self.switch = switch or Switch()
        self.errors: dict[str, float] = {}
        self.down = False

    def _check(self) -> None:
        self.switch.check()
        if self.down:
            raise BackendUnavailable("fake metrics are down")

    def _sample(self, version: str, at: float, window: float, wobble: float = 0.0) -> MetricSample:
        a = self.answers.get(version, Answer())
        return MetricSample(
            version=version,
            at=at,
            window=window,
            requests=a.rate * window,
            request_rate=a.rate,
            error_ratio=self.errors.get(version, a.error_ratio),
            p50=a.p50 + wobble,
            p95=a.p95,
            p99=a.p99,
        )

    def sample(
        self, service: str, versions: Sequence[str], window: float
    ) -> dict[str, MetricSample]:
        self._check()
        now = self.clock()
        return {v: self._sample(v, now, window) for v in versions}

    def history(
        self, service: str, versions: Sequence[str], since: float, step: float
    ) -> dict[str, list[MetricSample]]:
        self._check()
        n = int((self.clock() - since) // step)
        return {
            v: [
                self._sample(v, since + i * step, HISTORY_WINDOW, 0.005 * ((i % 7) - 3) / 3)
                for i in range(n)
            ]
            for v in versions
        }

    def query(
        self, service: str, versions: Sequence[str], template: str, window: float
    ) -> dict[str, float | None]:
        raise Unsupported("the fake metrics have no query language")


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


# What the console tests and the console benchmark show: v1 healthy, v2 a little worse and
# one instance short.
CONSOLE_ANSWERS = {
    "v1": Answer(rate=90.0, error_ratio=0.001, p50=0.020, p95=0.045, p99=0.080),
    "v2": Answer(rate=10.0, error_ratio=0.020, p50=0.025, p95=0.060, p99=0.120),
}
CONSOLE_HEALTH = {
    "v1": VersionHealth("v1", 3, 3),
    "v2": VersionHealth("v2", 2, 3, restarts=1, reasons=("v2-2: exit 1 (fault)",)),
}


def fake_env(
    state_dir: Path,
    services: Sequence[str] = ("courses", "enrollments", "grades"),
    *,
    clock: Callable[[], float] = lambda: T0,
    demo: bool = True,
) -> tuple[Environment, Switch]:
    """The console's environment: fake traffic and metrics (``CONSOLE_ANSWERS``, one switch
    for both) and a real file store under ``state_dir``; ``demo`` adds a fake demo control."""
    switch = Switch()
    env = Environment(
        name="demo" if demo else "fake",
        traffic=FakeTraffic(services, switch=switch, health=CONSOLE_HEALTH),
        metrics=FakeMetrics(clock, answers=CONSOLE_ANSWERS, switch=switch),
        store=FileStateStore(state_dir),
        description="demo" if demo else "fake",
        extras={"control": FakeControl()} if demo else {},
    )
    return env, switch
