"""Scoring a drill: what the operator did, against what the scenario expects. Pure.

Inputs are plain data the player gathered: the operator's actions (from the audit log),
the requests that failed each second (from the demo's metrics, recorded after the drill)
and when the drill ended. Output is a ``Report`` (``console.drills.report``).

- verdict: ``wrong`` if an action the scenario calls wrong came before the right one;
  else ``correct`` if the right action came within ``expect.within`` of the incident;
  else ``late`` (after that, or never within the time limit).
- failed meanwhile: requests that failed (5xx, and with ``slow:`` slower than it) from the
  incident until the right action was applied, or until the time limit without it.
- the automatic figure: the same count from the incident until ``automatic.after`` (what
  analysis tuned as it should be would have done; the scenario's author states it), or
  until the time limit when it would not have acted.
- Both are counted as recorded up to the drill's end and projected past it at the
  incident's average failure rate: traffic after the operator's fix (or after a wrong
  verb ended the rollout early) no longer shows what would have happened.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from console.drills.model import Scenario, canonical
from console.drills.report import ActionTaken, Report

CORRECT, LATE, WRONG = "correct", "late", "wrong"


@dataclass(frozen=True)
class Second:
    """Requests that ended badly in the second that ends ``at`` (seconds from the start)."""

    at: float
    failed: float


def failed_between(series: Sequence[Second], start: float, end: float) -> float:
    """Failed requests in (start, end], whole seconds as recorded."""
    return sum(s.failed for s in series if start < s.at <= end)


def failed_until(series: Sequence[Second], incident: float, end: float, ended_at: float) -> float:
    """Failed requests from the incident to ``end``: as recorded up to the drill's end, and
    past it at the incident's average rate (the drill stopped watching there)."""
    failed = failed_between(series, incident, min(end, ended_at))
    if end > ended_at > incident:
        failed += (
            failed_between(series, incident, ended_at) / (ended_at - incident) * (end - ended_at)
        )
    return failed


def verdict(scenario: Scenario, actions: Sequence[ActionTaken]) -> tuple[str, ActionTaken | None]:
    """(verdict, the right action if it was taken) for the actions in time order."""
    expect = scenario.expect
    right = next((a for a in actions if canonical(a.action) == expect.action), None)
    until = right.at if right is not None else math.inf
    if any(canonical(a.action) in expect.wrong and a.at <= until for a in actions):
        return WRONG, right
    if right is not None and right.at - scenario.incident <= expect.within:
        return CORRECT, right
    return LATE, right


def score(
    scenario: Scenario,
    actions: Sequence[ActionTaken],
    series: Sequence[Second],
    *,
    ended_at: float,
    first_notice: float | None,
    started_at: float,
    operator: str,
    mode: str,
    respond: str = "",
    seed: int | None = None,
) -> Report:
    """The drill's report. Times in ``actions``, ``first_notice`` and ``ended_at`` are
    seconds from the drill's start; the report gives them from the incident."""
    actions = sorted(actions, key=lambda a: a.at)
    result, right = verdict(scenario, actions)
    incident = scenario.incident
    until = right.at if right is not None else scenario.limit
    failed = failed_until(series, incident, until, ended_at)
    auto = scenario.automatic
    auto_end = incident + auto.after if auto.after is not None else scenario.limit
    auto_failed = failed_until(series, incident, auto_end, ended_at)
    return Report(
        scenario=scenario.name,
        title=scenario.title,
        started_at=started_at,
        operator=operator,
        mode=mode,
        respond=respond,
        seed=seed,
        verdict=result,
        incident_at=incident,
        first_notice=None if first_notice is None else first_notice - incident,
        right_action=None if right is None else right.at - incident,
        expected=scenario.expect.action,
        within=scenario.expect.within,
        actions=tuple(actions),
        failed=round(failed),
        automatic_action=auto.action,
        automatic_after=auto.after,
        automatic_failed=round(auto_failed),
        ended_at=ended_at,
        debrief=scenario.debrief,
    )
