"""Rolling update: instances are replaced a batch at a time, readiness-gated.

Bookkeeping in ``record.engine["rolling"]``: ``stable_start`` (the stable's instance count
at the start, restored on rollback), ``target`` (candidate instances at the end), ``batch``
(``maxSurge + maxUnavailable``, at least 1), ``s`` (what the stable is scaled to now), ``c``
(candidate instances counted as ready: finished batches) and ``c_next``.
``record.step_index`` counts finished batches. Sub-phases in ``record.engine["sub"]``:

- ``batch``: scale the stable down by up to ``maxUnavailable`` and the candidate up by the
  batch (so at most ``maxSurge`` extra instances run, at most ``maxUnavailable`` are gone).
- ``wait-ready``: wait until the candidate has ``c_next`` ready instances and they stayed
  ready for ``minReady`` (``engine["ready_since"]``). Then shift weights to the new
  instances, scale the stable down by the rest of the batch.
- ``between``: ``pauseBetweenBatches`` (not after the last batch), and a passing
  measurement if analysis is on.
- ``final``: 100% candidate, the stable retired, Completed.

Weights always follow the ready instances that count (every tick): stable
``min(ready, s)``, candidate ``min(ready, c)``, as integer percents summing to 100.

Rollback: scale the stable back to ``stable_start`` first and wait until it is ready again
(as ready as it was at the start), then 100% stable, then the candidate to 0. If the
candidate never took traffic, nothing waits: the stable is scaled back, the candidate to 0,
and the rollback ends at once.
"""

from __future__ import annotations

import math
from typing import Any

from backends.base import Deploy, Phase, Retire, Scale
from console.engine import batches
from console.engine import rolling_native as engine_rolling_native
from console.engine.batches import label as _label
from console.engine.batches import spec_of
from console.engine.context import Ctx, health_text


def proportional(stable: str, s_ready: int, cand: str, c_ready: int) -> dict[str, int] | None:
    """Integer weights summing to 100 in proportion to ready instances; None if none is."""
    s_ready, c_ready = max(0, s_ready), max(0, c_ready)
    total = s_ready + c_ready
    if total <= 0:
        return None
    cw = round(100 * c_ready / total)
    return {stable: 100 - cw, cand: cw}


def init(ctx: Ctx, previous: dict[str, Any] | None = None) -> None:
    """Size the update from the previous attempt, or (sub-phase ``size``) from the stable's
    instances as soon as health can be read."""
    if previous:
        _size(ctx, int(previous["stable_start"]), int(previous["stable_ready_start"]))
        ctx.eng["rolling"]["native"] = bool(previous.get("native"))
    else:
        ctx.eng["sub"] = "size"


def _size(ctx: Ctx, s0: int, ready0: int) -> None:
    rs = spec_of(ctx)
    target = rs.instances or s0
    unavailable = max(0, rs.max_unavailable)
    batch = max(1, max(0, rs.max_surge) + unavailable)
    ctx.eng["sub"] = "batch"
    ctx.eng["batches"] = math.ceil(max(target, s0) / batch)  # for "k/n" in tables
    ctx.eng["rolling"] = {
        "stable_start": s0,
        "stable_ready_start": ready0,
        "target": target,
        "batch": batch,
        "unavailable": unavailable,
        "batches": math.ceil(max(target, s0) / batch),
        "s": s0,
        "s_end": s0,
        "c": 0,
        "c_next": 0,
        "c_scaled": None,  # the candidate's last Scale target, None if never touched
    }


def advance(ctx: Ctx) -> None:
    """Analysis, weights that follow readiness, then transitions as far as health allows."""
    ctx.run_analysis(ctx.plan.analysis, "rolling", _exposed(ctx))
    if ctx.eng.get("rolling", {}).get("native"):
        engine_rolling_native.advance(ctx)
        return
    if ctx.eng.get("rollback"):
        _finish_rollback(ctx)
        return
    if ctx.phase.terminal:
        return
    _rebalance(ctx)
    for _ in range(8):
        if ctx.phase is Phase.PAUSED or ctx.phase.terminal or not _once(ctx):
            return


def _exposed(ctx: Ctx) -> bool:
    # Once a batch counts, the candidate is in service even while readiness flaps its
    # weight to 0: it stays under analysis, and evidence is still needed to go on.
    return ctx.exposed() or int(ctx.eng.get("rolling", {}).get("c", 0)) > 0


def _rebalance(ctx: Ctx) -> None:
    if ctx.obs is None or ctx.eng.get("sub") in ("final", "size"):
        return
    r = ctx.eng["rolling"]
    s_r = min(ctx.ready(ctx.stable), int(r["s"]))
    c_r = min(ctx.ready(ctx.candidate), int(r["c"]))
    w = proportional(ctx.stable, s_r, ctx.candidate, c_r)
    if w is None:
        ctx.notice("health", "health", f"no ready instance to send traffic to: {_health(ctx)}")
        return
    ctx.try_split(w, f"following ready instances ({ctx.stable} {s_r}, {ctx.candidate} {c_r})")


def _health(ctx: Ctx) -> str:
    return ", ".join(health_text(ctx.health(v), v) for v in (ctx.stable, ctx.candidate))


def _once(ctx: Ctx) -> bool:
    sub = ctx.eng.get("sub")
    cand, stable = ctx.candidate, ctx.stable
    if sub == "size":
        total = ctx.known_total(stable)
        if total is None:
            if ctx.obs is not None:
                why = ctx.obs.traffic_error or "no instances reported"
                ctx.notice("health", "health", f"cannot size the update yet: {why}")
            return False
        s0 = total if total > 0 else (spec_of(ctx).instances or 1)
        _size(ctx, s0, ctx.ready(stable))
        if ctx.obs is not None and ctx.obs.rollout is not None:
            # One workload for both versions: its own controller replaces the pods.
            ctx.eng["rolling"]["native"] = True
            engine_rolling_native.advance(ctx)
            return False
        return True
    r = ctx.eng["rolling"]
    done = int(r["c"]) >= int(r["target"]) and int(r["s"]) <= 0
    if sub == "batch":
        if done:
            ctx.eng["sub"] = "final"
            return True
        s, c = int(r["s"]), int(r["c"])
        b = int(r["batch"])
        if ctx.eng.get("full"):
            # Everything at once: the candidate comes up in full before the stable goes.
            c_next, d, s_end = int(r["target"]), 0, 0
        else:
            c_next = min(int(r["target"]), c + b)
            d = min(int(r["unavailable"]), b, s)
            s_end = max(0, s - b)
        if c == 0:
            # Until a candidate instance counts, all traffic is on the stable: scaling it to
            # nothing first would leave requests with nowhere to go (maxUnavailable allows
            # capacity to drop, not an outage). One stays until traffic can move.
            d = min(d, max(0, s - 1))
        if d:
            ctx.actions.append(Scale(stable, s - d))
        h = ctx.health(cand)
        if r.get("c_scaled") is None and ctx.obs is not None and (h is None or h.total <= 0):
            ctx.actions.append(Deploy(cand, c_next))  # first batch of a version not running yet
        else:
            ctx.actions.append(Scale(cand, c_next))
        r.update(s=s - d, s_end=s_end, c_next=c_next, c_scaled=c_next)
        ctx.eng["traffic_started"] = True
        ctx.phase = Phase.PROGRESSING
        why = f"{_label(ctx)}: {cand} to {c_next} instances" + (
            f", {stable} to {s - d}" if d else ""
        )
        ctx.message = why
        ctx.event("step", why, stable=s - d, candidate=c_next)
        ctx.engine_audit("scale", why, stable=s - d, candidate=c_next)
        ctx.eng["sub"] = "wait-ready"
        ctx.eng["ready_since"] = None
        ctx.step_started_at = ctx.now
        return True
    if sub == "wait-ready":
        need = int(r["c_next"])
        if not batches.batch_ready(ctx, need, "instances"):
            return False
        # The batch counts: traffic moves to the new instances before the old ones go.
        s_end = int(r["s_end"])
        r["c"] = need
        w = proportional(stable, min(ctx.ready(stable), s_end), cand, min(ctx.ready(cand), need))
        if w is not None:
            ctx.try_split(w, f"{_label(ctx)} ready")
        if s_end < int(r["s"]):
            ctx.actions.append(Scale(stable, s_end))
        r["s"] = s_end
        batches.batch_done(
            ctx, f"{_label(ctx)} done: {cand} {need}/{r['target']}, {stable} {s_end}", "between"
        )
        return True
    if sub == "between":
        if not batches.may_go_on(ctx, _exposed(ctx), last=done):
            return False
        ctx.eng["sub"] = "final" if done else "batch"
        return True
    if sub == "final":
        if not ctx.try_split(ctx.full_split(cand), "rolling update done"):
            return False
        ctx.actions.append(Retire(stable))
        why = f"all {r['target']} {cand} instances ready; {stable} retired"
        ctx.engine_audit("complete", why)
        ctx.finish(Phase.COMPLETED, f"{cand} takes 100% of {ctx.service}: {why}", "completed")
        return False
    return False


def _finish_rollback(ctx: Ctx) -> None:
    if "rolling" not in ctx.eng:
        ctx.finish_rollback_split()  # aborted before anything was sized or changed
        return
    r = ctx.eng["rolling"]
    rb = ctx.eng["rollback"]
    s0 = int(r["stable_start"])
    if r.get("c_scaled") is None and int(r["s"]) == s0 and ctx.on_version(ctx.stable):
        ctx.finish_rollback_split()  # nothing was changed yet
        return
    if int(r["s"]) != s0:
        ctx.actions.append(Scale(ctx.stable, s0))
        ctx.engine_audit("scale", f"rollback: {ctx.stable} back to {s0} instances")
        r["s"] = s0
    if ctx.took_traffic():
        # Traffic moves back only once the stable is as ready as it was at the start.
        need = max(1, min(s0, int(r["stable_ready_start"])))
        if not ctx.rollback_waits_for_stable(need):
            return
    if not ctx.on_version(ctx.stable) and not ctx.try_split(
        ctx.full_split(ctx.stable), f"rollback: {rb['reason']}"
    ):
        return
    if r.get("c_scaled"):
        ctx.actions.append(Scale(ctx.candidate, 0))
    r.update(c=0, c_next=0, c_scaled=0 if r.get("c_scaled") is not None else None)
    ctx.finish_rollback_split()


def promote(ctx: Ctx, full: bool, who: str) -> None:
    """promote: skip the wait between batches; promote-full: the rest in one batch."""
    if ctx.phase is Phase.PAUSED:
        ctx.unpause()
    if full:
        ctx.eng["full"] = True
        ctx.event("promoted", f"promote-full by {who}: all {ctx.candidate} instances at once")
    else:
        ctx.eng["waive"] = True
        ctx.event("promoted", f"promote by {who}: next batch without waiting")
