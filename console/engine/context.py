"""Shared machinery of the engine: the working context, health-gated splits, analysis,
pauses and rollback bookkeeping, and the runner of the strategies' sub-phase tables. The
strategies (``canary``, ``bluegreen``, ``rolling``) build on these; ``machine.py`` is the
public face.

Everything is pure: the context copies the record, collects actions, events and audit
entries, and builds the new record at the end. Nothing here reads a clock.

The analysis, pause and rollback rules are one file because each refers to the others'
bookkeeping (``record.engine``, typed in ``state.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from backends.base import (
    Action,
    AuditEntry,
    Deploy,
    Event,
    Observation,
    Phase,
    Retire,
    RolloutRecord,
    Scale,
    SetMatch,
    SetMirror,
    SetSplit,
    Strategy,
    VersionHealth,
)
from console.analysis import verdicts as analysis
from console.analysis.verdicts import Counters, Decision, Measurement, Status
from console.engine.state import AnalysisState, EngineState, Notice, Pause, Rollback, Sizing
from console.plan.model import AnalysisSpec, OnFailure, Plan

MAX_EVENTS = 200  # record.events keeps the most recent ones only
NOTICE_REPEAT = 30.0  # seconds before the same waiting notice (health, evidence) repeats


@dataclass(frozen=True)
class Transition:
    """One engine step: the new record, the actions to apply in order, events and audit."""

    record: RolloutRecord
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
    audit: tuple[AuditEntry, ...] = ()


def count_text(n: int, noun: str) -> str:
    """'1 step', '3 steps'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def split_text(weights: Mapping[str, int]) -> str:
    """'v1 90 / v2 10' for messages."""
    return " / ".join(f"{v} {w}" for v, w in weights.items()) or "nothing"


def health_text(h: VersionHealth | None, version: str) -> str:
    if h is None:
        return f"{version}: no instances reported"
    text = f"{version} {h.ready}/{h.total} ready"
    if h.reasons:
        text += f" ({'; '.join(h.reasons[:2])})"
    return text


class Ctx:
    """A mutable working copy of a record plus what one engine call produces."""

    def __init__(
        self, record: RolloutRecord, plan: Plan, obs: Observation | None, now: float
    ) -> None:
        self.plan = plan
        self.obs = obs
        self.now = now
        self.service = record.service
        self.strategy = record.strategy
        self.stable = record.stable
        self.candidate = record.candidate
        self.phase = record.phase
        self.step_index = record.step_index
        self.step_started_at = record.step_started_at
        self.weights: dict[str, int] = {str(k): int(v) for k, v in record.weights.items()}
        self.message = record.message
        self.started_at = record.started_at
        self.revision = record.revision
        self.plan_dict = dict(record.plan)
        self.eng = EngineState.from_dict(record.engine)
        self.old_events = record.events
        self.actions: list[Action] = []
        self.events: list[Event] = []
        self.audit: list[AuditEntry] = []

    # ---------------------------------------------------------------- output

    def event(self, kind: str, message: str, **data: Any) -> None:
        """An event; its data always carries the phase, step and weights at that moment
        (health events also the ready/total counts)."""
        full: dict[str, Any] = {
            "phase": str(self.phase),
            "step": self.step_index,
            "weights": dict(self.weights),
        }
        if kind == "health" and self.obs is not None:
            full["health"] = {
                v: {"ready": h.ready, "total": h.total}
                for v, h in self.obs.health.items()
                if v in (self.stable, self.candidate)
            }
        full.update(data)
        self.events.append(Event(self.now, self.service, kind, message, full))

    def engine_audit(self, action: str, reason: str, **data: Any) -> None:
        self.audit.append(AuditEntry(self.now, self.service, "engine", action, reason, data=data))

    def notice(self, key: str, kind: str, message: str, **data: Any) -> None:
        """An event for a condition that persists (waiting on health or evidence):
        emitted when it changes, and again every NOTICE_REPEAT seconds at most."""
        if self.eng.notices is None:
            self.eng.notices = {}
        last = self.eng.notices.get(key)
        if last and last.message == message and self.now - last.at < NOTICE_REPEAT:
            return
        self.eng.notices[key] = Notice(message, self.now)
        if (
            key == "health"
            and not self.phase.terminal
            and self.phase is not Phase.PAUSED
            and not self.eng.rollback
        ):
            self.message = message  # what the rollout waits for is its state now
        self.event(kind, message, **data)

    def clear_notice(self, key: str) -> None:
        if self.eng.notices is not None:
            self.eng.notices.pop(key, None)

    def build(self) -> Transition:
        self._remember_sizes()
        events = (*self.old_events, *self.events)[-MAX_EVENTS:]
        record = RolloutRecord(
            service=self.service,
            strategy=self.strategy,
            stable=self.stable,
            candidate=self.candidate,
            phase=self.phase,
            plan=self.plan_dict,
            step_index=self.step_index,
            step_started_at=self.step_started_at,
            weights=dict(self.weights),
            message=self.message,
            started_at=self.started_at,
            updated_at=self.now,
            revision=self.revision,
            engine=self.eng.to_dict(),
            events=events,
        )
        return Transition(record, tuple(self.actions), tuple(self.events), tuple(self.audit))

    def _remember_sizes(self) -> None:
        """What each version was last sized to (and how), so a sizing action that never
        landed (the driver died between saving and applying) can be applied again."""
        sizes = dict(self.eng.sizes or {})
        for a in self.actions:
            if isinstance(a, Deploy | Scale):
                sizes[a.version] = Sizing(a.instances, type(a).__name__)
            elif isinstance(a, Retire):
                sizes[a.version] = Sizing(0, "Retire")
            else:
                continue
            self.eng.sized_at = self.now
        if sizes:
            self.eng.sizes = sizes

    # ---------------------------------------------------------------- health

    def health(self, version: str) -> VersionHealth | None:
        if self.obs is None:
            return None
        return self.obs.health.get(version)

    def known_total(self, version: str) -> int | None:
        """The version's instance count (0 if the backend does not know it), or None when
        health could not be read this tick: never size anything on a failed read."""
        if self.obs is None or self.obs.traffic_error or not self.obs.health:
            return None
        h = self.obs.health.get(version)
        return h.total if h is not None else 0

    def ready(self, version: str) -> int:
        h = self.health(version)
        return h.ready if h is not None else 0

    def all_ready(self, version: str) -> bool:
        h = self.health(version)
        return h is not None and h.all_ready

    def exposed(self) -> bool:
        """Does the candidate take any real traffic (weight, match routes or mirror)?"""
        return self.weights.get(self.candidate, 0) > 0 or self.eng.match_on or self.eng.mirror_on

    def took_traffic(self) -> bool:
        """Has the candidate taken any traffic in this attempt (a split gave it weight, match
        routes or mirroring reached it)? If not, a rollback has nothing to move."""
        return self.eng.took_traffic or self.exposed()

    def full_split(self, version: str) -> dict[str, int]:
        w = {self.stable: 0, self.candidate: 0}
        w[version] = 100
        return w

    def on_version(self, version: str) -> bool:
        """Is all of the traffic already on ``version`` (as far as the engine set it)?"""
        return self.weights.get(version, 0) == 100

    def try_split(
        self, weights: Mapping[str, int], why: str, *, all_ready: tuple[str, ...] = ()
    ) -> bool:
        """Emit SetSplit(weights) if every version given weight is ready (and the ones in
        ``all_ready`` fully ready); otherwise emit a health notice and return False."""
        w = {str(k): int(v) for k, v in weights.items()}
        assert sum(w.values()) == 100 and all(0 <= v <= 100 for v in w.values()), w
        if {k: v for k, v in w.items() if v} == {k: v for k, v in self.weights.items() if v}:
            self.weights = w
            return True
        if self.obs is None:
            return False  # no health to check against: the next tick with an observation will
        blocked = []
        for version, weight in w.items():
            if weight <= 0:
                continue
            h = self.health(version)
            if h is None or h.ready <= 0 or (version in all_ready and not h.all_ready):
                blocked.append(health_text(h, version))
        if blocked:
            self.notice(
                "health",
                "health",
                f"waiting before {split_text(w)} ({why}): {', '.join(blocked)}",
                weights=w,
                blocked=blocked,
            )
            return False
        self.clear_notice("health")
        before = dict(self.weights)
        self.weights = w
        self.actions.append(SetSplit(dict(w)))
        self.eng.split_at = self.now
        if w.get(self.candidate, 0) > 0:
            self.eng.took_traffic = True
        self.event("weight", f"{split_text(w)}: {why}", weights=w, before=before)
        self.engine_audit("set-split", why, weights=w, before=before)
        self.exposure_changed()
        return True

    # ---------------------------------------------------------------- candidate routes

    def apply_routes(self) -> None:
        """Match routes and mirroring to the candidate, as the plan asks."""
        if self.plan.match and not self.eng.match_on:
            self.actions.append(SetMatch(tuple(self.plan.match), self.candidate))
            self.eng.match_on = True
            self.eng.took_traffic = True
            self.event(
                "step",
                f"match routes ({len(self.plan.match)}) now reach {self.candidate}",
                rules=[m.to_dict() for m in self.plan.match],
            )
            self.exposure_changed()
        if self.plan.mirror > 0 and not self.eng.mirror_on:
            self.actions.append(SetMirror(self.candidate, self.plan.mirror))
            self.eng.mirror_on = True
            self.eng.took_traffic = True
            self.event(
                "step",
                f"mirroring {self.plan.mirror}% of requests to {self.candidate}",
                percent=self.plan.mirror,
            )
            self.exposure_changed()

    def clear_routes(self) -> None:
        """Match routes cleared, mirroring off (only removes traffic from the candidate)."""
        if self.eng.match_on:
            self.eng.match_on = False
            self.actions.append(SetMatch((), None))
        if self.eng.mirror_on:
            self.eng.mirror_on = False
            self.actions.append(SetMirror(None, 0))

    # ---------------------------------------------------------------- analysis

    def exposure_changed(self) -> None:
        """The candidate's exposure changed: only measurements whose whole window lies after
        now count as evidence. The first exposure also starts the measurement clock; later
        ones leave it alone, so weights that follow flapping readiness never starve analysis.
        """
        self.eng.exposure_at = self.now
        if self.eng.analysis is None:
            self.eng.analysis = AnalysisState()
        if self.eng.analysis.interval_start is None:
            self.eng.analysis.interval_start = self.now

    def analysis_state(self, stage: str) -> AnalysisState:
        a = self.eng.analysis or AnalysisState()
        if a.stage != stage:
            # A new stage starts from scratch; the measurement clock keeps the time of the
            # latest exposure change (set before the stage's first measurement).
            start = a.interval_start if a.interval_start is not None else self.now
            a = AnalysisState(stage=stage, interval_start=start)
            self.eng.counters = Counters()
        self.eng.analysis = a
        return a

    def run_analysis(self, spec: AnalysisSpec | None, stage: str, exposed: bool) -> None:
        """Measure when due; count; roll back or pause when a limit is reached."""
        if spec is None or self.eng.rollback:
            return
        if not exposed:
            # Nothing to measure; the clock starts again with the next exposure.
            if self.eng.analysis is not None:
                self.eng.analysis.interval_start = None
            return
        if self.obs is None:
            return
        a = self.analysis_state(stage)
        if a.interval_start is not None and self.now - a.interval_start < spec.interval:
            return
        m = analysis.measure(spec, self.candidate, self.obs, self.stable, now=self.now)
        counters = analysis.update_counters(self.eng.counters or Counters(), m.status)
        a.interval_start = self.now
        a.last = m
        self.eng.counters = counters
        self.eng.custom = {
            v.name: v.value for v, ms in zip(m.verdicts, spec.metrics, strict=True) if ms.query
        }
        self._report_measurement(m, counters, spec, a)
        decision = analysis.decide(counters, spec, m.status)
        if decision is Decision.BREACH:
            reason = f"{m.reason} ({analysis.failures_text(counters, spec)})"
            held = self.phase is Phase.PAUSED and self.eng.pause_kind == "breach"
            if spec.on_failure is OnFailure.PAUSE and held:
                # Already holding for a breach: the failure is reported above; a breach, a
                # pause and an audit entry every interval would flood the log.
                pass
            elif spec.on_failure is OnFailure.PAUSE:
                self.event("breach", f"{reason} -> paused (onFailure: pause)", **_brief(m))
                self.engine_audit("pause", reason, rule="onFailure: pause")
                self.pause("breach", f"{reason} -> paused", by="engine", force=True)
            else:
                self.event("breach", f"{reason} -> rolling back", **_brief(m))
                self.engine_audit("rollback", reason, rule="onFailure: rollback")
                self.begin_rollback(reason, Phase.ROLLED_BACK)
        elif decision is Decision.INCONCLUSIVE_LIMIT and self.phase is not Phase.PAUSED:
            reason = (
                f"{counters.inconclusive_in_a_row} inconclusive measurements in a row "
                f"(inconclusiveLimit {spec.inconclusive_limit}): {m.reason}"
            )
            self.engine_audit("pause", reason, rule="inconclusiveLimit")
            self.pause("inconclusive", f"{reason} -> paused", by="engine")
        elif decision is Decision.ERROR_LIMIT and self.phase is not Phase.PAUSED:
            reason = (
                f"{counters.errors_in_a_row} metrics errors in a row "
                f"(consecutiveErrorLimit {spec.consecutive_error_limit}): {m.reason}"
            )
            self.engine_audit("pause", reason, rule="consecutiveErrorLimit")
            self.pause("metrics-error", f"{reason} -> paused", by="engine")
        self._resume_if_metrics_back(m)

    def _resume_if_metrics_back(self, m: Measurement) -> None:
        """A pause the engine took because the metrics source was unreachable ends by itself
        once a measurement gets through again. Only the pause ends: advancing still needs a
        passing measurement (``evidence``), so nothing is promoted on the recovery alone."""
        if self.phase is not Phase.PAUSED or self.eng.pause_kind != "metrics-error":
            return
        if m.status is Status.ERROR:
            return
        reason = f"metrics source reachable again (measurement {m.status}) -> resumed"
        self.engine_audit("resume", reason, rule="consecutiveErrorLimit")
        self.unpause()
        self.message = reason
        self.event("resume", reason, by="engine")

    def _report_measurement(
        self, m: Measurement, counters: Counters, spec: AnalysisSpec, a: AnalysisState
    ) -> None:
        prev = a.prev_status
        a.prev_status = str(m.status)
        if prev == str(m.status) and self._nothing_new_while_paused(m.status):
            # Held for a person: the same inconclusive/error/failed result every interval
            # would push the rollout's history out of the bounded event log. The latest
            # measurement stays in the analysis state (``last``) for the console.
            return
        data = {**_brief(m), "counters": counters.to_dict()}
        nxt = analysis.describe_next(counters, spec)
        if m.status is Status.FAILED:
            self.event("analysis", f"{m.reason} ({analysis.failures_text(counters, spec)})", **data)
        elif m.status is Status.INCONCLUSIVE:
            self.event("inconclusive", f"inconclusive: {m.reason}; {nxt}", **data)
        elif m.status is Status.ERROR:
            self.event("metrics-error", f"{m.reason}; {nxt}", **data)
        elif prev != str(Status.SUCCESSFUL):
            # Passing measurements are reported when the status changes, not every interval.
            self.event("analysis", f"passing: {m.reason}", **data)

    def _nothing_new_while_paused(self, status: Status) -> bool:
        """While Paused, a repeated result changes nothing, except a failure that can still
        lead to a breach (anything but a pause already held for one)."""
        if self.phase is not Phase.PAUSED:
            return False
        if status in (Status.INCONCLUSIVE, Status.ERROR):
            return True
        held = self.eng.pause_kind == "breach"
        return status is Status.FAILED and held

    def evidence(self, spec: AnalysisSpec | None, exposed: bool) -> tuple[bool, str]:
        """May the rollout go further on its own? Only after a passing measurement taken
        since the candidate's exposure last changed (missing metrics never advance)."""
        if spec is None or not exposed:
            return True, ""
        last = self.eng.last_measurement
        since = (self.eng.exposure_at or 0.0) + spec.effective_window
        if last is not None and last.at >= since:
            if last.status is Status.SUCCESSFUL:
                return True, ""
            return False, f"last measurement {last.status}: {last.reason}"
        return False, f"no measurement of {self.candidate} yet at this exposure"

    # ---------------------------------------------------------------- pause and rollback

    def pause(self, kind: str, reason: str, *, by: str, force: bool = False) -> None:
        """Enter Paused (no-op if already paused, unless ``force`` replaces the reason)."""
        if self.phase is Phase.PAUSED and not force:
            return
        current = self.eng.pause
        if self.phase is not Phase.PAUSED or current is None:
            self.eng.pause = Pause(kind, reason, self.now, by)
        else:
            current.kind, current.reason, current.by = kind, reason, by
        self.phase = Phase.PAUSED
        self.message = reason
        self.event("pause", reason, pause_kind=kind, by=by)

    def unpause(self) -> None:
        """Leave Paused: timers resume where they stopped; in-a-row counters restart."""
        p, self.eng.pause = self.eng.pause, None
        if p is not None:
            frozen = max(0.0, self.now - (p.at if p.at is not None else self.now))
            self.step_started_at += frozen
            if self.eng.ready_since is not None:
                self.eng.ready_since += frozen
        c = self.eng.counters or Counters()
        self.eng.counters = Counters(c.failures, 0, 0)
        self.phase = self.running_phase()

    def start_progressing(self) -> None:
        """The rollout leaves Pending: the candidate takes traffic (or is about to)."""
        self.eng.traffic_started = True
        self.phase = Phase.PROGRESSING

    def begin_traffic(self) -> None:
        """The candidate is ready: Progressing from now on, with the plan's match routes
        and mirroring reaching it."""
        self.clear_notice("health")
        self.start_progressing()
        self.apply_routes()

    def stable_count(self, sizing: str) -> int | None:
        """The stable's instance count to size ``sizing`` from; None, saying why, when
        health could not be read this tick."""
        total = self.known_total(self.stable)
        if total is None and self.obs is not None:
            why = self.obs.traffic_error or "no instances reported"
            self.notice("health", "health", f"cannot size {sizing} yet: {why}")
        return total

    def running_phase(self) -> Phase:
        return Phase.PROGRESSING if self.eng.traffic_started else Phase.PENDING

    def begin_rollback(self, reason: str, target: Phase) -> None:
        """Start going back to the stable version; the strategy finishes it (health-gated)."""
        self.eng.pause = None
        self.eng.rollback = Rollback(reason, target, self.now)
        self.phase = Phase.PROGRESSING
        self.message = f"rolling back: {reason}"
        self.clear_routes()

    def finish(self, phase: Phase, message: str, kind: str) -> None:
        """Enter a terminal phase."""
        self.clear_routes()
        self.eng.rollback = None
        self.eng.pause = None
        self.eng.notices = None
        self.phase = phase
        self.message = message
        self.event(kind, message, weights=dict(self.weights))

    def finish_rollback_split(self) -> bool:
        """Put 100% on the stable version if it has a ready instance; True when done. If the
        candidate never took traffic, nothing moves and the rollback finishes at once."""
        rb = self.eng.rollback
        assert rb is not None, "finish_rollback_split without a rollback in progress"
        target = rb.target
        verb = "aborted" if target is Phase.ABORTED else "rolled back"
        kind = "aborted" if target is Phase.ABORTED else "rollback"
        if not self.took_traffic():
            # Traffic never left where it was: nothing to move, no readiness to wait for.
            done = (
                f"100% on {self.stable} ({self.candidate} never took traffic)"
                if self.on_version(self.stable)
                else f"{self.candidate} never took traffic ({split_text(self.weights)})"
            )
            self.finish(target, f"{rb.reason} -> {verb}: {done}", kind)
            return True
        if not self.on_version(self.stable):
            if not self.rollback_waits_for_stable(1):
                return False
            if not self.try_split(self.full_split(self.stable), "rollback"):
                return False
        self.finish(target, f"{rb.reason} -> {verb}: 100% on {self.stable}", kind)
        return True

    def rollback_waits_for_stable(self, need: int) -> bool:
        """Is the stable ready enough (``need`` ready instances) for the rollback to move
        traffic back? If not, say why in a (rate-limited) ``health`` event; False then."""
        if self.obs is None:
            return False
        h = self.health(self.stable)
        if h is not None and h.ready >= need:
            return True
        ready, total = (h.ready, h.total) if h is not None else (0, 0)
        keeps = self.weights.get(self.candidate, 0)
        self.notice(
            "health",
            "health",
            f"rollback waits: {self.stable} has {ready}/{total} ready instances"
            + (f" (need {need})" if need > 1 else "")
            + (f"; {self.candidate} keeps {keeps}% until then" if keeps else ""),
            need=need,
        )
        return False


SubPhase = Callable[[Ctx], bool]  # one sub-phase's step: True when it moved on


def run_sub_phases(ctx: Ctx, handlers: Mapping[str, SubPhase], limit: int) -> None:
    """Step the strategy's current sub-phase (``ctx.eng.sub``) by its handler, again and
    again while one moves on, until one waits, the rollout pauses or ends, or ``limit``
    transitions ran (every tick the rest is taken up again)."""
    for _ in range(limit):
        if ctx.phase is Phase.PAUSED or ctx.phase.terminal:
            return
        handler = handlers.get(ctx.eng.sub or "")
        if handler is None or not handler(ctx):
            return


def _brief(m: Measurement) -> dict[str, Any]:
    """The numbers of a measurement for an event (the full one is in the analysis state)."""
    return {
        "status": str(m.status),
        "version": m.version,
        "requests": m.requests,
        "values": {v.name: v.value for v in m.verdicts},
        "failed": [v.name for v in m.failed],
    }


def stage_spec(plan: Plan, stage: str) -> AnalysisSpec | None:
    """The analysis block for a stage: canary/rolling use ``analysis``; blue/green uses
    ``previewAnalysis`` before the switch and ``postPromotionAnalysis`` after it."""
    if plan.strategy is Strategy.BLUEGREEN:
        bg = plan.bluegreen
        if bg is None:
            return None
        return bg.preview_analysis if stage == "preview" else bg.post_promotion_analysis
    return plan.analysis
