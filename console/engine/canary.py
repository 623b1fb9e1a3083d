"""Canary: the candidate takes a growing share of traffic, step by step.

Sub-phases (``EngineState.sub``), one handler each in ``SUB_PHASES``:

- ``init``: Deploy the candidate (as many instances as the stable) if nothing runs it; wait
  until every candidate instance is ready (``health`` notices); then apply
  the plan's match routes and mirroring and enter step 0. Phase Pending until then.
- ``steps``: ``record.step_index`` is the current step. ``setWeight`` sets the split
  (health-gated: the candidate must be all-ready, the stable have a ready instance) and is
  left once a passing measurement covers a full window at that weight. A timed pause counts
  down from ``step_started_at`` (frozen while Paused) and is left when the time is up and the
  latest measurement passed. A manual gate (``pause: {}``) puts the rollout in Paused until
  ``promote``. A step that gives the candidate no traffic needs no measurement.
- ``final``: 100% to the candidate (health-gated; evidence too, unless promote-full),
  match routes cleared, mirroring off, Completed. The stable keeps running (0%).

Analysis runs at the plan's interval whenever the candidate takes traffic (weight, match
routes or mirror), also while paused, so a failing candidate is rolled back even then.
"""

from __future__ import annotations

from backends.base import Deploy, Phase
from console.engine.context import Ctx, SubPhase, health_text, run_sub_phases
from console.plan.model import PauseStep, Plan, SetWeightStep, Step


def describe_step(step: Step) -> str:
    if isinstance(step, SetWeightStep):
        return f"setWeight {step.weight}"
    if step.duration is None:
        return "pause until promote (manual gate)"
    return f"pause {step.duration:g}s"


def init(ctx: Ctx) -> None:
    ctx.eng.sub = "init"


def step_label(plan: Plan, index: int) -> str:
    """'step 2/5 (setWeight 20)', or 'after step 5/5' once every step is done."""
    n = len(plan.steps)
    if index >= n:
        return f"after step {n}/{n}"
    return f"step {index + 1}/{n} ({describe_step(plan.steps[index])})"


def _label(ctx: Ctx, index: int | None = None) -> str:
    return step_label(ctx.plan, ctx.step_index if index is None else index)


def enter_step(ctx: Ctx, index: int) -> None:
    """Move to step ``index`` (``len(steps)`` means all steps are done)."""
    ctx.step_index = index
    ctx.step_started_at = ctx.now
    ctx.eng.canary.step_applied = False
    ctx.eng.canary.waived_step = None
    ctx.clear_notice("evidence")
    steps = ctx.plan.steps
    if index >= len(steps):
        ctx.eng.sub = "final"
        done = "the only step" if len(steps) == 1 else f"all {len(steps)} steps"
        ctx.event("step", f"{done} done: promoting {ctx.candidate} to 100%")
        return
    ctx.event("step", _label(ctx), index=index)
    ctx.message = f"{_label(ctx)}"
    step = steps[index]
    if isinstance(step, PauseStep) and step.duration is None:
        ctx.pause("gate", f"{_label(ctx)}: waiting for promote", by="engine")


def ensure_deployed(ctx: Ctx) -> None:
    """Deploy the candidate (as many instances as the stable) if nothing runs it yet."""
    if ctx.eng.canary.deployed is not None or ctx.known_total(ctx.candidate) != 0:
        return
    n = ctx.known_total(ctx.stable) or 1
    ctx.eng.canary.deployed = n
    ctx.actions.append(Deploy(ctx.candidate, n))
    why = f"deploying {ctx.candidate}: {n} instances (as many as {ctx.stable} runs)"
    ctx.event("step", why, instances=n)
    ctx.engine_audit("deploy", why, version=ctx.candidate, instances=n)


def advance(ctx: Ctx) -> None:
    """Analysis, then as many transitions as time and health allow."""
    ctx.run_analysis(ctx.plan.analysis, "canary", ctx.exposed())
    if ctx.eng.rollback:
        ctx.finish_rollback_split()
        return
    run_sub_phases(ctx, SUB_PHASES, limit=2 * len(ctx.plan.steps) + 4)


def _init(ctx: Ctx) -> bool:
    """Deploy the candidate if need be; once it is all ready, route to it and enter step 0."""
    if ctx.obs is None:
        return False
    ensure_deployed(ctx)
    cand = ctx.candidate
    if not ctx.all_ready(cand):
        ctx.notice(
            "health",
            "health",
            f"waiting for {cand} to be ready before the first step: "
            f"{health_text(ctx.health(cand), cand)}",
        )
        return False
    ctx.begin_traffic()
    ctx.eng.sub = "steps"
    enter_step(ctx, 0)
    return True


def _steps(ctx: Ctx) -> bool:
    """Leave the current step once it did its part and a passing measurement (unless
    promoted) covers it."""
    i = ctx.step_index
    if i >= len(ctx.plan.steps):
        ctx.eng.sub = "final"
        return True
    waived = ctx.eng.canary.waived_step == i
    if not _step_done(ctx, ctx.plan.steps[i], waived):
        return False
    if not waived:
        ok, why = ctx.evidence(ctx.plan.analysis, ctx.exposed())
        if not ok:
            ctx.notice("evidence", "step", f"{_label(ctx)} holds: {why}")
            return False
    enter_step(ctx, i + 1)
    return True


def _step_done(ctx: Ctx, step: Step, waived: bool) -> bool:
    """Has the step itself done its part: its split set (health-gated), its time up, its
    manual gate promoted?"""
    if isinstance(step, SetWeightStep):
        if not ctx.eng.canary.step_applied:
            split = {ctx.stable: 100 - step.weight, ctx.candidate: step.weight}
            if not ctx.try_split(split, _label(ctx), all_ready=(ctx.candidate,)):
                return False
            ctx.eng.canary.step_applied = True
        return True
    if step.duration is None:
        if not waived:
            ctx.pause("gate", f"{_label(ctx)}: waiting for promote", by="engine")
        return waived
    return waived or ctx.now >= ctx.step_started_at + step.duration


def _final(ctx: Ctx) -> bool:
    """100% to the candidate (health-gated; evidence too, unless promote-full): Completed."""
    n = len(ctx.plan.steps)
    cand = ctx.candidate
    ensure_deployed(ctx)  # promote-full before the candidate ever ran
    if not ctx.eng.promote_full:
        # With no steps (or only gates) the candidate may have had match/mirror traffic.
        ok, why = ctx.evidence(ctx.plan.analysis, ctx.exposed())
        if not ok:
            ctx.notice("evidence", "step", f"promotion to 100% holds: {why}")
            return False
    if not ctx.try_split(ctx.full_split(cand), "promoted to 100%", all_ready=(cand,)):
        return False
    why = (
        "promoted fully"
        if ctx.eng.promote_full
        else ("its only step passed" if n == 1 else f"all {n} steps passed")
    )
    ctx.engine_audit("complete", f"{cand} takes 100% of {ctx.service}: {why}")
    ctx.finish(Phase.COMPLETED, f"{cand} takes 100% of {ctx.service} traffic: {why}", "completed")
    return False


SUB_PHASES: dict[str, SubPhase] = {"init": _init, "steps": _steps, "final": _final}


def promote(ctx: Ctx, full: bool, who: str) -> None:
    """Apply promote / promote-full (``commands.refusal`` said it applies now)."""
    if full:
        if ctx.phase is Phase.PAUSED:
            ctx.unpause()
        ctx.eng.sub = "final"
        ctx.eng.promote_full = True
        ctx.start_progressing()
        ctx.event("promoted", f"promote-full by {who}: {ctx.candidate} to 100% once it is ready")
        return
    if ctx.phase is Phase.PAUSED:
        ctx.unpause()
    ctx.eng.canary.waived_step = ctx.step_index
    ctx.event("promoted", f"promote by {who}: leaving {_label(ctx)}", index=ctx.step_index)
