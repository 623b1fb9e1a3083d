"""What both rolling paths share: the batch label, waiting for a batch to be ready, and the
gate between batches (``engine_rolling`` batches with Deploy/Scale, ``engine_rolling_native``
lets the workload's controller do it)."""

from __future__ import annotations

from console.engine.context import Ctx, health_text
from console.plan.model import RollingSpec


def spec_of(ctx: Ctx) -> RollingSpec:
    return ctx.plan.rolling or RollingSpec()


def label(ctx: Ctx) -> str:
    """'batch 2/3': the batch in progress (``step_index`` counts finished ones)."""
    r = ctx.eng.get("rolling") or {"batches": 0}
    return f"batch {min(ctx.step_index + 1, r['batches'])}/{r['batches']}"


def batch_ready(ctx: Ctx, need: int, unit: str) -> bool:
    """Has the candidate had ``need`` ready ``unit`` (instances, pods) for ``minReady``?
    Says what it waits for (a ``health`` notice) while it has not."""
    if ctx.obs is None:
        return False
    cand = ctx.candidate
    if ctx.ready(cand) < need:
        ctx.eng["ready_since"] = None
        both = ", ".join(health_text(ctx.health(v), v) for v in (ctx.stable, cand))
        ctx.notice(
            "health", "health", f"{label(ctx)}: waiting for {need} ready {cand} {unit}: {both}"
        )
        return False
    ctx.clear_notice("health")
    if ctx.eng.get("ready_since") is None:
        ctx.eng["ready_since"] = ctx.now
    return ctx.now >= float(ctx.eng["ready_since"]) + spec_of(ctx).min_ready


def batch_done(ctx: Ctx, message: str, next_sub: str) -> None:
    """Count the batch: the message says so, and the next sub-phase starts now."""
    ctx.message = message
    ctx.event("step", message)
    ctx.step_index += 1
    ctx.eng["sub"] = next_sub
    ctx.eng["ready_since"] = None
    ctx.step_started_at = ctx.now


def may_go_on(ctx: Ctx, exposed: bool, last: bool) -> bool:
    """The gate after a batch: ``pauseBetweenBatches`` (not after the last one) and a
    passing measurement at this exposure, unless a person promoted."""
    if not (ctx.eng.get("waive") or ctx.eng.get("full")):
        pause = 0.0 if last else spec_of(ctx).pause_between_batches
        if ctx.now < ctx.step_started_at + pause:
            return False
        ok, why = ctx.evidence(ctx.plan.analysis, exposed)
        if not ok:
            ctx.notice("evidence", "step", f"{label(ctx)} holds: {why}")
            return False
    ctx.eng.pop("waive", None)
    ctx.clear_notice("evidence")
    return True
