"""The rollout engine: a pure state machine for canary, blue/green and rolling releases.

``start(plan, obs, now)`` and ``step(record, plan, obs, command, now)`` return a
``Transition``: the new ``RolloutRecord``, the actions for the driver to apply in order,
events and audit entries. No I/O, no clock: ``now`` is passed in. Engine-owned bookkeeping
lives in ``record.engine`` (JSON-serializable), read and written through ``EngineState``
(``state.py``): the strategy's sub-phase, the analysis (stage, last measurement and its
time, counters), when the candidate's exposure last changed, the pause and rollback in
progress, match routes and mirroring, rate limits of notices, and each strategy's progress.
The strategies live in ``canary``, ``bluegreen`` and ``rolling``.

Rules every strategy keeps:

- Health gates: no SetSplit gives weight to a version with no ready instance (canary and
  blue/green: the candidate must be all-ready); the engine waits and says so (``health``
  events, repeated at most every 30 s while the reason is the same).
- Evidence: with analysis on, the rollout only goes further on its own (leaves a step,
  starts a batch, switches, retires, completes) when the latest measurement passed and its
  whole window lies after the candidate's exposure last changed (``exposure_at + window``).
  Missing metrics and metrics errors never advance a step and never promote. ``promote``
  (a person) skips that wait; nothing skips a health gate. Measurements keep their cadence
  (``interval``) across exposure changes, so weights that follow flapping readiness never
  starve analysis.
- Analysis keeps running while Paused, so a breach still rolls back.
- Rollback (breach with ``onFailure: rollback``, or ``abort``) clears match routes and
  mirroring at once, then puts 100% on the stable version. If the stable has no ready
  instance at that moment, the engine does NOT send traffic to it: the rollout stays in
  Progressing with ``engine["rollback"]`` set and the message "rolling back: ...", says why
  in a ``health`` event ("rollback waits: v1 has 0/3 ready instances", repeated at most
  every 30 s), and finishes (RolledBack or Aborted) on the first tick the stable is ready. A
  terminal phase therefore always leaves 100% on one version that was ready when the split
  was set. If the candidate never took traffic in this attempt (no split gave it weight, no
  match route or mirror reached it: ``engine["took_traffic"]`` unset), traffic never left
  the stable: nothing moves, and the rollback finishes at once, however ready the stable is.
- Commands that make no sense in the current phase change nothing and produce a
  ``command`` event saying why ("promote ignored: rollout is Completed"); never an exception.
  ``console/engine/commands.py: refusal`` decides, for the engine and for every caller.
- Reconciling: when an observation taken after the last split shows a different split (an
  action failed to apply), the engine re-issues what is missing; likewise for sizes (a
  version whose desired instances, as the backend reports them, differ from the engine's
  last Deploy/Scale/Retire, kept in ``engine["sizes"]``) and, on a native rolling update,
  for the template and ``spec.paused``. The driver saves before it applies, so this is
  what makes an action lost to a driver crash land after all.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from backends.base import (
    AuditEntry,
    Command,
    CommandKind,
    Deploy,
    Observation,
    Phase,
    Retire,
    RolloutRecord,
    Scale,
    SetMatch,
    SetMirror,
    SetSplit,
    Strategy,
)
from console.analysis.verdicts import Counters
from console.engine import bluegreen as engine_bluegreen
from console.engine import canary as engine_canary
from console.engine import deadline
from console.engine import experiment as engine_experiment
from console.engine import flag as engine_flag
from console.engine import rolling as engine_rolling
from console.engine.commands import refusal
from console.engine.context import Ctx, Transition, count_text, split_text, stage_spec
from console.engine.state import EngineState
from console.plan.model import BlueGreenSpec, Plan

__all__ = ["EngineError", "Transition", "next_tick", "start", "step"]

HEARTBEAT = 5.0  # next_tick when nothing is due sooner
IDLE = 60.0  # next_tick in a terminal phase


class EngineError(ValueError):
    """The rollout cannot start as planned (e.g. no way to tell the stable version)."""


def _strategy(strategy: Strategy) -> ModuleType:
    return {
        Strategy.CANARY: engine_canary,
        Strategy.BLUEGREEN: engine_bluegreen,
        Strategy.ROLLING: engine_rolling,
        Strategy.FLAG: engine_flag,
        Strategy.EXPERIMENT: engine_experiment,
    }[strategy]


def _stable_of(plan: Plan, obs: Observation) -> str:
    if plan.stable:
        return plan.stable
    weights = obs.split.weights if obs.split is not None else {}
    serving = [v for v, w in sorted(weights.items(), key=lambda kv: -kv[1]) if w > 0]
    serving = [v for v in serving if v != plan.candidate]
    if serving:
        return serving[0]
    others = [v for v, h in obs.health.items() if v != plan.candidate and h.total > 0]
    if len(others) == 1:
        return others[0]
    raise EngineError(
        f"{plan.source or plan.service}: cannot tell which version of {plan.service} is "
        f"stable (split: {split_text(weights)}); set `stable:` in the plan"
    )


def _describe_plan(plan: Plan, stable: str) -> str:
    head = f"{plan.strategy} of {plan.service}: {stable} -> {plan.candidate}"
    if plan.flag is not None:
        head = f"{plan.strategy} {plan.flag} of {plan.service}: {stable} -> {plan.candidate}"
    if plan.experiment is not None:
        arms = " / ".join(f"{a.name} {a.weight}" for a in plan.experiment.arms)
        return f"{head.split(':')[0]}: arms {arms} for {plan.experiment.duration:g}s"
    if plan.strategy in (Strategy.CANARY, Strategy.FLAG):
        head += f", {count_text(len(plan.steps), 'step')}"
    spec = plan.analysis if plan.strategy is not Strategy.BLUEGREEN else None
    if spec is not None:
        head += f", analysis every {spec.interval:g}s, on failure {spec.on_failure}"
    elif plan.strategy is not Strategy.BLUEGREEN:
        head += ", no analysis"
    return head


def start(plan: Plan, obs: Observation, now: float, actor: str = "engine") -> Transition:
    """Begin a rollout of ``plan`` from what ``obs`` shows; raises EngineError if it cannot."""
    current = obs.split.weights if obs.split is not None else {}
    if current.get(plan.candidate, 0) >= 100:
        # The stable would otherwise be guessed from whatever still runs beside it, and
        # the first step would move traffic from the released version back to the old one.
        raise EngineError(
            f"{plan.source or plan.service}: {plan.candidate} already serves 100% of "
            f"{plan.service}; nothing to roll out"
        )
    known = set(obs.health) | {v for v, w in current.items() if w > 0}
    if plan.stable and obs.health and plan.stable not in known:
        # Otherwise the health gate waits for instances that will never exist.
        raise EngineError(
            f"{plan.source or plan.service}: stable {plan.stable} is not a version of "
            f"{plan.service} here; known: {', '.join(sorted(known))}"
        )
    stable = _stable_of(plan, obs)
    if stable == plan.candidate:
        raise EngineError(
            f"{plan.source or plan.service}: the candidate {plan.candidate} is the stable "
            "version already; nothing to roll out"
        )
    weights = dict(obs.split.weights) if obs.split is not None and obs.split.weights else {}
    if sum(weights.values()) != 100:
        weights = {stable: 100}
    weights.setdefault(stable, 0)
    weights.setdefault(plan.candidate, 0)
    record = RolloutRecord(
        service=plan.service,
        strategy=plan.strategy,
        stable=stable,
        candidate=plan.candidate,
        phase=Phase.PENDING,
        plan=plan.to_dict(),
        step_index=0,
        step_started_at=now,
        weights=weights,
        message="starting",
        started_at=now,
        updated_at=now,
    )
    ctx = Ctx(record, plan, obs, now)
    ctx.eng.counters = Counters()
    why = _describe_plan(plan, stable)
    ctx.event(
        "started",
        why,
        actor=actor,
        strategy=str(plan.strategy),
        stable=stable,
        candidate=plan.candidate,
    )
    ctx.audit.append(AuditEntry(now, plan.service, actor, "start", why))
    mod = _strategy(plan.strategy)
    mod.init(ctx)
    mod.advance(ctx)
    return ctx.build()


def _who(cmd: Command) -> str:
    if cmd.user and cmd.host:
        return f"{cmd.user}@{cmd.host}"
    return cmd.user or cmd.host or "operator"


def step(
    record: RolloutRecord,
    plan: Plan,
    obs: Observation | None,
    command: Command | None,
    now: float,
) -> Transition:
    """Apply ``command`` (if any), then advance on time and the observation."""
    ctx = Ctx(record, plan, obs, now)
    mod = _strategy(record.strategy)
    if ctx.eng.sub is None and not ctx.phase.terminal:
        mod.init(ctx)  # a record written without engine bookkeeping: start its strategy
    if command is not None:
        _command(ctx, mod, command, record)
    elif not ctx.phase.terminal:
        _reconcile(ctx)
    if not ctx.phase.terminal:
        deadline.check(ctx)
        mod.advance(ctx)
    return ctx.build()


# --------------------------------------------------------------------------- commands


def _command(ctx: Ctx, mod: ModuleType, cmd: Command, record: RolloutRecord) -> None:
    """Apply ``cmd`` to ``ctx``, or record why not; ``record`` is the state it finds."""
    who = _who(cmd)
    refused = refusal(record, cmd.kind, plan=ctx.plan, obs=ctx.obs)
    if refused is not None:
        ctx.event("command", refused.message, command=str(cmd.kind), by=who, applied=False)
        return
    handlers: dict[CommandKind, Callable[[], None]] = {
        CommandKind.PROMOTE: lambda: mod.promote(ctx, False, who),
        CommandKind.PROMOTE_FULL: lambda: mod.promote(ctx, True, who),
        CommandKind.PAUSE: lambda: _pause(ctx, who, cmd.reason),
        CommandKind.RESUME: lambda: _resume(ctx, who),
        CommandKind.ABORT: lambda: _abort(ctx, who, cmd.reason),
        CommandKind.RETRY: lambda: _retry(ctx, mod, who),
    }
    handlers[cmd.kind]()
    ctx.audit.append(
        AuditEntry(
            at=ctx.now,
            service=ctx.service,
            actor=who,
            action=str(cmd.kind),
            reason=cmd.reason or ctx.message,
            user=cmd.user,
            host=cmd.host,
            data={"id": cmd.id, "phase": str(ctx.phase)},
        )
    )


# Each handler applies a command that ``commands.refusal`` said applies now.


def _pause(ctx: Ctx, who: str, reason: str) -> None:
    ctx.pause("user", f"paused by {who}" + (f": {reason}" if reason else ""), by=who)


def _resume(ctx: Ctx, who: str) -> None:
    was = ctx.message
    ctx.unpause()
    ctx.message = f"resumed by {who}"
    ctx.event("resume", f"resumed by {who} (was: {was})", by=who)


def _abort(ctx: Ctx, who: str, reason: str) -> None:
    why = f"aborted by {who}" + (f": {reason}" if reason else "")
    ctx.event("rollback", f"{why}: rolling back to {ctx.stable}", by=who)
    ctx.begin_rollback(why, Phase.ABORTED)


def _retry(ctx: Ctx, mod: ModuleType, who: str) -> None:
    previous = ctx.eng.rolling
    retries = ctx.eng.retries + 1
    ctx.eng = EngineState(retries=retries, counters=Counters())
    ctx.phase = Phase.PENDING
    ctx.step_index = 0
    ctx.step_started_at = ctx.now
    ctx.started_at = ctx.now
    ctx.message = f"retry {retries} by {who}"
    if ctx.strategy is Strategy.ROLLING:
        engine_rolling.init(ctx, previous)
    else:
        mod.init(ctx)
    ctx.event("started", f"retry {retries} by {who}: starting again from step 1", by=who)


# --------------------------------------------------------------------------- reconciling


def _reconcile(ctx: Ctx) -> None:
    """Re-issue what an observation taken after our last change shows as missing."""
    _reconcile_sizes(ctx)
    obs = ctx.obs
    if obs is None or obs.split is None or obs.traffic_error:
        return
    if ctx.eng.split_at is not None and obs.at <= ctx.eng.split_at:
        return  # the observation predates our last change
    actual = obs.split
    if not actual.approximate:
        want = {k: v for k, v in ctx.weights.items() if v}
        have = {k: v for k, v in actual.weights.items() if v}
        if want and want != have and all(ctx.ready(v) > 0 for v in want):
            ctx.actions.append(SetSplit(dict(ctx.weights)))
            ctx.eng.split_at = ctx.now
            ctx.notice(
                "reconcile",
                "weight",
                f"re-applying {split_text(ctx.weights)} (backend shows {split_text(have)})",
            )
    cand = ctx.candidate
    match_on = ctx.eng.match_on
    if match_on and actual.match_version != cand:
        ctx.actions.append(SetMatch(tuple(ctx.plan.match), cand))
        ctx.eng.split_at = ctx.now
    elif not match_on and actual.match_version == cand:
        ctx.actions.append(SetMatch((), None))
        ctx.eng.split_at = ctx.now
    mirror_on = ctx.eng.mirror_on
    if mirror_on and (actual.mirror_version != cand or actual.mirror_percent != ctx.plan.mirror):
        ctx.actions.append(SetMirror(cand, ctx.plan.mirror))
        ctx.eng.split_at = ctx.now
    elif not mirror_on and actual.mirror_version == cand and actual.mirror_percent > 0:
        ctx.actions.append(SetMirror(None, 0))
        ctx.eng.split_at = ctx.now


def _reconcile_sizes(ctx: Ctx) -> None:
    """Size again a version whose desired instances (as the backend reports them, after our
    last sizing action) differ from what the engine last asked for."""
    obs = ctx.obs
    if obs is None or obs.traffic_error or not obs.health:
        return
    if ctx.eng.sized_at is None or obs.at <= ctx.eng.sized_at:
        return
    for version, sizing in sorted((ctx.eng.sizes or {}).items()):
        want, kind = sizing.instances, sizing.action
        h = obs.health.get(version)
        have = h.desired if h is not None else 0
        if have is None or have == want:
            continue
        action = (
            Retire(version)
            if kind == "Retire"
            else Deploy(version, want)
            if kind == "Deploy"
            else Scale(version, want)
        )
        ctx.actions.append(action)
        ctx.eng.sized_at = ctx.now
        ctx.notice(
            f"reconcile-{version}",
            "health",
            f"re-applying {version} at {want} instances (the backend has {have} desired)",
        )


# --------------------------------------------------------------------------- timing


def next_tick(record: RolloutRecord, plan: Plan, now: float) -> float:
    """The latest time the driver should call ``step`` again (deadlines, measurements)."""
    if record.phase.terminal:
        return now + IDLE
    eng = EngineState.from_dict(record.engine)
    due = [now + HEARTBEAT]
    a = eng.analysis
    spec = stage_spec(plan, eng.stage or "")
    if spec is not None and a is not None and a.interval_start is not None:
        due.append(a.interval_start + spec.interval)
    if "health" in eng.notice_keys() or eng.rollback:
        due.append(now + 1.0)
    if record.phase is not Phase.PAUSED:
        sub = eng.sub
        t0 = record.step_started_at
        if record.strategy in (Strategy.CANARY, Strategy.FLAG) and sub == "steps":
            if record.step_index < len(plan.steps):
                st = plan.steps[record.step_index]
                duration = getattr(st, "duration", None)
                if duration is not None:
                    due.append(t0 + duration)
        elif record.strategy is Strategy.EXPERIMENT and plan.experiment is not None:
            if sub == "running":
                due.append(t0 + plan.experiment.duration)
                due.append(now + plan.experiment.interval)
        elif record.strategy is Strategy.BLUEGREEN:
            bg = plan.bluegreen or BlueGreenSpec()
            if sub == "preview":
                due.append(t0 + bg.preview_duration)
            elif sub == "await" and bg.auto_promote is not None:
                due.append(t0 + bg.auto_promote)
            elif sub == "post":
                due.append(t0 + bg.scale_down_delay)
        elif record.strategy is Strategy.ROLLING:
            rs = plan.rolling
            if rs is not None and sub == "wait-ready" and eng.ready_since is not None:
                due.append(eng.ready_since + rs.min_ready)
            elif rs is not None and sub == "between":
                due.append(t0 + rs.pause_between_batches)
    return max(now, min(due))
