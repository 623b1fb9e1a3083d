"""A one-screen, plain-text summary of a validated plan (``rollout validate`` prints it).

It says what will happen in the order it happens: who gets traffic at each step, how the
candidate is judged, and what happens when it fails. Import ``summarize`` from
``console.plan.load``.
"""

from __future__ import annotations

from backends.units import format_duration
from console.plan.model import (
    DEFAULT_PROGRESS_DEADLINE,
    LATENCY_METRICS,
    RATIO_METRICS,
    AnalysisSpec,
    BlueGreenSpec,
    ExperimentSpec,
    MetricSpec,
    OnFailure,
    PauseStep,
    Plan,
    SetWeightStep,
    Step,
)

MAX_STEP_LINES = 14  # keep the whole summary within one 80x24 screen


def summarize(plan: Plan) -> str:
    """What the plan will do, step by step, in at most about 24 lines."""
    if plan.experiment is not None:
        return _experiment_summary(plan, plan.experiment)
    stable = plan.stable or "stable (the version serving 100% at start)"
    old = plan.stable or "stable"
    flagged = plan.flag is not None
    if flagged:
        stable = old = "default"
    lines = [
        f"{plan.service}: {plan.strategy.value} from {stable} to {plan.candidate}"
        + (f"  [{plan.source}]" if plan.source else "")
    ]
    if flagged:
        lines[0] = (
            f"{plan.service}: flag {plan.flag} from its default variant to {plan.candidate}"
            + (f"  [{plan.source}]" if plan.source else "")
        )
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
                    f"{old} {100 - step.weight}%" + (" of users" if flagged else "")
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
        if flagged:
            lines.append(f"      done      {plan.candidate} is the flag's default variant")
        else:
            # A canary leaves the stable deployed (blue/green and rolling retire it).
            lines.append(
                f"      done      {plan.candidate} serves 100%; {old} stays deployed at 0%"
            )
    if plan.bluegreen is not None:
        lines.extend(_bluegreen_lines(plan, plan.bluegreen))
    if plan.rolling is not None:
        r = plan.rolling
        count = str(r.instances) if r.instances is not None else f"as many as {old} runs"
        lines.append(
            f"rolling: {count} instances of {plan.candidate} replace {old}; at most "
            f"{r.max_surge} extra, {r.max_unavailable} unavailable"
        )
        wait = f"; wait {format_duration(r.pause_between_batches)} between batches"
        lines.append(
            f"         a new instance counts once ready for {format_duration(r.min_ready)}"
            + (wait if r.pause_between_batches else "")
        )
    if plan.bluegreen is None:
        if plan.analysis is None:
            lines.append("analysis: off  (nothing rolls back automatically)")
        else:
            lines.extend(_analysis_lines("analysis", plan.analysis, f"roll back to {old}"))
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
    if plan.progress_deadline != DEFAULT_PROGRESS_DEADLINE:
        lines.append(
            f"health:  {plan.candidate} must be healthy within "
            f"{format_duration(plan.progress_deadline)}, else {_on_failure_text(plan)}"
        )
    return "\n".join(lines)


def _experiment_summary(plan: Plan, x: ExperimentSpec) -> str:
    """An experiment: its arms, how long, what it measures and how it decides."""
    what = f"flag {plan.flag}" if plan.flag else "versions"
    lines = [
        f"{plan.service}: experiment on {what}" + (f"  [{plan.source}]" if plan.source else "")
    ]
    for i, arm in enumerate(x.arms):
        role = "control" if i == 0 else "treatment"
        lines.append(f"  arm {arm.name:<16} {arm.weight:>3}% of users  ({role})")
    lines.append("  each user stays in one arm for the whole experiment")
    m = x.metric
    shown = m.counter if m.counter else m.name
    if m.slower_than is not None:
        shown += f" (slower than {format_duration(m.slower_than)})"
    lines.append(f"metric:  {shown}, {m.goal} is better")
    lines.append(
        f"time:    {format_duration(x.duration)}, numbers read every {format_duration(x.interval)}"
    )
    if m.sequential:
        lines.append(f"         stops early once the sequential test decides (alpha {m.alpha:g})")
    lines.append(
        f"decides: at {x.confidence * 100:g}% confidence, with at least {x.min_requests} "
        "requests per arm"
    )
    lines.append(f"then:    all users back on {x.control}; the report stays in rollout history")
    if plan.webhooks:
        n = len(plan.webhooks)
        lines.append(f"notify:  {n} webhook{'s' * (n != 1)} at the start and the end")
    return "\n".join(lines)


def _on_failure_text(plan: Plan) -> str:
    a = plan.analysis
    if a is not None and a.on_failure is OnFailure.PAUSE:
        return "pause and alert"
    return f"roll back to {plan.stable or 'stable'}"


def _bluegreen_lines(plan: Plan, bg: BlueGreenSpec) -> list[str]:
    old, new = plan.stable or "stable", plan.candidate
    lines = [f"preview: {new} runs as a full pool beside {old}, which keeps all user traffic"]
    if bg.preview_analysis is None:
        lines.append(f"  no preview analysis: the preview passes once {new} is ready")
    else:
        lines.extend(
            _analysis_lines(
                f"  preview analysis for {format_duration(bg.preview_duration)}",
                bg.preview_analysis,
                f"reject {new} ({old} keeps serving)",
            )
        )
    if bg.auto_promote is None:
        lines.append(f"switch:  waits for promote, then 100% to {new}")
    elif bg.auto_promote == 0:
        lines.append(f"switch:  100% to {new} as soon as the preview passes")
    else:
        lines.append(
            f"switch:  100% to {new} {format_duration(bg.auto_promote)} "
            "after the preview passes (or on promote)"
        )
    if bg.post_promotion_analysis is not None:
        lines.extend(
            _analysis_lines(
                "  post-promotion analysis",
                bg.post_promotion_analysis,
                f"switch back to {old}",
            )
        )
    lines.append(f"then:    {old} retired {format_duration(bg.scale_down_delay)} after the switch")
    return lines


def _analysis_lines(title: str, a: AnalysisSpec, on_rollback: str) -> list[str]:
    pad = " " * (len(title) - len(title.lstrip()) + 2)
    lines = [
        f"{title}: every {format_duration(a.interval)} over the last "
        f"{format_duration(a.effective_window)}"
    ]
    lines.extend(f"{pad}{m.name:<14} {_threshold(m)}" for m in a.metrics)
    act = on_rollback if a.on_failure is OnFailure.ROLLBACK else "pause and alert"
    lines.append(f"{pad}on failure: {act} at failed measurement {a.failure_limit + 1}")
    lines.append(
        f"{pad}pause after {a.inconclusive_limit} inconclusive (< {a.min_requests} "
        f"requests) or {a.consecutive_error_limit} metric errors in a row"
    )
    return lines


def _threshold(m: MetricSpec) -> str:
    def show(v: float) -> str:
        if m.name in LATENCY_METRICS and m.query is None:
            return format_duration(v)
        if m.name in RATIO_METRICS and m.query is None:
            return f"{v:g} ({v * 100:g}%)"
        return f"{v:g}"

    parts = []
    if m.min is not None:
        parts.append(f"min {show(m.min)}")
    if m.max is not None:
        parts.append(f"max {show(m.max)}")
    text = " and ".join(parts)
    if m.baseline is not None:
        if m.max_increase is not None:
            limit = f"at most +{show(m.max_increase)} over {m.baseline}"
        else:
            limit = f"at most {m.max_ratio:g}x {m.baseline}"
        if m.sequential:
            limit += f", sequential, alpha {m.alpha:g}"
        text = f"{text} and {limit}" if text else limit
    if m.slower_than is not None:
        text = f">{format_duration(m.slower_than)}: {text}"
    if m.query is not None:
        q = m.query if len(m.query) <= 40 else m.query[:37] + "..."
        text += f"  query {q}"
    return text
