"""Blue/green: the candidate runs as a full preview pool, then takes all traffic at once.

Sub-phases (``EngineState.sub``; ``step_started_at`` marks when each began), one handler
each in ``SUB_PHASES``:

- ``deploy``: Deploy the candidate with as many instances as the stable runs now.
- ``starting``: wait until the whole pool is ready; then apply match routes / mirroring so
  testers reach the preview (phase Pending until here).
- ``preview``: previewAnalysis (if any) runs; it passes after ``previewDuration`` with a
  passing measurement. Without previewAnalysis it passes at once.
- ``await``: autoPromote None -> Paused until ``promote``; 0 -> switch now; N -> switch N
  seconds after the preview passed (the message names that time: "switching to v2 at
  12:03:40 UTC (autoPromote 20s)", a deadline rather than a countdown, so it changes only
  when a pause moves it).
- ``switch``: SetSplit 100% candidate in one step (health-gated), routes cleared,
  ``BlueGreenProgress.switched`` (stored as ``promoted``).
- ``post``: postPromotionAnalysis (if any) runs; a breach switches straight back to the
  stable pool, which is still running. After ``scaleDownDelay`` (and a passing measurement,
  if analysed) the stable pool is retired and the rollout Completed.

A rollback from any sub-phase is SetSplit 100% stable; the candidate pool is left running
(scaled down by the next rollout or by hand), so a retry starts fast.
"""

from __future__ import annotations

import time

from backends.base import Deploy, Phase, Retire
from console.engine.context import Ctx, SubPhase, health_text, run_sub_phases, stage_spec
from console.plan.model import BlueGreenSpec

PRE_SWITCH = ("deploy", "starting", "preview", "await")
SUBS = (*PRE_SWITCH, "switch", "post")  # record.step_index is the position in this list


def spec_of(ctx: Ctx) -> BlueGreenSpec:
    return ctx.plan.bluegreen or BlueGreenSpec()


def stage(sub: str | None) -> str:
    return "post" if sub == "post" else "preview"


def init(ctx: Ctx) -> None:
    ctx.eng.sub = "deploy"


def advance(ctx: Ctx) -> None:
    """Analysis for the current stage, then as many transitions as time and health allow."""
    sub = ctx.eng.sub
    st = stage(sub)
    ctx.run_analysis(stage_spec(ctx.plan, st), st, sub in ("preview", "await", "post"))
    if ctx.eng.rollback:
        ctx.finish_rollback_split()
        return
    run_sub_phases(ctx, SUB_PHASES, limit=8)


def _enter(ctx: Ctx, sub: str) -> None:
    ctx.eng.sub = sub
    ctx.step_started_at = ctx.now
    ctx.step_index = SUBS.index(sub)
    ctx.clear_notice("evidence")


def _deploy(ctx: Ctx) -> bool:
    """Deploy the preview pool: as many candidate instances as the stable runs now."""
    cand, stable = ctx.candidate, ctx.stable
    total = ctx.stable_count(f"the {cand} pool")
    if total is None:
        return False
    pool = max(1, total)
    ctx.eng.bluegreen.pool = pool
    ctx.actions.append(Deploy(cand, pool))
    why = f"deploying {cand} as a preview pool of {pool} (as many as {stable} runs)"
    ctx.event("step", why, instances=pool)
    ctx.engine_audit("deploy", why, version=cand, instances=pool)
    _enter(ctx, "starting")
    ctx.message = why
    return True


def _starting(ctx: Ctx) -> bool:
    """Once the whole pool is ready, testers reach the preview (match routes, mirroring)."""
    cand = ctx.candidate
    h = ctx.health(cand)
    pool = ctx.eng.bluegreen.pool or 1
    if h is None or not h.all_ready or h.ready < pool:
        if ctx.obs is not None:
            ctx.notice(
                "health",
                "health",
                f"waiting for the {cand} preview pool: {health_text(h, cand)} (need {pool} ready)",
            )
        return False
    ctx.begin_traffic()
    ctx.exposure_changed()  # the preview's measurement clock starts now
    _enter(ctx, "preview")
    ctx.message = f"preview: {cand} {h.ready}/{h.total} ready"
    ctx.event("step", ctx.message)
    return True


def _preview(ctx: Ctx) -> bool:
    """previewAnalysis passes after previewDuration with a passing measurement (at once
    without one, or when promoted); then the switch waits for promote or autoPromote."""
    bg, cand = spec_of(ctx), ctx.candidate
    requested = ctx.eng.bluegreen.promote_requested
    if not requested:
        spec = stage_spec(ctx.plan, "preview")
        if spec is not None:
            if ctx.now < ctx.step_started_at + bg.preview_duration:
                return False
            ok, why = ctx.evidence(spec, True)
            if not ok:
                ctx.notice("evidence", "step", f"preview of {cand} holds: {why}")
                return False
        ctx.event("analysis" if spec else "step", f"preview of {cand} passed")
    _enter(ctx, "await")
    if bg.auto_promote is None and not requested:
        ctx.pause("gate", f"preview of {cand} done: waiting for promote to switch", by="engine")
    elif bg.auto_promote:
        ctx.message = _switch_message(ctx, bg.auto_promote)
    return True


def _await(ctx: Ctx) -> bool:
    """Switch when promoted, or autoPromote seconds after the preview passed."""
    auto = spec_of(ctx).auto_promote
    if ctx.eng.bluegreen.promote_requested or (
        auto is not None and ctx.now >= ctx.step_started_at + auto
    ):
        _enter(ctx, "switch")
        return True
    if auto is None:
        ctx.pause(
            "gate", f"preview of {ctx.candidate} done: waiting for promote to switch", by="engine"
        )
    else:
        # Kept up to date (a pause moves the deadline; "resumed by" replaces it), and the
        # same text every tick: a countdown would make each tick worth a write.
        ctx.message = _switch_message(ctx, auto)
    return False


def _switch(ctx: Ctx) -> bool:
    """100% to the candidate in one step (health-gated); routes cleared."""
    cand = ctx.candidate
    if not ctx.try_split(ctx.full_split(cand), "blue/green switch", all_ready=(cand,)):
        return False
    ctx.clear_routes()
    ctx.eng.bluegreen.switched = True
    ctx.eng.bluegreen.promote_requested = False
    _enter(ctx, "post")
    ctx.message = f"{cand} takes 100%; {ctx.stable} kept for {spec_of(ctx).scale_down_delay:g}s"
    ctx.event("promoted", f"switched 100% of traffic to {cand}; {ctx.message}")
    return True


def _post(ctx: Ctx) -> bool:
    """After scaleDownDelay and a passing postPromotionAnalysis (unless promoted), the
    stable pool is retired: Completed."""
    cand, stable = ctx.candidate, ctx.stable
    if not ctx.eng.bluegreen.retire_now:
        if ctx.now < ctx.step_started_at + spec_of(ctx).scale_down_delay:
            return False
        ok, why = ctx.evidence(stage_spec(ctx.plan, "post"), True)
        if not ok:
            ctx.notice("evidence", "step", f"retiring {stable} holds: {why}")
            return False
    ctx.actions.append(Retire(stable))
    ctx.engine_audit("retire", f"{cand} took 100%: retiring the {stable} pool")
    ctx.finish(
        Phase.COMPLETED, f"{cand} takes 100% of {ctx.service}; {stable} retired", "completed"
    )
    return False


SUB_PHASES: dict[str, SubPhase] = {
    "deploy": _deploy,
    "starting": _starting,
    "preview": _preview,
    "await": _await,
    "switch": _switch,
    "post": _post,
}


def _switch_message(ctx: Ctx, auto: float) -> str:
    """'switching to v2 at 12:03:40 UTC (autoPromote 20s)': the deadline, not a countdown."""
    at = time.strftime("%H:%M:%S", time.gmtime(ctx.step_started_at + auto))
    return f"switching to {ctx.candidate} at {at} UTC (autoPromote {auto:g}s)"


def promote(ctx: Ctx, full: bool, who: str) -> None:
    """promote / promote-full: switch as soon as the pool is ready; after the switch, retire
    the old pool now (``commands.refusal`` said it applies now)."""
    sub = ctx.eng.sub
    if ctx.phase is Phase.PAUSED:
        ctx.unpause()
    if sub == "post":
        ctx.eng.bluegreen.retire_now = True
        ctx.event("promoted", f"promote by {who}: retiring {ctx.stable} now")
        return
    ctx.eng.bluegreen.promote_requested = True
    ctx.start_progressing()
    ctx.event("promoted", f"promote by {who}: switching to {ctx.candidate} once it is ready")
