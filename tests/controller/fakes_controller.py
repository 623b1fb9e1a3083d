"""In-memory traffic and metrics for many services, a fake clock, and a store wrapper that
"kills" its process at a chosen call: what the controller tests drive with the real file store.

``Killed`` is a BaseException, so no ``except Exception`` in the driver or the controller
catches it: raised from inside a tick it unwinds like a SIGKILL would stop the process (the
leases stay taken, nothing is released, half of the tick's work is done).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from backends.base import (
    AuditEntry,
    BackendUnavailable,
    Command,
    Environment,
    Lease,
    MatchRule,
    MetricSample,
    RolloutRecord,
    TrafficSplit,
    Unsupported,
    VersionHealth,
)
from backends.local.store import FileStateStore
from console.plan.load import parse_plan
from console.plan.model import Plan
from tests.support.clock import Clock

T0 = 1_800_000_000.0


class Killed(BaseException):
    """The simulated SIGKILL."""


class Fuse:
    """Counts I/O calls of one simulated process and kills it at call number ``at``."""

    def __init__(self, at: int | None = None) -> None:
        self.at = at
        self.calls = 0

    def burn(self) -> None:
        self.calls += 1
        if self.at is not None and self.calls >= self.at:
            self.at = None
            raise Killed()


class FakeTraffic:
    """Every service has versions v1 and v2, three ready instances each, v1 at 100 %."""

    name = "fake"

    def __init__(self, services: Sequence[str]) -> None:
        self.weights: dict[str, dict[str, int]] = {s: {"v1": 100, "v2": 0} for s in services}
        self.match: dict[str, str | None] = {s: None for s in services}
        self.mirror: dict[str, tuple[str | None, int]] = {s: (None, 0) for s in services}
        self.down: set[str] = set()  # services whose every call fails
        self.fuse = Fuse()
        self.log: list[tuple[float, str, dict[str, int]]] = []  # (time, service, weights)
        self.clock: Clock | None = None

    def _check(self, service: str) -> None:
        self.fuse.burn()
        if service in self.down:
            raise BackendUnavailable(f"{service}: fake backend down")

    def add(self, service: str) -> None:
        self.weights[service] = {"v1": 100, "v2": 0}
        self.match[service] = None
        self.mirror[service] = (None, 0)

    def services(self) -> list[str]:
        return sorted(self.weights)

    def versions(self, service: str) -> list[str]:
        return ["v1", "v2"]

    def get_split(self, service: str) -> TrafficSplit:
        self._check(service)
        return TrafficSplit(
            weights=dict(self.weights[service]),
            match_version=self.match[service],
            mirror_version=self.mirror[service][0],
            mirror_percent=self.mirror[service][1],
        )

    def set_split(self, service: str, weights: Mapping[str, int]) -> None:
        self._check(service)
        assert sum(weights.values()) == 100
        self.weights[service] = {v: int(weights.get(v, 0)) for v in ("v1", "v2")}
        at = self.clock() if self.clock is not None else 0.0
        self.log.append((at, service, dict(self.weights[service])))

    def set_match(self, service: str, rules: Sequence[MatchRule], version: str | None) -> None:
        self._check(service)
        self.match[service] = version

    def set_mirror(self, service: str, version: str | None, percent: int) -> None:
        self._check(service)
        self.mirror[service] = (version, percent)

    def health(self, service: str) -> dict[str, VersionHealth]:
        self._check(service)
        return {v: VersionHealth(v, ready=3, total=3) for v in ("v1", "v2")}

    def deploy(self, service: str, version: str, instances: int) -> None:
        self._check(service)

    def scale(self, service: str, version: str, instances: int) -> None:
        self._check(service)

    def retire(self, service: str, version: str) -> None:
        self._check(service)


class FakeMetrics:
    """50 req/s per version; ``errors[(service, version)]`` sets an error ratio."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.errors: dict[tuple[str, str], float] = {}

    def sample(
        self, service: str, versions: Sequence[str], window: float
    ) -> dict[str, MetricSample]:
        now = self.clock()
        return {
            v: MetricSample(
                version=v,
                at=now,
                window=window,
                requests=50.0 * window,
                request_rate=50.0,
                error_ratio=self.errors.get((service, v), 0.0),
                p50=0.01,
                p95=0.02,
                p99=0.03,
            )
            for v in versions
        }

    def history(self, service: str, versions: Sequence[str], since: float, step: float) -> dict:
        return {}

    def query(
        self, service: str, versions: Sequence[str], template: str, window: float
    ) -> dict[str, float | None]:
        raise Unsupported("no query language")


class FusedStore:
    """The real file store, with a ``Fuse`` burnt on every call (a kill between any two
    store operations: after a save and before its actions, mid-handover...)."""

    def __init__(self, inner: FileStateStore, fuse: Fuse) -> None:
        self.inner = inner
        self.fuse = fuse

    def _go(self, name: str, *args: Any) -> Any:
        self.fuse.burn()
        return getattr(self.inner, name)(*args)

    def services(self) -> list[str]:
        return self._go("services")

    def load(self, service: str) -> RolloutRecord | None:
        return self._go("load", service)

    def save(self, record: RolloutRecord, expected_revision: int) -> RolloutRecord:
        return self._go("save", record, expected_revision)

    def append_audit(self, entry: AuditEntry) -> None:
        self._go("append_audit", entry)

    def read_audit(self, service: str, limit: int | None = None) -> list[AuditEntry]:
        return self._go("read_audit", service, limit)

    def acquire_lease(self, service: str, holder: str, ttl: float) -> bool:
        return self._go("acquire_lease", service, holder, ttl)

    def renew(self, service: str, holder: str, ttl: float) -> bool:
        return self._go("renew", service, holder, ttl)

    def release(self, service: str, holder: str) -> None:
        self._go("release", service, holder)

    def lease(self, service: str) -> Lease | None:
        return self._go("lease", service)

    def stored_lease(self, service: str) -> Lease | None:
        return self._go("stored_lease", service)

    def post_command(self, command: Command) -> None:
        self._go("post_command", command)

    def take_commands(self, service: str) -> list[Command]:
        return self._go("take_commands", service)

    def peek_commands(self, service: str) -> list[Command]:
        return self._go("peek_commands", service)

    def ack_commands(self, service: str, keys: Collection[str]) -> None:
        self._go("ack_commands", service, keys)


PLAN = """\
service: {service}
strategy: canary
stable: v1
candidate: v2
steps:
{steps}
analysis:
  interval: 1s
  minRequests: 5
  failureLimit: 0
  metrics:
    - {{name: error-rate, max: 0.05}}
{extra}
"""

SHORT_STEPS = "  - setWeight: 20\n  - pause: 2s\n  - setWeight: 60\n  - pause: 2s"
LONG_STEPS = "\n".join(f"  - setWeight: {w}\n  - pause: 5s" for w in range(10, 100, 10))


def plan(service: str, steps: str = SHORT_STEPS, extra: str = "") -> Plan:
    return parse_plan(PLAN.format(service=service, steps=steps, extra=extra), f"{service}.yaml")


class World:
    """A fake clock, fake traffic and metrics for ``services``, and the real file store."""

    def __init__(self, directory: Path, services: Sequence[str] = ("courses",)) -> None:
        self.clock = Clock(T0)
        self.traffic = FakeTraffic(services)
        self.traffic.clock = self.clock
        self.metrics = FakeMetrics(self.clock)
        self.directory = directory
        self.store = FileStateStore(directory, clock=self.clock)

    def env(self, store: Any = None) -> Environment:
        return Environment("fake", self.traffic, self.metrics, store or self.store)
