"""A simulated world for engine tests: instances, a split that follows the engine's actions,
metrics in a chosen mode, and invariant checks on every transition. Helpers only (imported
by the test_engine*.py files); test_engine_sim.py checks the simulator itself."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from backends.base import (
    Command,
    CommandKind,
    Deploy,
    MetricSample,
    Observation,
    Retire,
    RolloutRecord,
    Scale,
    SetMatch,
    SetMirror,
    SetSplit,
    Strategy,
    TrafficSplit,
    VersionHealth,
)
from console.engine import machine as engine
from console.engine.machine import Transition
from console.plan.model import (
    AnalysisSpec,
    BlueGreenSpec,
    MetricSpec,
    PauseStep,
    Plan,
    RollingSpec,
    SetWeightStep,
)

T0 = 1_000.0
METRIC_MODES = ("pass", "fail", "low", "missing", "none", "nan", "error")


def sample(version: str, mode: str = "pass", at: float = T0) -> MetricSample | None:
    """A candidate sample that passes, fails, is thin, or has no values, per ``mode``."""
    if mode == "pass":
        return MetricSample(version, at, 5.0, 100.0, 20.0, 0.0, 0.02, 0.05, 0.1)
    if mode == "fail":
        return MetricSample(version, at, 5.0, 100.0, 0.1, 0.5, 0.5, 1.5, 2.0)
    if mode == "low":
        return MetricSample(version, at, 5.0, 3.0, 0.6, 0.0, 0.02, 0.05, 0.1)
    if mode == "none":
        return MetricSample(version, at, 5.0, 100.0, None, None, None, None, None)
    if mode == "nan":
        nan = float("nan")
        return MetricSample(version, at, 5.0, 100.0, nan, nan, nan, nan, nan)
    return None  # "missing": the version has no sample at all


CUSTOM = {"pass": 0.99, "fail": 0.1, "low": 0.99, "none": None, "nan": float("nan")}


def health(version: str, ready: int, total: int) -> VersionHealth:
    return VersionHealth(version, ready, total)


def cmd(kind: str, user: str = "alice", host: str = "laptop", reason: str = "") -> Command:
    return Command(CommandKind(kind), "courses", user=user, host=host, reason=reason)


def metrics_spec(**kw: Any) -> AnalysisSpec:
    base: dict[str, Any] = dict(
        interval=5.0,
        min_requests=20,
        failure_limit=1,
        inconclusive_limit=3,
        consecutive_error_limit=4,
        metrics=(MetricSpec("error-rate", max=0.05), MetricSpec("latency-p99", max=0.4)),
    )
    base.update(kw)
    return AnalysisSpec(**base)


def canary_plan(steps: tuple[Any, ...] | None = None, **kw: Any) -> Plan:
    if steps is None:
        steps = (SetWeightStep(10), PauseStep(30.0), SetWeightStep(50), PauseStep(None))
    kw.setdefault("analysis", metrics_spec())
    return Plan(
        service="courses", strategy=Strategy.CANARY, candidate="v2", stable="v1", steps=steps, **kw
    )


def bluegreen_plan(**kw: Any) -> Plan:
    bg = kw.pop("bluegreen", BlueGreenSpec())
    return Plan(
        service="courses",
        strategy=Strategy.BLUEGREEN,
        candidate="v2",
        stable="v1",
        analysis=None,
        bluegreen=bg,
        **kw,
    )


def rolling_plan(rolling: RollingSpec | None = None, **kw: Any) -> Plan:
    kw.setdefault("analysis", metrics_spec())
    return Plan(
        service="courses",
        strategy=Strategy.ROLLING,
        candidate="v2",
        stable="v1",
        rolling=rolling or RollingSpec(min_ready=0.0),
        **kw,
    )


@dataclass
class World:
    """Instances and routing of one service, driven by the engine's actions."""

    stable: str = "v1"
    candidate: str = "v2"
    total: dict[str, int] = field(default_factory=lambda: {"v1": 3, "v2": 3})
    # Per version: "all" instances ready, "none", or "partial" (all but one).
    readiness: dict[str, str] = field(default_factory=lambda: {"v1": "all", "v2": "all"})
    weights: dict[str, int] = field(default_factory=lambda: {"v1": 100})
    match_version: str | None = None
    mirror: tuple[str | None, int] = (None, 0)
    metrics_mode: str = "pass"
    drop_actions: bool = False  # simulate a backend that fails to apply
    lose: int = 0  # the next this many sizing actions never land (driver died before applying)
    report_desired: bool = False  # health carries `desired`, as both real backends report it

    def ready(self, v: str) -> int:
        n = self.total.get(v, 0)
        mode = self.readiness.get(v, "all")
        return n if mode == "all" else 0 if mode == "none" else max(0, n - 1)

    def health(self) -> dict[str, VersionHealth]:
        if self.report_desired:
            return {v: VersionHealth(v, self.ready(v), n, desired=n) for v, n in self.total.items()}
        return {v: health(v, self.ready(v), n) for v, n in self.total.items()}

    def observe(self, now: float) -> Observation:
        split = TrafficSplit(
            weights=dict(self.weights),
            match_version=self.match_version,
            mirror_version=self.mirror[0],
            mirror_percent=self.mirror[1],
        )
        mode = self.metrics_mode
        if mode == "error":
            return Observation(
                at=now,
                health=self.health(),
                split=split,
                metrics=None,
                metrics_error="connection refused",
            )
        metrics = {}
        for v in (self.stable, self.candidate):
            s = sample(v, mode if v == self.candidate else "pass", now)
            if s is not None:
                metrics[v] = s
        custom = {"checkout-ok": {self.candidate: CUSTOM.get(mode), self.stable: 0.99}}
        return Observation(
            at=now, health=self.health(), split=split, metrics=metrics, custom=custom
        )

    def apply(self, t: Transition, obs: Observation | None, strategy: Strategy) -> None:
        """Check every action against the invariants, then apply it."""
        for a in t.actions:
            if isinstance(a, SetSplit):
                check_split(a.weights, obs, t.record, strategy)
            if self.drop_actions:
                continue
            if self.lose > 0 and isinstance(a, Deploy | Scale | Retire):
                self.lose -= 1
                continue
            if isinstance(a, SetSplit):
                self.weights = {k: v for k, v in a.weights.items()}
            elif isinstance(a, SetMatch):
                self.match_version = a.version
            elif isinstance(a, SetMirror):
                self.mirror = (a.version, a.percent)
            elif isinstance(a, Deploy | Scale):
                self.total[a.version] = a.instances
            elif isinstance(a, Retire):
                self.total[a.version] = 0

    def on_one(self) -> str | None:
        """The version holding 100% of the traffic, if exactly one does."""
        full = [v for v, w in self.weights.items() if w == 100]
        rest = [v for v, w in self.weights.items() if 0 < w < 100]
        return full[0] if len(full) == 1 and not rest else None


def check_split(
    weights: Any, obs: Observation | None, rec: RolloutRecord, strategy: Strategy
) -> None:
    assert all(isinstance(w, int) and 0 <= w <= 100 for w in weights.values()), weights
    assert sum(weights.values()) == 100, weights
    if strategy is Strategy.FLAG and rec.phase.terminal:
        return  # a flag goes back to its default variant at once: variants are not pools
    assert obs is not None, "a SetSplit without an observation cannot be health-checked"
    for v, w in weights.items():
        if w > 0:
            h = obs.health.get(v)
            assert h is not None and h.ready > 0, f"weight {w} to unready {v}: {h}"
            if strategy is not Strategy.ROLLING and v == rec.candidate:
                assert h.all_ready, f"weight {w} to not-all-ready candidate {v}: {h}"


def check_record(rec: RolloutRecord) -> None:
    d = rec.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = RolloutRecord.from_dict(json.loads(text))
    assert back.to_dict() == json.loads(text)
    assert len(rec.events) <= 200
    for e in rec.events:
        assert e.kind and e.message


class Sim:
    """Runs the engine against a World, checking invariants at every transition."""

    def __init__(self, plan: Plan, world: World | None = None, now: float = T0) -> None:
        self.plan = plan
        self.world = world or World()
        self.now = now
        self.record: RolloutRecord | None = None
        self.transitions: list[Transition] = []
        self.check = True  # round-trip every record through JSON (slow for long runs)

    @property
    def rec(self) -> RolloutRecord:
        assert self.record is not None
        return self.record

    def _take(self, t: Transition, obs: Observation | None) -> Transition:
        self.world.apply(t, obs, self.plan.strategy)
        if self.check:
            check_record(t.record)
        if t.record.phase.terminal:
            assert not t.record.engine.get("match_on") and not t.record.engine.get("mirror_on")
        self.record = t.record
        self.transitions.append(t)
        return t

    def start(self) -> Transition:
        obs = self.world.observe(self.now)
        return self._take(engine.start(self.plan, obs, self.now), obs)

    def tick(
        self, dt: float = 1.0, command: Command | None = None, observe: bool = True
    ) -> Transition:
        self.now += dt
        obs = self.world.observe(self.now) if observe else None
        return self._take(engine.step(self.rec, self.plan, obs, command, self.now), obs)

    def command(self, kind: str, **kw: Any) -> Transition:
        return self.tick(0.0, cmd(kind, **kw))

    def run(self, seconds: float, dt: float = 1.0) -> None:
        for _ in range(int(seconds / dt)):
            self.tick(dt)

    def run_until(self, pred: Any, limit: int = 500, dt: float = 1.0) -> None:
        for _ in range(limit):
            if pred(self):
                return
            self.tick(dt)
        raise AssertionError(f"not reached in {limit} ticks: {self.rec.phase} {self.rec.message}")

    def kinds(self) -> list[str]:
        return [e.kind for t in self.transitions for e in t.events]

    def messages(self, kind: str | None = None) -> list[str]:
        return [e.message for t in self.transitions for e in t.events if kind in (None, e.kind)]

    def actions(self) -> list[Any]:
        return [a for t in self.transitions for a in t.actions]

    def splits(self) -> list[dict[str, int]]:
        return [dict(a.weights) for a in self.actions() if isinstance(a, SetSplit)]
