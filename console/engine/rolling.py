"""Rolling update: instances are replaced a batch at a time, readiness-gated.

Bookkeeping in ``RollingProgress`` (``record.engine["rolling"]``): the stable's instance
count at the start (restored on rollback), the candidate's ``target`` at the end, the batch
size (``maxSurge + maxUnavailable``, at least 1), what the stable is scaled to now
(``stable_scaled_to``), the candidate instances counted as ready (``candidate_counted``:
finished batches) and the count the batch in progress waits for (``candidate_next``).
``record.step_index`` counts finished batches. Sub-phases (``EngineState.sub``), one handler
each in ``SUB_PHASES``:

- ``size``: size the update from the stable's instances as soon as health can be read.
- ``batch``: scale the stable down by up to ``maxUnavailable`` and the candidate up by the
  batch (so at most ``maxSurge`` extra instances run, at most ``maxUnavailable`` are gone).
- ``wait-ready``: wait until the candidate has ``candidate_next`` ready instances and they
  stayed ready for ``minReady`` (``EngineState.ready_since``). Then shift weights to the new
  instances, scale the stable down by the rest of the batch.
- ``between``: ``pauseBetweenBatches`` (not after the last batch), and a passing
  measurement if analysis is on.
- ``final``: 100% candidate, the stable retired, Completed.

Weights always follow the ready instances that count (every tick): stable
``min(ready, stable_scaled_to)``, candidate ``min(ready, candidate_counted)``, as integer
percents summing to 100.

Rollback: scale the stable back to its size at the start first and wait until it is ready
again (as ready as it was at the start), then 100% stable, then the candidate to 0. If the
candidate never took traffic, nothing waits: the stable is scaled back, the candidate to 0,
and the rollback ends at once.
"""

from __future__ import annotations

import math

from backends.base import Deploy, Phase, Retire, Scale
from console.engine import batches
from console.engine import rolling_native as engine_rolling_native
from console.engine.batches import label as _label
from console.engine.batches import progress, spec_of
from console.engine.context import Ctx, SubPhase, health_text
from console.engine.state import RollingProgress


def proportional(stable: str, s_ready: int, cand: str, c_ready: int) -> dict[str, int] | None:
    """Integer weights summing to 100 in proportion to ready instances; None if none is."""
    s_ready, c_ready = max(0, s_ready), max(0, c_ready)
    total = s_ready + c_ready
    if total <= 0:
        return None
    cw = round(100 * c_ready / total)
    return {stable: 100 - cw, cand: cw}


def init(ctx: Ctx, previous: RollingProgress | None = None) -> None:
    """Size the update from the previous attempt, or (sub-phase ``size``) from the stable's
    instances as soon as health can be read."""
    if previous is not None:
        _size(ctx, previous.stable_at_start, previous.stable_ready_at_start)
        progress(ctx).native = bool(previous.native)
    else:
        ctx.eng.sub = "size"


def _size(ctx: Ctx, s0: int, ready0: int) -> None:
    rs = spec_of(ctx)
    target = rs.instances or s0
    unavailable = max(0, rs.max_unavailable)
    batch = max(1, max(0, rs.max_surge) + unavailable)
    count = math.ceil(max(target, s0) / batch)
    ctx.eng.sub = "batch"
    ctx.eng.batches = count  # for "k/n" in tables
    ctx.eng.rolling = RollingProgress(
        stable_at_start=s0,
        stable_ready_at_start=ready0,
        target=target,
        batch_size=batch,
        max_unavailable=unavailable,
        batch_count=count,
        stable_scaled_to=s0,
        stable_after_batch=s0,
        candidate_counted=0,
        candidate_next=0,
        candidate_scaled_to=None,
    )


def advance(ctx: Ctx) -> None:
    """Analysis, weights that follow readiness, then transitions as far as health allows."""
    ctx.run_analysis(ctx.plan.analysis, "rolling", _exposed(ctx))
    if ctx.eng.rolling is not None and ctx.eng.rolling.native:
        engine_rolling_native.advance(ctx)
        return
    batches.advance(ctx, SUB_PHASES, rollback=_finish_rollback, follow=_rebalance)


def _exposed(ctx: Ctx) -> bool:
    # Once a batch counts, the candidate is in service even while readiness flaps its
    # weight to 0: it stays under analysis, and evidence is still needed to go on.
    r = ctx.eng.rolling
    return ctx.exposed() or (r is not None and r.candidate_counted > 0)


def _rebalance(ctx: Ctx) -> None:
    if ctx.obs is None or ctx.eng.sub in ("final", "size"):
        return
    r = progress(ctx)
    s_r = min(ctx.ready(ctx.stable), r.stable_scaled_to)
    c_r = min(ctx.ready(ctx.candidate), r.candidate_counted)
    w = proportional(ctx.stable, s_r, ctx.candidate, c_r)
    if w is None:
        ctx.notice("health", "health", f"no ready instance to send traffic to: {_health(ctx)}")
        return
    ctx.try_split(w, f"following ready instances ({ctx.stable} {s_r}, {ctx.candidate} {c_r})")


def _health(ctx: Ctx) -> str:
    return ", ".join(health_text(ctx.health(v), v) for v in (ctx.stable, ctx.candidate))


def _all_done(r: RollingProgress) -> bool:
    return r.candidate_counted >= r.target and r.stable_scaled_to <= 0


def _size_update(ctx: Ctx) -> bool:
    """Size the update from the stable's instances; a workload whose own controller rolls
    it (the observation carries its status) goes the native way from here."""
    total = ctx.stable_count("the update")
    if total is None:
        return False
    s0 = total if total > 0 else (spec_of(ctx).instances or 1)
    _size(ctx, s0, ctx.ready(ctx.stable))
    if ctx.obs is not None and ctx.obs.rollout is not None:
        # One workload for both versions: its own controller replaces the pods.
        progress(ctx).native = True
        engine_rolling_native.advance(ctx)
        return False
    return True


def _next_sizes(ctx: Ctx, r: RollingProgress) -> tuple[int, int, int]:
    """For the next batch: the candidate's new count, how far the stable goes down now,
    and what it goes down to once the batch counts."""
    s, c, b = r.stable_scaled_to, r.candidate_counted, r.batch_size
    if ctx.eng.promote_full:
        # Everything at once: the candidate comes up in full before the stable goes.
        c_next, down, s_end = r.target, 0, 0
    else:
        c_next = min(r.target, c + b)
        down = min(r.max_unavailable, b, s)
        s_end = max(0, s - b)
    if c == 0:
        # Until a candidate instance counts, all traffic is on the stable: scaling it to
        # nothing first would leave requests with nowhere to go (maxUnavailable allows
        # capacity to drop, not an outage). One stays until traffic can move.
        down = min(down, max(0, s - 1))
    return c_next, down, s_end


def _batch(ctx: Ctx) -> bool:
    """Start the next batch: the stable down by up to maxUnavailable, the candidate up."""
    r = progress(ctx)
    if _all_done(r):
        ctx.eng.sub = "final"
        return True
    cand, stable = ctx.candidate, ctx.stable
    c_next, down, s_end = _next_sizes(ctx, r)
    s = r.stable_scaled_to
    if down:
        ctx.actions.append(Scale(stable, s - down))
    h = ctx.health(cand)
    if r.candidate_scaled_to is None and ctx.obs is not None and (h is None or h.total <= 0):
        ctx.actions.append(Deploy(cand, c_next))  # first batch of a version not running yet
    else:
        ctx.actions.append(Scale(cand, c_next))
    r.stable_scaled_to, r.stable_after_batch = s - down, s_end
    r.candidate_next = r.candidate_scaled_to = c_next
    why = f"{_label(ctx)}: {cand} to {c_next} instances" + (
        f", {stable} to {s - down}" if down else ""
    )
    batches.batch_started(ctx, why, "scale", stable=s - down, candidate=c_next)
    return True


def _wait_ready(ctx: Ctx) -> bool:
    """Once the batch is ready for minReady, traffic moves to the new instances before
    the old ones go."""
    r = progress(ctx)
    cand, stable = ctx.candidate, ctx.stable
    need = r.candidate_next
    if not batches.batch_ready(ctx, need, "instances"):
        return False
    s_end = r.stable_after_batch
    r.candidate_counted = need
    w = proportional(stable, min(ctx.ready(stable), s_end), cand, min(ctx.ready(cand), need))
    if w is not None:
        ctx.try_split(w, f"{_label(ctx)} ready")
    if s_end < r.stable_scaled_to:
        ctx.actions.append(Scale(stable, s_end))
    r.stable_scaled_to = s_end
    batches.batch_done(
        ctx, f"{_label(ctx)} done: {cand} {need}/{r.target}, {stable} {s_end}", "between"
    )
    return True


def _between(ctx: Ctx) -> bool:
    done = _all_done(progress(ctx))
    if not batches.may_go_on(ctx, _exposed(ctx), last=done):
        return False
    ctx.eng.sub = "final" if done else "batch"
    return True


def _final(ctx: Ctx) -> bool:
    cand, stable = ctx.candidate, ctx.stable
    if not ctx.try_split(ctx.full_split(cand), "rolling update done"):
        return False
    ctx.actions.append(Retire(stable))
    batches.complete(ctx, f"all {progress(ctx).target} {cand} instances ready; {stable} retired")
    return False


SUB_PHASES: dict[str, SubPhase] = {
    "size": _size_update,
    "batch": _batch,
    "wait-ready": _wait_ready,
    "between": _between,
    "final": _final,
}


def _finish_rollback(ctx: Ctx) -> None:
    r, rb = ctx.eng.rolling, ctx.eng.rollback
    if r is None or rb is None:
        ctx.finish_rollback_split()  # aborted before anything was sized or changed
        return
    s0 = r.stable_at_start
    if r.candidate_scaled_to is None and r.stable_scaled_to == s0 and ctx.on_version(ctx.stable):
        ctx.finish_rollback_split()  # nothing was changed yet
        return
    if r.stable_scaled_to != s0:
        ctx.actions.append(Scale(ctx.stable, s0))
        ctx.engine_audit("scale", f"rollback: {ctx.stable} back to {s0} instances")
        r.stable_scaled_to = s0
    if ctx.took_traffic():
        # Traffic moves back only once the stable is as ready as it was at the start.
        need = max(1, min(s0, r.stable_ready_at_start))
        if not ctx.rollback_waits_for_stable(need):
            return
    if not ctx.on_version(ctx.stable) and not ctx.try_split(
        ctx.full_split(ctx.stable), f"rollback: {rb.reason}"
    ):
        return
    if r.candidate_scaled_to:
        ctx.actions.append(Scale(ctx.candidate, 0))
    r.candidate_counted = r.candidate_next = 0
    if r.candidate_scaled_to is not None:
        r.candidate_scaled_to = 0
    ctx.finish_rollback_split()


def promote(ctx: Ctx, full: bool, who: str) -> None:
    """promote: skip the wait between batches; promote-full: the rest in one batch."""
    if ctx.phase is Phase.PAUSED:
        ctx.unpause()
    if full:
        ctx.eng.promote_full = True
        ctx.event("promoted", f"promote-full by {who}: all {ctx.candidate} instances at once")
    else:
        ctx.eng.gate_waived = True
        ctx.event("promoted", f"promote by {who}: next batch without waiting")
