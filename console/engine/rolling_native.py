"""Rolling update done by the workload's own controller (a Kubernetes Deployment).

Used when the observation carries a ``RolloutStatus`` at sizing time: the service is one
Deployment, so the two versions are the old and new ReplicaSets of it and the controller
replaces pods by ``maxSurge``/``maxUnavailable``. The engine keeps what it adds on top:
analysis between batches, pauses, promote and rollback. Bookkeeping is the same
``RollingProgress`` as ``rolling``'s with ``native`` (true), ``update_started``
(RollingUpdate issued), ``held`` (what ``spec.paused`` was last set to) and ``undone``.
Sub-phases, one handler each in ``SUB_PHASES``:

- ``batch``: the first one starts the update (``RollingUpdate``), later ones let the
  controller go on (``HoldRollout(False)``); ``candidate_next`` is one batch more than
  counted.
- ``wait-ready``: until ``candidate_next`` candidate pods are ready (for ``minReady``). Then the
  controller is held (``spec.paused``) while the pause between batches and the analysis
  run: the batch boundary is where the engine saw it, so the controller may have started
  a pod or two of the next batch by then (they keep running, paused).
- ``final``: the controller has every candidate pod ready and no stable pod left.

The split is never set: the Service selects both versions' pods, so the weights the
engine records are the ready-pod ratio (``TrafficSplit.approximate`` on the backend).
Pause (a person's, or an analysis pause) holds the controller; resume releases it.
Rollback is ``UndoRollout(stable)`` (``kubectl rollout undo`` to the stable's revision,
unpaused), then waits until the stable is as ready as it was and no candidate pod is left.
"""

from __future__ import annotations

from backends.base import HoldRollout, Phase, RollingUpdate, UndoRollout
from console.engine import batches
from console.engine.batches import label as _label
from console.engine.batches import progress
from console.engine.context import Ctx, SubPhase, health_text, split_text
from console.plan.model import RollingSpec


def advance(ctx: Ctx) -> None:
    """Everything after the analysis ran: rollback, weights, transitions, the hold."""
    batches.advance(ctx, SUB_PHASES, rollback=_rollback, follow=_follow_and_reissue)
    _hold(ctx)


def _follow_and_reissue(ctx: Ctx) -> None:
    _follow_ready_pods(ctx)
    _reissue_update(ctx)


def _batch(ctx: Ctx) -> bool:
    """The first batch starts the update; later ones let the controller go on."""
    r = progress(ctx)
    label, cand = _label(ctx), ctx.candidate
    c, target = r.candidate_counted, r.target
    c_next = target if ctx.eng.promote_full else min(target, c + r.batch_size)
    if not r.update_started:
        ctx.actions.append(_update(ctx, target))
        r.update_started, r.held = True, False
        r.candidate_scaled_to, r.update_started_at = c_next, ctx.now
        why = f"{label}: rolling update of the Deployment to {cand} ({target} pods)"
    else:
        why = f"{label}: the Deployment goes on to {c_next} {cand} pods"
    r.candidate_next = c_next
    batches.batch_started(ctx, why, "rolling-update", candidate=c_next)
    return True


def _wait_ready(ctx: Ctx) -> bool:
    """The batch counts once ``candidate_next`` pods are ready (for minReady)."""
    r = progress(ctx)
    label, cand, stable = _label(ctx), ctx.candidate, ctx.stable
    if not batches.batch_ready(ctx, r.candidate_next, "pods"):
        return False
    r.candidate_counted = min(r.target, ctx.ready(cand))
    r.stable_scaled_to = ctx.known_total(stable) or 0
    batches.batch_done(
        ctx,
        f"{label} done: {cand} {r.candidate_counted}/{r.target} ready, {stable} "
        f"{r.stable_scaled_to}",
        "between" if r.candidate_counted < r.target else "final",
    )
    return True


def _between(ctx: Ctx) -> bool:
    if not batches.may_go_on(ctx, True, last=False):
        return False
    ctx.eng.sub = "batch"
    return True


def _final(ctx: Ctx) -> bool:
    """Completed once the controller is done: every candidate pod ready, no stable pod."""
    cand, stable, target = ctx.candidate, ctx.stable, progress(ctx).target
    left = ctx.known_total(stable)
    if left is None or left > 0 or ctx.ready(cand) < target:
        ctx.notice("health", "health", f"waiting for the Deployment to finish: {_health(ctx)}")
        return False
    ctx.clear_notice("health")
    _record_weights(ctx, ctx.full_split(cand), "rolling update done")
    batches.complete(ctx, f"all {target} {cand} pods ready; no {stable} pod left")
    return False


SUB_PHASES: dict[str, SubPhase] = {
    "batch": _batch,
    "wait-ready": _wait_ready,
    "between": _between,
    "final": _final,
}


def _rollback(ctx: Ctx) -> None:
    r, rb = progress(ctx), ctx.eng.rollback
    if not r.update_started or rb is None:
        ctx.finish_rollback_split()  # the Deployment was never touched
        return
    stable, cand = ctx.stable, ctx.candidate
    if not r.undone:
        ctx.actions.append(UndoRollout(stable))
        r.undone, r.held, r.undone_at = True, False, ctx.now
        r.candidate_counted = r.candidate_next = 0
        ctx.engine_audit("undo", f"rollback: the Deployment back to {stable}'s revision")
    elif _runs_other_than(ctx, stable, r.undone_at or 0.0):
        ctx.actions.append(UndoRollout(stable))  # the undo did not land (driver crash, error)
        r.undone_at = ctx.now
    need = max(1, min(r.stable_at_start, r.stable_ready_at_start))
    if not ctx.rollback_waits_for_stable(need):
        _follow_ready_pods(ctx)
        return
    left = ctx.known_total(cand)
    if left is None or left > 0:
        _follow_ready_pods(ctx)
        ctx.notice("health", "health", f"rollback waits: {left} {cand} pods still running")
        return
    _record_weights(ctx, ctx.full_split(stable), "rollback")
    verb = "aborted" if rb.target is Phase.ABORTED else "rolled back"
    ctx.finish(
        rb.target,
        f"{rb.reason} -> {verb}: 100% on {stable} (Deployment back on {stable}, "
        f"{ctx.ready(stable)} pods ready)",
        "aborted" if rb.target is Phase.ABORTED else "rollback",
    )


def _update(ctx: Ctx, target: int) -> RollingUpdate:
    spec = ctx.plan.rolling or RollingSpec()
    return RollingUpdate(
        ctx.candidate,
        target,
        max_surge=spec.max_surge,
        max_unavailable=spec.max_unavailable,
        min_ready=spec.min_ready,
    )


def _runs_other_than(ctx: Ctx, version: str, since: float) -> bool:
    """Does an observation taken after ``since`` show the template on another version?"""
    obs = ctx.obs
    return (
        obs is not None
        and obs.rollout is not None
        and obs.at > since
        and obs.rollout.version != version
    )


def _reissue_update(ctx: Ctx) -> None:
    """The record says the update started but the Deployment does not run the candidate:
    the action never landed (the driver died between saving and applying, or the write
    failed), or someone changed the template. The rollout owns it until it ends."""
    r = progress(ctx)
    if not r.update_started or not _runs_other_than(ctx, ctx.candidate, r.update_started_at or 0.0):
        return
    ctx.actions.append(_update(ctx, r.target))
    seen = ctx.obs.rollout.version if ctx.obs is not None and ctx.obs.rollout else "?"
    r.update_started_at, r.held = ctx.now, False
    ctx.notice(
        "reconcile",
        "step",
        f"re-applying the rolling update to {ctx.candidate} (the Deployment runs {seen})",
    )


def _hold(ctx: Ctx) -> None:
    """Keep ``spec.paused`` where the engine wants it: held while Paused or between batches."""
    r = progress(ctx)
    if not r.update_started or ctx.phase.terminal or ctx.eng.rollback:
        return
    want = ctx.phase is Phase.PAUSED or ctx.eng.sub == "between"
    held = bool(r.held)
    # Someone flipped spec.paused behind the engine's back (seen after its last change).
    obs = ctx.obs
    drifted = (
        obs is not None
        and obs.rollout is not None
        and obs.rollout.paused != held
        and obs.at > (r.held_at if r.held_at is not None else ctx.started_at)
    )
    if want != held or drifted:
        ctx.actions.append(HoldRollout(want))
        r.held, r.held_at = want, ctx.now
        ctx.engine_audit("hold" if want else "release", ctx.message)


def _follow_ready_pods(ctx: Ctx) -> None:
    """Record the ready-pod ratio as the split (the Service sends to every ready pod)."""
    stable, cand = ctx.stable, ctx.candidate
    s, c = ctx.ready(stable), ctx.ready(cand)
    if ctx.obs is None or s + c <= 0:
        return
    cw = round(100 * c / (s + c))
    _record_weights(ctx, {stable: 100 - cw, cand: cw}, f"ready pods ({stable} {s}, {cand} {c})")


def _record_weights(ctx: Ctx, w: dict[str, int], why: str) -> None:
    if {k: v for k, v in w.items() if v} == {k: v for k, v in ctx.weights.items() if v}:
        return
    before = dict(ctx.weights)
    ctx.weights = w
    if w.get(ctx.candidate, 0) > 0:
        ctx.eng.took_traffic = True
    ctx.event("weight", f"{split_text(w)}: {why}", weights=w, before=before)
    ctx.exposure_changed()


def _health(ctx: Ctx) -> str:
    return ", ".join(health_text(ctx.health(v), v) for v in (ctx.stable, ctx.candidate))
