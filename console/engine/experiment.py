"""Experiment: a fixed, sticky split between arms for a duration (or until the primary
metric's sequential test decides), then a report. Pure (on ``Ctx``).

The record's ``stable`` is the control (the first arm) and its ``candidate`` the first
treatment; ``weights`` hold every arm. Arms are flag variants (the driver sends the split to
the FlagBackend: fractional by user, so sticky by construction) or versions (a traffic split
keyed by user where the backend has one).

Sub-phases (``EngineState.sub``), one handler each in ``SUB_PHASES``:

- ``init``: wait until every arm can serve (a ready instance; version arms all ready), set
  the arms' split and start the clock (``step_started_at``). Pending until then.
- ``running``: every ``interval`` read each arm's totals since the split was set (the
  driver reads one metrics window reaching back to it, ``window``: requests, failed and
  slow ones, the business counter, the latency histogram); the growth since the last read
  feeds the sequential test where the metric has one. Ends when ``duration`` is up, or when every
  treatment's sequential test decided and every arm has ``minRequests``; ``promote`` ends it
  now.
- the end: ``judge`` writes the report (arm, users, requests, metric with its confidence
  interval, the decision and why) into ``engine["experiment"]["report"]``, the completed
  event carries it, and every user goes back to the control arm: Completed.

``abort`` also goes back to the control, with a report of what was counted until then.
The state lives in ``engine["experiment"]`` (``ExperimentState``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backends.base import MetricSample, Phase, SetSplit
from console.analysis import experiment as stats
from console.analysis.sequential import Outcome, SequentialTest
from console.analysis.slow import slow_requests
from console.engine.context import Ctx, SubPhase, health_text, run_sub_phases, split_text
from console.plan.model import COUNTER_METRIC, ExperimentSpec

KEY = "experiment"  # engine[KEY]
COUNTER_KEY = "experiment-counter"  # Observation.custom[COUNTER_KEY][arm]: counter increments
USERS_KEY = "experiment-users"  # Observation.custom[USERS_KEY][arm]: distinct users so far


@dataclass
class ExperimentState:
    """The experiment's bookkeeping in ``engine["experiment"]``."""

    counts: dict[str, stats.ArmCounts] = field(default_factory=dict)
    started: float | None = None  # when the arms' split was set
    read_at: float | None = None  # when the arms' numbers were last read
    tests: dict[str, SequentialTest] = field(default_factory=dict)  # per treatment
    decided: dict[str, str] = field(default_factory=dict)  # treatment -> higher/lower
    report: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> ExperimentState:
        d = d or {}
        return cls(
            counts={k: stats.ArmCounts.from_dict(v) for k, v in d.get("counts", {}).items()},
            started=d.get("started"),
            read_at=d.get("read_at"),
            tests={k: SequentialTest.from_dict(v) for k, v in d.get("tests", {}).items()},
            decided=dict(d.get("decided", {})),
            report=d.get("report"),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "counts": {k: v.to_dict() for k, v in self.counts.items()},
            "started": self.started,
            "read_at": self.read_at,
            "decided": dict(self.decided),
        }
        if self.tests:
            d["tests"] = {k: v.to_dict() for k, v in self.tests.items()}
        if self.report is not None:
            d["report"] = self.report
        return d


def spec_of(ctx: Ctx) -> ExperimentSpec:
    x = ctx.plan.experiment
    assert x is not None, "an experiment record without its spec"
    return x


def state_of(ctx: Ctx) -> ExperimentState:
    return ExperimentState.from_dict(ctx.eng.extra.get(KEY))


def _save(ctx: Ctx, st: ExperimentState) -> None:
    ctx.eng.extra[KEY] = st.to_dict()


def init(ctx: Ctx) -> None:
    ctx.eng.sub = "init"
    ctx.eng.extra.pop(KEY, None)


def advance(ctx: Ctx) -> None:
    """Count, then start, run or end the experiment as time and health allow."""
    if ctx.eng.sub == "running" and not ctx.eng.rollback:
        _count(ctx)
    if ctx.eng.rollback:
        _end(ctx, ended_by="abort")
        return
    run_sub_phases(ctx, SUB_PHASES, limit=4)


def _init(ctx: Ctx) -> bool:
    """Once every arm can serve, set the arms' split and start the clock."""
    if ctx.obs is None:
        return False
    x = spec_of(ctx)
    versions = ctx.plan.flag is None
    for arm in x.arms:
        h = ctx.health(arm.name)
        if h is None or h.ready <= 0 or (versions and not h.all_ready):
            what = health_text(h, arm.name)
            if h is None and not versions:
                what = f"flag {ctx.plan.flag} has no variant {arm.name}"
            ctx.notice("health", "health", f"waiting before the experiment starts: {what}")
            return False
    split = {a.name: a.weight for a in x.arms}
    if not ctx.try_split(split, "experiment split"):
        return False
    ctx.begin_traffic()
    ctx.step_started_at = ctx.now
    _save(ctx, ExperimentState(started=ctx.now, read_at=ctx.now))
    ctx.eng.sub = "running"
    ctx.message = f"experiment running: {split_text(split)} for {x.duration:g}s"
    ctx.event("step", f"experiment started: {split_text(split)}", arms=split)
    return True


def _running(ctx: Ctx) -> bool:
    """End when the duration is up, or when the sequential tests decided."""
    x = spec_of(ctx)
    st = state_of(ctx)
    if ctx.now >= ctx.step_started_at + x.duration:
        _count(ctx, force=True)  # the totals up to the end
        _end(ctx, ended_by="duration")
        return False
    treatments = [a.name for a in x.arms[1:]]
    enough = all(
        st.counts.get(a.name, stats.ArmCounts()).requests >= x.min_requests for a in x.arms
    )
    if x.metric.sequential and enough and all(t in st.decided for t in treatments):
        _end(ctx, ended_by="sequential test")
    return False


SUB_PHASES: dict[str, SubPhase] = {"init": _init, "running": _running}


def promote(ctx: Ctx, full: bool, who: str) -> None:
    """``promote`` ends the experiment now, judged on what was counted so far."""
    if ctx.phase is Phase.PAUSED:
        ctx.unpause()
    if ctx.eng.sub != "running":
        ctx.event("command", f"promote by {who}: the experiment has not started yet")
        return
    _count(ctx, force=True)
    ctx.event("promoted", f"promote by {who}: ending the experiment now")
    _end(ctx, ended_by=f"promote by {who}")


# --------------------------------------------------------------------------- counting


def arm_counts(
    sample: MetricSample | None,
    counter: float | None,
    slower_than: float | None,
) -> stats.ArmCounts | None:
    """One arm's window as counts; None when the sample has no request count."""
    if sample is None or sample.requests is None:
        return None
    requests = float(sample.requests)
    failures = (
        float(sample.failures)
        if sample.failures is not None
        else float(sample.error_ratio or 0.0) * requests
    )
    slow = 0.0
    if slower_than is not None and sample.latency_buckets is not None:
        s = slow_requests(sample.latency_buckets, slower_than)
        slow = s.slow if s is not None else 0.0
    return stats.ArmCounts(
        requests=requests,
        failures=failures,
        slow=slow,
        events=float(counter or 0.0),
        buckets=tuple(sample.latency_buckets or ()),
    )


def _users(ctx: Ctx) -> dict[str, int]:
    obs = ctx.obs
    if obs is None:
        return {}
    got = obs.custom.get(USERS_KEY) or {}
    return {k: int(v) for k, v in got.items() if v is not None}


def window(record_engine: Mapping[str, Any], started_at: float, now: float) -> float | None:
    """The metrics window the driver should read for an experiment: everything since its
    split was set (so each read holds the experiment's totals so far), or None before."""
    st = (record_engine or {}).get(KEY)
    if not st or st.get("started") is None:
        return None
    return max(1.0, now - float(st["started"]))


def _count(ctx: Ctx, force: bool = False) -> None:
    """Every ``interval`` (or now if forced): each arm's totals since the experiment began
    (the driver reads one window over all of it, so requests are counted exactly once),
    and the new part of them for the sequential tests."""
    obs = ctx.obs
    x = spec_of(ctx)
    st = state_of(ctx)
    if obs is None or obs.metrics is None:
        return
    if not force and st.read_at is not None and ctx.now - st.read_at < x.interval:
        return
    counters = obs.custom.get(COUNTER_KEY) or {}
    if x.metric.counter is not None and any(counters.get(a.name) is None for a in x.arms):
        # Without the counter the report would read 0 for it: keep the last good read.
        why = obs.metrics_error or "no value for some arm"
        ctx.notice("counter", "metrics-error", f"cannot read {x.metric.counter} per arm: {why}")
        return
    users = _users(ctx)
    fresh: dict[str, stats.ArmCounts] = {}
    totals: dict[str, stats.ArmCounts] = {}
    for a in x.arms:
        c = arm_counts(obs.metrics.get(a.name), counters.get(a.name), x.metric.slower_than)
        if c is None:
            return  # an arm without numbers this time: read again next tick
        if a.name in users:
            c = dataclasses.replace(c, users=users[a.name])
        old = st.counts.get(a.name, stats.ArmCounts())
        fresh[a.name] = stats.ArmCounts(
            requests=max(0.0, c.requests - old.requests),
            failures=max(0.0, c.failures - old.failures),
            slow=max(0.0, c.slow - old.slow),
            events=max(0.0, c.events - old.events),
        )
        totals[a.name] = c
    covered = min((s.window for s in obs.metrics.values() if s is not None), default=None)
    if covered is not None and st.started is not None and covered + 1.0 < ctx.now - st.started:
        ctx.notice(
            "window",
            "analysis",
            f"the metrics source covers only the last {covered:g}s of this experiment: "
            "its totals count only those",
        )
    st.counts = totals
    st.read_at = ctx.now
    if x.metric.sequential:
        _feed(x, st, fresh, 1.0)
    _save(ctx, st)


def _numerator(metric: str, c: stats.ArmCounts) -> float:
    if metric == "error-rate":
        return c.failures
    if metric == COUNTER_METRIC:
        return c.events
    return c.slow


def _feed(
    x: ExperimentSpec, st: ExperimentState, fresh: Mapping[str, stats.ArmCounts], share: float
) -> None:
    """Each treatment's test against the control; alpha split over the treatments."""
    control = fresh.get(x.control)
    if control is None:
        return
    treatments = [a.name for a in x.arms[1:]]
    alpha = x.metric.alpha / len(treatments)
    for t in treatments:
        c = fresh.get(t)
        if c is None or t in st.decided:
            continue
        test = st.tests.get(t) or SequentialTest(max_ratio=1.0, max_increase=0.0, alpha=alpha)
        test = test.update(
            c.requests * share,
            _numerator(x.metric.name, c) * share,
            control.requests * share,
            _numerator(x.metric.name, control) * share,
        )
        st.tests[t] = test
        outcome = test.evidence().outcome
        if outcome is Outcome.REGRESSION:
            st.decided[t] = "higher"
        elif outcome is Outcome.WITHIN:
            st.decided[t] = "lower"


# --------------------------------------------------------------------------- the end


def _end(ctx: Ctx, *, ended_by: str) -> None:
    """Judge, keep the report, put every user back on the control: Completed (Aborted)."""
    x = spec_of(ctx)
    st = state_of(ctx)
    report = stats.judge(
        x,
        st.counts,
        sequential=st.decided,
        ended_by=ended_by,
        started_at=ctx.step_started_at if ctx.eng.traffic_started else None,
        ended_at=ctx.now,
    )
    st.report = report.to_dict()
    _save(ctx, st)
    back = {a.name: 0 for a in x.arms}
    back[x.control] = 100
    if {k: v for k, v in back.items() if v} != {k: v for k, v in ctx.weights.items() if v}:
        before = dict(ctx.weights)
        ctx.weights = back
        ctx.actions.append(SetSplit(dict(back)))
        ctx.eng.split_at = ctx.now
        ctx.event("weight", f"{split_text(back)}: experiment over", weights=back, before=before)
        ctx.engine_audit("set-split", "experiment over", weights=back, before=before)
    rb = ctx.eng.rollback
    phase = rb.target if rb is not None else Phase.COMPLETED
    head = f"{rb.reason}: " if rb is not None else ""
    text = f"{head}experiment over ({ended_by}): {report.decision}: {report.why}"
    ctx.engine_audit("experiment-report", text, report=report.to_dict())
    ctx.finish(phase, text, "aborted" if rb is not None else "completed")
    ctx.event("report", f"experiment report: {report.decision}", report=report.to_dict())
