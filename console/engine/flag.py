"""Flag rollout: a flag's variant goes to a growing percent of users, step by step.

The record's ``stable`` is the flag's default variant when the rollout started and its
``candidate`` the plan's ``variant``; ``weights`` are percents of users (fractional by
user in flagd, so a user keeps their variant as the percent grows). The driver sends the
``SetSplit`` actions to the FlagBackend instead of a traffic split (console/driver/flags.py),
and metrics per variant judge the candidate against the default like a canary.

Sub-phases (``EngineState.sub``), one handler each in ``SUB_PHASES``:

- ``init``: wait until the service has a ready instance to evaluate the flag (nothing to
  deploy: the variants live inside the running version); then step 0. Pending until then.
- ``steps``: the canary's steps, unchanged (``canary.SUB_PHASES["steps"]``): ``setWeight``
  sets the users' percent and is left once a passing measurement covers it; pauses as in a
  canary.
- ``final``: the variant becomes the flag's default for every user (evidence first, unless
  promote-full): Completed.

Rollback (a breach with ``onFailure: rollback``, or ``abort``) sets the flag back to its
default variant for every user at once: changing a flag needs no ready instance.
"""

from __future__ import annotations

from backends.base import Phase, SetSplit
from console.engine import canary
from console.engine.context import Ctx, SubPhase, health_text, run_sub_phases, split_text

ANALYSIS_STAGE = "flag"


def init(ctx: Ctx) -> None:
    ctx.eng.sub = "init"


def flag_of(ctx: Ctx) -> str:
    return ctx.plan.flag or "?"


def advance(ctx: Ctx) -> None:
    """Analysis, then as many transitions as time and health allow."""
    ctx.run_analysis(ctx.plan.analysis, ANALYSIS_STAGE, ctx.exposed())
    if ctx.eng.rollback:
        finish_rollback(ctx)
        return
    run_sub_phases(ctx, SUB_PHASES, limit=2 * len(ctx.plan.steps) + 4)


def _init(ctx: Ctx) -> bool:
    """Once the service can evaluate the flag (a ready instance), enter step 0."""
    if ctx.obs is None:
        return False
    cand = ctx.candidate
    h = ctx.health(cand)
    if h is None or h.ready <= 0:
        known = ", ".join(sorted(ctx.obs.health)) or "none"
        why = (
            f"{ctx.service} has no ready instance to evaluate {flag_of(ctx)}: "
            f"{health_text(h, cand)}"
            if h is not None
            else f"flag {flag_of(ctx)} has no variant {cand} (variants: {known})"
        )
        ctx.notice("health", "health", f"waiting before the first step: {why}")
        return False
    ctx.begin_traffic()
    ctx.eng.sub = "steps"
    canary.enter_step(ctx, 0)
    return True


def _final(ctx: Ctx) -> bool:
    """The variant becomes the flag's default for every user: Completed."""
    n = len(ctx.plan.steps)
    cand = ctx.candidate
    if not ctx.eng.promote_full:
        ok, why = ctx.evidence(ctx.plan.analysis, ctx.exposed())
        if not ok:
            ctx.notice("evidence", "step", f"making {cand} the default holds: {why}")
            return False
    if not ctx.try_split(ctx.full_split(cand), f"{cand} for every user"):
        return False
    why = (
        "promoted fully"
        if ctx.eng.promote_full
        else ("its only step passed" if n == 1 else f"all {n} steps passed")
    )
    text = f"flag {flag_of(ctx)}: {cand} is the default variant for every user: {why}"
    ctx.engine_audit("complete", text)
    ctx.finish(Phase.COMPLETED, text, "completed")
    return False


def finish_rollback(ctx: Ctx) -> None:
    """Set the flag back to its default variant for every user, and end the rollout."""
    rb = ctx.eng.rollback
    assert rb is not None, "finish_rollback without a rollback in progress"
    verb = "aborted" if rb.target is Phase.ABORTED else "rolled back"
    kind = "aborted" if rb.target is Phase.ABORTED else "rollback"
    back = ctx.full_split(ctx.stable)
    if {k: v for k, v in back.items() if v} != {k: v for k, v in ctx.weights.items() if v}:
        before = dict(ctx.weights)
        ctx.weights = dict(back)
        ctx.actions.append(SetSplit(dict(back)))
        ctx.eng.split_at = ctx.now
        why = f"rollback: flag {flag_of(ctx)} back to its default variant {ctx.stable}"
        ctx.event("weight", f"{split_text(back)}: {why}", weights=back, before=before)
        ctx.engine_audit("set-split", why, weights=back, before=before)
    ctx.finish(
        rb.target,
        f"{rb.reason} -> {verb}: flag {flag_of(ctx)} back to its default variant "
        f"{ctx.stable} for every user",
        kind,
    )


SUB_PHASES: dict[str, SubPhase] = {
    "init": _init,
    "steps": canary.SUB_PHASES["steps"],
    "final": _final,
}

promote = canary.promote
