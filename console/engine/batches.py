"""What both rolling paths share: the batch label, the order of a tick, starting a batch,
waiting for it to be ready, and the gate between batches (``rolling`` batches with
Deploy/Scale, ``rolling_native`` lets the workload's controller do it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from backends.base import Phase
from console.engine.context import Ctx, SubPhase, health_text, run_sub_phases
from console.engine.state import RollingProgress
from console.plan.model import RollingSpec

MAX_TRANSITIONS = 8  # per tick: sub-phases that can follow each other at once


def spec_of(ctx: Ctx) -> RollingSpec:
    return ctx.plan.rolling or RollingSpec()


def progress(ctx: Ctx) -> RollingProgress:
    """The update's sizes and progress (set once the update is sized)."""
    r = ctx.eng.rolling
    assert r is not None, "a rolling sub-phase before the update was sized"
    return r


def label(ctx: Ctx) -> str:
    """'batch 2/3': the batch in progress (``step_index`` counts finished ones)."""
    n = ctx.eng.rolling.batch_count if ctx.eng.rolling is not None else 0
    return f"batch {min(ctx.step_index + 1, n)}/{n}"


def advance(
    ctx: Ctx,
    sub_phases: Mapping[str, SubPhase],
    *,
    rollback: Callable[[Ctx], None],
    follow: Callable[[Ctx], None],
) -> None:
    """A tick of either path after the analysis: a rollback in progress goes on; otherwise
    the weights ``follow`` the ready instances, then the sub-phases run as far as time and
    health allow."""
    if ctx.eng.rollback:
        rollback(ctx)
        return
    if ctx.phase.terminal:
        return
    follow(ctx)
    run_sub_phases(ctx, sub_phases, MAX_TRANSITIONS)


def batch_started(ctx: Ctx, message: str, audit_action: str, **data: Any) -> None:
    """A batch is under way: the message says what moves, and ``wait-ready`` starts now."""
    ctx.start_progressing()
    ctx.message = message
    ctx.event("step", message, **data)
    ctx.engine_audit(audit_action, message, **data)
    ctx.eng.sub = "wait-ready"
    ctx.eng.set_ready_since(None)
    ctx.step_started_at = ctx.now


def batch_ready(ctx: Ctx, need: int, unit: str) -> bool:
    """Has the candidate had ``need`` ready ``unit`` (instances, pods) for ``minReady``?
    Says what it waits for (a ``health`` notice) while it has not."""
    if ctx.obs is None:
        return False
    cand = ctx.candidate
    if ctx.ready(cand) < need:
        ctx.eng.set_ready_since(None)
        both = ", ".join(health_text(ctx.health(v), v) for v in (ctx.stable, cand))
        ctx.notice(
            "health", "health", f"{label(ctx)}: waiting for {need} ready {cand} {unit}: {both}"
        )
        return False
    ctx.clear_notice("health")
    since = ctx.eng.ready_since
    if since is None:
        since = ctx.now
        ctx.eng.set_ready_since(since)
    return ctx.now >= since + spec_of(ctx).min_ready


def batch_done(ctx: Ctx, message: str, next_sub: str) -> None:
    """Count the batch: the message says so, and the next sub-phase starts now."""
    ctx.message = message
    ctx.event("step", message)
    ctx.step_index += 1
    ctx.eng.sub = next_sub
    ctx.eng.set_ready_since(None)
    ctx.step_started_at = ctx.now


def complete(ctx: Ctx, why: str) -> None:
    """Every candidate instance is in and the stable gone: audited, then Completed."""
    ctx.engine_audit("complete", why)
    ctx.finish(Phase.COMPLETED, f"{ctx.candidate} takes 100% of {ctx.service}: {why}", "completed")


def may_go_on(ctx: Ctx, exposed: bool, last: bool) -> bool:
    """The gate after a batch: ``pauseBetweenBatches`` (not after the last one) and a
    passing measurement at this exposure, unless a person promoted."""
    if not (ctx.eng.gate_waived or ctx.eng.promote_full):
        pause = 0.0 if last else spec_of(ctx).pause_between_batches
        if ctx.now < ctx.step_started_at + pause:
            return False
        ok, why = ctx.evidence(ctx.plan.analysis, exposed)
        if not ok:
            ctx.notice("evidence", "step", f"{label(ctx)} holds: {why}")
            return False
    ctx.eng.gate_waived = False
    ctx.clear_notice("evidence")
    return True
