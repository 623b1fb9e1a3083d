"""``progressDeadline``: a candidate that does not become healthy, or that falls over while it
takes traffic, triggers ``onFailure`` with the health reason in words. Pure (on ``Ctx``).

The rules, checked at every step of a rollout that is running (not Paused, not rolling
back, not finished) and whose health could be read:

- The candidate not all ready (every instance ready) for ``progressDeadline`` in a row:
  before its first traffic (never ready: an image that does not start, a readiness probe
  that never passes) or while it takes traffic (it lost readiness and did not get it back).
  The clock starts when it is first seen not all ready and stops once it is. Progress starts
  it again: more candidate instances ready than last seen (as a Deployment's own
  ``progressDeadlineSeconds`` counts), so a long rolling update whose pods keep becoming
  ready never runs out, and one stuck for the deadline does.
- The candidate restarting ``RESTART_LIMIT`` times or more while it takes traffic (counted
  from its restart count when it was first seen taking traffic): a crash loop acts at once.
  In a rolling update new instances start while older ones take traffic, so the count starts
  again with each progress (a pod that restarted while starting and then became ready is
  not a crash loop).

While Paused nothing is checked and the clocks start again on resume, so a person who
resumes a held rollout gets a whole deadline. ``onFailure`` is the analysis block's in
force (roll back when there is none).
"""

from __future__ import annotations

from backends.base import Phase, Strategy
from backends.units import format_duration
from console.engine.context import Ctx, health_text, stage_spec
from console.plan.model import OnFailure

RESTART_LIMIT = 3  # restarts while exposed that count as "restarting repeatedly"


def check(ctx: Ctx) -> None:
    """Apply the progressDeadline rules to this step (see the module's docstring)."""
    if ctx.phase.terminal or ctx.eng.rollback:
        return
    if ctx.phase is Phase.PAUSED:
        ctx.eng.unhealthy_since = None
        ctx.eng.restarts_base = None
        ctx.eng.ready_seen = None
        return
    obs = ctx.obs
    if obs is None or obs.traffic_error or not obs.health:
        return  # health unknown this tick: nothing to conclude
    cand = ctx.candidate
    h = ctx.health(cand)
    exposed = ctx.exposed()
    reason: str | None = None
    progress = h is not None and ctx.eng.ready_seen is not None and h.ready > ctx.eng.ready_seen
    if h is not None:
        ctx.eng.ready_seen = h.ready
    if progress and ctx.strategy is Strategy.ROLLING:
        ctx.eng.restarts_base = None  # restarts while new instances started do not count
    if exposed and h is not None:
        if ctx.eng.restarts_base is None or h.restarts < ctx.eng.restarts_base:
            ctx.eng.restarts_base = h.restarts  # first seen, or the counter started again
        restarts = h.restarts - ctx.eng.restarts_base
        if restarts >= RESTART_LIMIT:
            reason = (
                f"{cand} restarted {restarts} times while taking traffic ({health_text(h, cand)})"
            )
    if h is not None and h.all_ready:
        ctx.eng.unhealthy_since = None
    elif ctx.eng.unhealthy_since is None or progress:
        ctx.eng.unhealthy_since = ctx.now
    elif reason is None and ctx.now - ctx.eng.unhealthy_since >= ctx.plan.progress_deadline:
        limit = format_duration(ctx.plan.progress_deadline)
        what = "lost readiness while taking traffic and is" if exposed else "is"
        reason = f"{cand} {what} not healthy after progressDeadline {limit}: {health_text(h, cand)}"
    if reason is not None:
        _fail(ctx, reason)


def _fail(ctx: Ctx, reason: str) -> None:
    spec = stage_spec(ctx.plan, ctx.eng.stage or "preview")
    ctx.eng.unhealthy_since = None
    ctx.eng.restarts_base = None
    ctx.eng.ready_seen = None
    if spec is not None and spec.on_failure is OnFailure.PAUSE:
        ctx.event("breach", f"{reason} -> paused (onFailure: pause)", health_failure=True)
        ctx.engine_audit("pause", reason, rule="progressDeadline")
        ctx.pause("breach", f"{reason} -> paused", by="engine", force=True)
        return
    ctx.event("breach", f"{reason} -> rolling back", health_failure=True)
    ctx.engine_audit("rollback", reason, rule="progressDeadline")
    ctx.begin_rollback(reason, Phase.ROLLED_BACK)
