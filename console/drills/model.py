"""A drill scenario as plain data: what the demo does when, and what the operator should do.

Loaded from YAML by ``console.drills.load`` (format in docs/drills.md). Pure: no I/O.
Times are seconds from the drill's start (the moment its rollout begins).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.plan.model import Plan

# The operator verbs a drill knows, as --respond and the scenario's `expect` spell them.
ACTIONS = ("rollback", "abort", "pause", "resume", "promote", "flag-off")
# Two names for one verb: `rollback` is the console's key, `abort` the CLI's command.
SAME_AS = {"abort": "rollback"}

# What a timeline entry does (its one key besides `at`).
FAULT, CLEAR, LOAD, METRICS, KILL, FLAG = "fault", "clear", "load", "metrics", "kill", "flag"
EVENT_KINDS = (FAULT, CLEAR, LOAD, METRICS, KILL, FLAG)
# Fields of a fault, as the demo's control API names them.
# ``gradebook_bug``: the share of the demo's new-gradebook flag answers that fail.
FAULT_FIELDS = ("errors", "latency", "jitter", "crash", "unready", "gradebook_bug")


def canonical(action: str) -> str:
    """``abort`` and ``rollback`` are one verb; every other name is itself."""
    return SAME_AS.get(action, action)


@dataclass(frozen=True)
class Event:
    """One timeline entry: at ``at`` seconds, do ``kind`` with ``data``.

    fault: {version, service, errors, latency, jitter, crash, unready}; clear: {version,
    service}; load: {rps}; metrics: {available}; kill: {what: "driver"}; flag: {flag,
    variant, service}.
    """

    at: float
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        d = self.data
        if self.kind == FAULT:
            parts = [f"{k}={d[k]}" for k in FAULT_FIELDS if k in d]
            return f"fault {d.get('service', '')}/{d['version']}: {', '.join(parts)}"
        if self.kind == CLEAR:
            return f"clear fault {d.get('service', '')}/{d['version']}"
        if self.kind == LOAD:
            return f"load {d['rps']:g} requests/s"
        if self.kind == METRICS:
            return "metrics source back" if d["available"] else "metrics source gone"
        if self.kind == KILL:
            return "the driving terminal dies"
        return f"flag {d['flag']} serves variant {d['variant']}"


@dataclass(frozen=True)
class Expect:
    """The right response: ``action`` within ``within`` seconds of the incident; the
    actions in ``wrong`` make the verdict wrong when taken before it."""

    action: str
    within: float
    wrong: tuple[str, ...]


@dataclass(frozen=True)
class Automatic:
    """What the automatic analysis (tuned as it should be) would have done, and how long
    after the incident: the figure the operator's response is compared with. ``after``
    None: it would not have acted within the drill's time limit."""

    action: str | None
    after: float | None


@dataclass(frozen=True)
class DemoSettings:
    """How a demo the drill starts itself runs (a running demo is used as it is)."""

    rps: float = 150.0
    instances: int = 2
    controller: bool = True  # False: nobody guards the rollout once its driver dies


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    goal: str
    plan: Plan
    plan_yaml: str  # the plan as YAML text, for the drill's own `rollout auto`
    timeline: tuple[Event, ...]
    incident: float  # when the trouble starts (default: the first timeline entry)
    expect: Expect
    automatic: Automatic
    limit: float  # the drill ends here if nobody took the right action
    debrief: str  # what to look at next time
    hint: str = ""  # shown with --hints once the incident starts
    slow: float | None = None  # requests slower than this count as failed (latency drills)
    demo: DemoSettings = field(default_factory=DemoSettings)
    source: str = ""

    @property
    def service(self) -> str:
        return self.plan.service

    def needs_flags(self) -> bool:
        return self.expect.action == "flag-off" or any(e.kind == FLAG for e in self.timeline)

    def kills_driver(self) -> bool:
        return any(e.kind == KILL for e in self.timeline)
