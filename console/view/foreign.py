"""Texts for rollouts a foreign controller drives (Argo Rollouts, Flagger): the overview
row's cells and ``rollout status`` rows. Pure: a ``ForeignRollout`` in, strings out.
The detail screen's panels are in foreign_detail.py."""

from __future__ import annotations

from typing import Any

from backends.base import ForeignRollout, Phase, Strategy, version_label


def tag(image: str) -> str:
    """A short name for a version: an image's tag (``ghcr.io/lms/courses:2.0`` -> ``2.0``)."""
    return version_label(image) if image else "-"


def step_cell(fr: ForeignRollout) -> str:
    """``k/N`` as ``kubectl argo rollouts get`` shows it (steps done of N); blue/green:
    ``preview`` while a preview differs from the active pods, else ``active``; Flagger's
    iterations count when it has no steps."""
    if fr.steps_total:
        return f"{fr.step or 0}/{fr.steps_total}"
    if fr.strategy == Strategy.BLUEGREEN:
        return "preview" if fr.preview and fr.preview != fr.active else "active"
    if fr.iterations is not None:
        return f"#{fr.iterations}"
    return "-"


def weights(fr: ForeignRollout) -> dict[str, int]:
    """Stable and canary shares from the set weight (empty when nothing rolls out)."""
    if not fr.canary or fr.set_weight is None:
        return {tag(fr.stable): 100} if fr.stable else {}
    w = max(0, min(100, fr.set_weight))
    return {tag(fr.stable): 100 - w, tag(fr.canary): w}


def weight_cell(fr: ForeignRollout) -> str:
    """``set 20 actual 10`` (actual left out when it is the same or unknown)."""
    if fr.set_weight is None:
        return "-" if not fr.canary else "canary -"
    text = f"set {fr.set_weight}"
    if fr.actual_weight is not None and fr.actual_weight != fr.set_weight:
        text += f" actual {fr.actual_weight}"
    return text


def phase_cell(fr: ForeignRollout) -> str:
    """The controller's own phase word, with ``aborted`` when it aborted."""
    return f"{fr.status} (aborted)" if fr.aborted else fr.status


def ready_cell(fr: ForeignRollout) -> str:
    return f"{fr.ready}/{fr.desired}"


def alert(fr: ForeignRollout) -> bool:
    """Worth a mark on the overview: aborted, rolled back, failed, or replicas short."""
    return fr.aborted or fr.phase in (Phase.ROLLED_BACK, Phase.ABORTED) or fr.ready < fr.desired


def checks_cell(fr: ForeignRollout) -> str:
    """Flagger's ``failed 1/5``; Argo's failed measurements against the limit of the worst
    metric of the current analysis; "" when there is nothing to count."""
    if fr.failed_checks is not None:
        return f"failed {fr.failed_checks}/{fr.threshold if fr.threshold is not None else '-'}"
    worst = None
    for a in fr.analyses:
        for m in a.metrics:
            if m.failed and (worst is None or m.failed > worst.failed):
                worst = m
    if worst is None:
        return ""
    limit = "-" if worst.failure_limit is None else worst.failure_limit
    return f"{worst.name} failed {worst.failed}/{limit}"


def message(fr: ForeignRollout) -> str:
    """The controller's message, with the pause reasons when it says nothing of them."""
    parts = [fr.message] if fr.message else []
    if fr.pause_reasons and not any(r in fr.message for r in fr.pause_reasons):
        parts.append("paused: " + ", ".join(fr.pause_reasons))
    return "; ".join(parts)


def counters(fr: ForeignRollout) -> str:
    """Flagger's counters for ``rollout status``: ``failed 1/5, iterations 3``; "" for Argo."""
    if fr.failed_checks is None:
        return ""
    return f"{checks_cell(fr)}, iterations {fr.iterations if fr.iterations is not None else '-'}"


def status_row(fr: ForeignRollout) -> dict[str, Any]:
    """One ``rollout status --json`` row: the usual keys, then the controller's own."""
    return {
        "service": fr.name,
        "phase": str(fr.phase),
        "strategy": str(fr.strategy),
        "stable": fr.stable,
        "candidate": fr.canary or None,
        "step": step_cell(fr),
        "weights": weights(fr),
        "actual_weights": (
            {tag(fr.stable): 100 - fr.actual_weight, tag(fr.canary): fr.actual_weight}
            if fr.actual_weight is not None and fr.canary
            else None
        ),
        "message": "; ".join(x for x in (message(fr), counters(fr)) if x),
        "driver": fr.controller,
        "guarded": True,  # its controller drives it: never unguarded in our sense
        "unguarded_since": None,
        "updated_at": fr.updated_at,
        "revision": fr.revision,
        "foreign": fr.to_dict(),
    }
