"""A one-screen, plain-text summary of a validated plan (``rollout validate`` prints it).

It says what will happen in the order it happens: who gets traffic at each step, how the
candidate is judged, and what happens when it fails. Import ``summarize`` from
``console.plan``.
"""

from __future__ import annotations

from console.plan_model import (
    LATENCY_METRICS,
    AnalysisSpec,
    MetricSpec,
    OnFailure,
    PauseStep,
    Plan,
    SetWeightStep,
    Step,
)

MAX_STEP_LINES = 14  # keep the whole summary within one 80x24 screen


def format_duration(seconds: float) -> str:
    """Seconds -> the shortest plan-style text: 0.4 -> '400ms', 90 -> '1m30s', 3600 -> '1h'."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


def summarize(plan: Plan) -> str:
    """What the plan will do, step by step, in at most about 24 lines."""
    stable = plan.stable or "stable (the version serving 100% at start)"
    old = plan.stable or "stable"
    lines = [
        f"{plan.service}: {plan.strategy.value} from {stable} to {plan.candidate}"
        + (f"  [{plan.source}]" if plan.source else "")
    ]
    if plan.steps:
        lines.append("steps:")
        shown: list[tuple[int, Step | None]] = list(enumerate(plan.steps, 1))
        if len(shown) > MAX_STEP_LINES:
            hidden = len(shown) - MAX_STEP_LINES + 1
            shown = [*shown[: MAX_STEP_LINES // 2], (0, None), *shown[-(MAX_STEP_LINES // 2) + 1 :]]
        for n, step in shown:
            if step is None:
                lines.append(f"  ... {hidden} more steps")
            elif isinstance(step, SetWeightStep):
                lines.append(
                    f"  {n:>2}. set weight  {plan.candidate} {step.weight}%, "
                    f"{old} {100 - step.weight}%"
                )
            elif isinstance(step, PauseStep):
                what = (
                    "wait for promote (manual gate)"
                    if step.duration is None
                    else f"wait {format_duration(step.duration)}"
                )
                lines.append(f"  {n:>2}. pause       {what}")
        last = next((s for s in reversed(plan.steps) if isinstance(s, SetWeightStep)), None)
        if last is None or last.weight != 100:
            lines.append(
                f"      then      {plan.candidate} 100% (promoted at the end of the steps)"
            )
        lines.append(f"      done      {plan.candidate} serves 100%; {old} is retired")
    if plan.bluegreen is not None:
        bg = plan.bluegreen
        lines.append(f"preview: {plan.candidate} runs as a full pool beside {old}, no user traffic")
        if bg.preview_analysis is not None:
            lines.append(f"  analysis for {format_duration(bg.preview_duration)} (see below)")
        if bg.auto_promote is None:
            lines.append("switch:  waits for promote, then 100% to " + plan.candidate)
        elif bg.auto_promote == 0:
            lines.append(f"switch:  100% to {plan.candidate} as soon as the preview passes")
        else:
            lines.append(
                f"switch:  100% to {plan.candidate} {format_duration(bg.auto_promote)} "
                "after the preview passes (or on promote)"
            )
        lines.append(f"then:    {old} scaled down {format_duration(bg.scale_down_delay)} later")
    if plan.rolling is not None:
        r = plan.rolling
        count = str(r.instances) if r.instances is not None else f"as many as {old} runs"
        lines.append(
            f"rolling: {count} instances, up to {r.max_surge} extra and {r.max_unavailable} "
            f"unavailable at a time; each new instance ready for {format_duration(r.min_ready)}"
        )
        if r.pause_between_batches:
            lines.append(
                f"         wait {format_duration(r.pause_between_batches)} between batches"
            )
    specs = [("analysis", plan.analysis)]
    if plan.bluegreen is not None:
        specs = [
            ("preview analysis", plan.bluegreen.preview_analysis),
            ("post-promotion analysis", plan.bluegreen.post_promotion_analysis),
        ]
    for title, spec in specs:
        if spec is None:
            lines.append(
                f"{title}: off" + ("  (nothing rolls back automatically)" * (title == "analysis"))
            )
        else:
            lines.extend(_analysis_lines(title, spec, plan))
    if plan.match:
        rules = "; ".join(
            " and ".join(
                [f"header {k}={v}" for k, v in m.headers.items()]
                + [f"cookie {k}={v}" for k, v in m.cookies.items()]
            )
            for m in plan.match
        )
        lines.append(f"match:   requests with {rules} always go to {plan.candidate}")
    if plan.mirror:
        lines.append(
            f"mirror:  {plan.mirror}% of requests copied to {plan.candidate}, answers dropped"
        )
    if plan.webhooks:
        n = len(plan.webhooks)
        lines.append(f"notify:  {n} webhook{'s' * (n != 1)} on every step, pause and rollback")
    return "\n".join(lines)


def _analysis_lines(title: str, a: AnalysisSpec, plan: Plan) -> list[str]:
    old = plan.stable or "stable"
    lines = [
        f"{title}: every {format_duration(a.interval)} over the last "
        f"{format_duration(a.effective_window)}; fewer than {a.min_requests} requests "
        "is inconclusive"
    ]
    lines.extend(f"  {m.name:<14} {_threshold(m)}" for m in a.metrics)
    act = f"roll back to {old}" if a.on_failure is OnFailure.ROLLBACK else "pause and alert"
    lines.append(f"  on failure: {act} at failed measurement {a.failure_limit + 1}")
    lines.append(
        f"  pause for a human after {a.inconclusive_limit + 1} inconclusive or "
        f"{a.consecutive_error_limit + 1} metric errors in a row"
    )
    return lines


def _threshold(m: MetricSpec) -> str:
    def show(v: float) -> str:
        if m.name in LATENCY_METRICS and m.query is None:
            return format_duration(v)
        if m.name == "error-rate" and m.query is None:
            return f"{v:g} ({v * 100:g}%)"
        return f"{v:g}"

    parts = []
    if m.min is not None:
        parts.append(f"min {show(m.min)}")
    if m.max is not None:
        parts.append(f"max {show(m.max)}")
    text = " and ".join(parts)
    if m.query is not None:
        q = m.query if len(m.query) <= 40 else m.query[:37] + "..."
        text += f"  query {q}"
    return text
