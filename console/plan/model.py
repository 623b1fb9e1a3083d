"""The validated plan: plain frozen dataclasses, the shape every other module reads.

``console/plan.py`` turns YAML into these (with line-numbered errors); the engine, driver
and UI only ever see them. Durations and latencies are float seconds; weights and mirror
are integer percents. ``to_dict``/``from_dict`` round-trip through the rollout record so
a resumed driver runs exactly the plan that was started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from backends.base import MatchRule, Strategy

BUILTIN_METRICS = ("error-rate", "request-rate", "latency-p50", "latency-p95", "latency-p99")
LATENCY_METRICS = ("latency-p50", "latency-p95", "latency-p99")
# Built-in like the above, but counted from the latency histogram's buckets: the share of
# requests slower than the metric's ``slowerThan`` (not a MetricSample field).
SLOW_REQUESTS = "slow-requests"
# Metrics whose value is a share of requests (thresholds are ratios 0..1), and the ones the
# sequential test can judge: it counts requests, failed or slow.
RATIO_METRICS = ("error-rate", SLOW_REQUESTS)
SEQUENTIAL_METRICS = ("error-rate", SLOW_REQUESTS)
BASELINE_STABLE = "stable"
SEQUENTIAL = "sequential"
DEFAULT_ALPHA = 0.01
DEFAULT_PROGRESS_DEADLINE = 600.0  # 10 minutes, as in Argo Rollouts and Flagger


class OnFailure(StrEnum):
    ROLLBACK = "rollback"
    PAUSE = "pause"


@dataclass(frozen=True)
class MetricSpec:
    """One analysis metric: a built-in by name, or a custom ``query``; ``min`` and/or ``max``.

    Latency thresholds are seconds. A custom query may use ``{{service}}``, ``{{version}}``,
    ``{{namespace}}`` and ``{{window}}``.

    ``baseline: stable`` judges the candidate against the stable version: at most
    ``max_increase`` above it (the metric's unit) or ``max_ratio`` times it, over the same
    window; with ``test: sequential`` over every request since exposure began, with a false
    failure rate of at most ``alpha`` (console/analysis/sequential.py).
    """

    name: str
    min: float | None = None
    max: float | None = None
    query: str | None = None
    baseline: str | None = None  # BASELINE_STABLE, or None: the candidate's own numbers
    max_increase: float | None = None
    max_ratio: float | None = None
    test: str | None = None  # SEQUENTIAL, or None: each window on its own
    alpha: float = DEFAULT_ALPHA
    slower_than: float | None = None  # slow-requests: the latency bound, seconds

    @property
    def builtin(self) -> bool:
        return self.query is None

    @property
    def sequential(self) -> bool:
        return self.test == SEQUENTIAL

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "min": self.min,
            "max": self.max,
            "query": self.query,
        }
        # The comparison fields only when used: a metric without them stores as it always did.
        for key, value in (
            ("baseline", self.baseline),
            ("max_increase", self.max_increase),
            ("max_ratio", self.max_ratio),
            ("test", self.test),
            ("slower_than", self.slower_than),
        ):
            if value is not None:
                d[key] = value
        if self.test is not None:
            d["alpha"] = self.alpha
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MetricSpec:
        return cls(
            name=d["name"],
            min=d.get("min"),
            max=d.get("max"),
            query=d.get("query"),
            baseline=d.get("baseline"),
            max_increase=d.get("max_increase"),
            max_ratio=d.get("max_ratio"),
            test=d.get("test"),
            alpha=float(d.get("alpha", DEFAULT_ALPHA)),
            slower_than=d.get("slower_than"),
        )


@dataclass(frozen=True)
class AnalysisSpec:
    """How the candidate is judged while it takes traffic (docs/plan-reference.md)."""

    interval: float = 5.0
    window: float | None = None  # the measurement window; None means ``interval``
    min_requests: int = 20
    failure_limit: int = 0
    inconclusive_limit: int = 3
    consecutive_error_limit: int = 4
    on_failure: OnFailure = OnFailure.ROLLBACK
    metrics: tuple[MetricSpec, ...] = (MetricSpec(name="error-rate", max=0.05),)

    @property
    def effective_window(self) -> float:
        return self.window if self.window is not None else self.interval

    def to_dict(self) -> dict[str, Any]:
        return {
            "interval": self.interval,
            "window": self.window,
            "min_requests": self.min_requests,
            "failure_limit": self.failure_limit,
            "inconclusive_limit": self.inconclusive_limit,
            "consecutive_error_limit": self.consecutive_error_limit,
            "on_failure": str(self.on_failure),
            "metrics": [m.to_dict() for m in self.metrics],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AnalysisSpec:
        return cls(
            interval=float(d["interval"]),
            window=None if d.get("window") is None else float(d["window"]),
            min_requests=int(d["min_requests"]),
            failure_limit=int(d["failure_limit"]),
            inconclusive_limit=int(d["inconclusive_limit"]),
            consecutive_error_limit=int(d["consecutive_error_limit"]),
            on_failure=OnFailure(d["on_failure"]),
            metrics=tuple(MetricSpec.from_dict(m) for m in d["metrics"]),
        )


@dataclass(frozen=True)
class SetWeightStep:
    weight: int  # 0..100, the candidate's share

    def to_dict(self) -> dict[str, Any]:
        return {"setWeight": self.weight}


@dataclass(frozen=True)
class PauseStep:
    duration: float | None  # None: a manual gate that waits for ``promote``

    def to_dict(self) -> dict[str, Any]:
        return {"pause": {} if self.duration is None else {"duration": self.duration}}


Step = SetWeightStep | PauseStep


def step_from_dict(d: Mapping[str, Any]) -> Step:
    if "setWeight" in d:
        return SetWeightStep(weight=int(d["setWeight"]))
    pause = d["pause"] or {}
    dur = pause.get("duration")
    return PauseStep(duration=None if dur is None else float(dur))


@dataclass(frozen=True)
class BlueGreenSpec:
    """Blue/green: the candidate runs as a full preview pool, then takes all traffic at once.

    ``auto_promote``: None waits for ``promote`` after preview analysis passes; 0 switches
    as soon as it passes; a positive number switches that many seconds after it passes.
    """

    preview_analysis: AnalysisSpec | None = None
    auto_promote: float | None = None
    post_promotion_analysis: AnalysisSpec | None = None
    scale_down_delay: float = 30.0
    preview_duration: float = 30.0  # how long preview analysis runs before it can pass

    def to_dict(self) -> dict[str, Any]:
        return {
            "preview_analysis": self.preview_analysis and self.preview_analysis.to_dict(),
            "auto_promote": self.auto_promote,
            "post_promotion_analysis": self.post_promotion_analysis
            and self.post_promotion_analysis.to_dict(),
            "scale_down_delay": self.scale_down_delay,
            "preview_duration": self.preview_duration,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BlueGreenSpec:
        pa, ppa = d.get("preview_analysis"), d.get("post_promotion_analysis")
        return cls(
            preview_analysis=AnalysisSpec.from_dict(pa) if pa else None,
            auto_promote=d.get("auto_promote"),
            post_promotion_analysis=AnalysisSpec.from_dict(ppa) if ppa else None,
            scale_down_delay=float(d.get("scale_down_delay", 30.0)),
            preview_duration=float(d.get("preview_duration", 30.0)),
        )


@dataclass(frozen=True)
class RollingSpec:
    """Rolling update: instances replaced a batch at a time, readiness-gated."""

    instances: int | None = None  # None: as many as the stable version runs now
    max_surge: int = 1
    max_unavailable: int = 0
    min_ready: float = 5.0  # seconds a new instance must stay ready before it counts
    pause_between_batches: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "instances": self.instances,
            "max_surge": self.max_surge,
            "max_unavailable": self.max_unavailable,
            "min_ready": self.min_ready,
            "pause_between_batches": self.pause_between_batches,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RollingSpec:
        return cls(
            instances=d.get("instances"),
            max_surge=int(d.get("max_surge", 1)),
            max_unavailable=int(d.get("max_unavailable", 0)),
            min_ready=float(d.get("min_ready", 5.0)),
            pause_between_batches=float(d.get("pause_between_batches", 0.0)),
        )


class Goal(StrEnum):
    """Which way an experiment's primary metric is better."""

    LOWER = "lower"
    HIGHER = "higher"


@dataclass(frozen=True)
class Arm:
    """One arm of an experiment: a flag variant or a version, and its share of users."""

    name: str
    weight: int  # percent of users; the arms sum to 100

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Arm:
        return cls(name=str(d["name"]), weight=int(d["weight"]))


@dataclass(frozen=True)
class PrimaryMetric:
    """An experiment's primary metric: a built-in (``error-rate``, ``latency-p50/p95/p99``,
    ``slow-requests`` with ``slower_than``) or a business ``counter`` counted per request
    (``lms_enrollments_completed_total``); ``goal`` says which way is better."""

    name: str
    goal: Goal = Goal.LOWER
    counter: str | None = None  # the counter's metric name (name is then "counter")
    slower_than: float | None = None
    test: str | None = None  # SEQUENTIAL: stop as soon as the test decides
    alpha: float = 0.05

    @property
    def sequential(self) -> bool:
        return self.test == SEQUENTIAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "goal": str(self.goal),
            "counter": self.counter,
            "slower_than": self.slower_than,
            "test": self.test,
            "alpha": self.alpha,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PrimaryMetric:
        return cls(
            name=str(d["name"]),
            goal=Goal(d.get("goal", "lower")),
            counter=d.get("counter"),
            slower_than=d.get("slower_than"),
            test=d.get("test"),
            alpha=float(d.get("alpha", 0.05)),
        )


COUNTER_METRIC = "counter"  # PrimaryMetric.name of a business counter
EXPERIMENT_METRICS = ("error-rate", *LATENCY_METRICS, SLOW_REQUESTS, COUNTER_METRIC)


@dataclass(frozen=True)
class ExperimentSpec:
    """An A/B experiment: a fixed, sticky split between ``arms`` (the first is the control)
    for ``duration``, or until the primary metric's sequential test decides."""

    arms: tuple[Arm, ...]
    duration: float
    metric: PrimaryMetric
    min_requests: int = 100  # per arm, before any decision
    confidence: float = 0.95
    interval: float = 5.0  # how often the arms' numbers are read

    @property
    def control(self) -> str:
        return self.arms[0].name

    def to_dict(self) -> dict[str, Any]:
        return {
            "arms": [a.to_dict() for a in self.arms],
            "duration": self.duration,
            "metric": self.metric.to_dict(),
            "min_requests": self.min_requests,
            "confidence": self.confidence,
            "interval": self.interval,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExperimentSpec:
        return cls(
            arms=tuple(Arm.from_dict(a) for a in d["arms"]),
            duration=float(d["duration"]),
            metric=PrimaryMetric.from_dict(d["metric"]),
            min_requests=int(d.get("min_requests", 100)),
            confidence=float(d.get("confidence", 0.95)),
            interval=float(d.get("interval", 5.0)),
        )


@dataclass(frozen=True)
class Plan:
    """A validated rollout plan. ``source`` is the file it came from (for messages)."""

    service: str
    strategy: Strategy
    candidate: str
    stable: str | None = None  # None: the version serving 100% when the rollout starts
    steps: tuple[Step, ...] = ()
    analysis: AnalysisSpec | None = field(default_factory=AnalysisSpec)
    match: tuple[MatchRule, ...] = ()
    mirror: int = 0
    bluegreen: BlueGreenSpec | None = None
    rolling: RollingSpec | None = None
    webhooks: tuple[str, ...] = ()
    source: str = ""
    # A candidate not healthy within this many seconds of deployment, or unhealthy while it
    # takes traffic, triggers onFailure (the engine's health check).
    progress_deadline: float = DEFAULT_PROGRESS_DEADLINE
    # strategy flag (and experiment between flag variants): the flag whose variants are the
    # stable (its default variant) and the candidate; None: the arms are versions.
    flag: str | None = None
    experiment: ExperimentSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        d = self._base_dict()
        # Only when used: plans without them store exactly as they always did.
        if self.flag is not None:
            d["flag"] = self.flag
        if self.experiment is not None:
            d["experiment"] = self.experiment.to_dict()
        return d

    def _base_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "strategy": str(self.strategy),
            "candidate": self.candidate,
            "stable": self.stable,
            "steps": [s.to_dict() for s in self.steps],
            "analysis": self.analysis and self.analysis.to_dict(),
            "match": [m.to_dict() for m in self.match],
            "mirror": self.mirror,
            "bluegreen": self.bluegreen and self.bluegreen.to_dict(),
            "rolling": self.rolling and self.rolling.to_dict(),
            "webhooks": list(self.webhooks),
            "source": self.source,
            "progress_deadline": self.progress_deadline,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        return cls(
            service=d["service"],
            strategy=Strategy(d["strategy"]),
            candidate=d["candidate"],
            stable=d.get("stable"),
            steps=tuple(step_from_dict(s) for s in d.get("steps", [])),
            analysis=AnalysisSpec.from_dict(d["analysis"]) if d.get("analysis") else None,
            match=tuple(MatchRule.from_dict(m) for m in d.get("match", [])),
            mirror=int(d.get("mirror", 0)),
            bluegreen=BlueGreenSpec.from_dict(d["bluegreen"]) if d.get("bluegreen") else None,
            rolling=RollingSpec.from_dict(d["rolling"]) if d.get("rolling") else None,
            webhooks=tuple(d.get("webhooks", [])),
            source=d.get("source", ""),
            progress_deadline=float(d.get("progress_deadline", DEFAULT_PROGRESS_DEADLINE)),
            flag=d.get("flag"),
            experiment=ExperimentSpec.from_dict(d["experiment"]) if d.get("experiment") else None,
        )
