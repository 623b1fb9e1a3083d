"""Rollout records for tests: a plain canary record, and the console's canary at a pause."""

from __future__ import annotations

from typing import Any

from backends.base import Environment, Event, Phase, RolloutRecord, Strategy
from tests.support.clock import T0


def record(service: str = "courses", **kw: Any) -> RolloutRecord:
    """A canary v1 -> v2 in progress at 10% (keyword arguments override any field)."""
    fields: dict[str, Any] = dict(
        service=service,
        strategy=Strategy.CANARY,
        stable="v1",
        candidate="v2",
        phase=Phase.PROGRESSING,
        plan={"service": service, "steps": [{"setWeight": 10}]},
        weights={"v1": 90, "v2": 10},
    )
    fields.update(kw)
    return RolloutRecord(**fields)


CANARY_PLAN = {
    "service": "courses",
    "strategy": "canary",
    "candidate": "v2",
    "stable": "v1",
    "steps": [
        {"setWeight": 10},
        {"pause": {"duration": 30.0}},
        {"setWeight": 50},
        {"pause": {}},
        {"setWeight": 100},
    ],
    "analysis": {
        "interval": 5.0,
        "window": None,
        "min_requests": 20,
        "failure_limit": 1,
        "inconclusive_limit": 3,
        "consecutive_error_limit": 4,
        "on_failure": "rollback",
        "metrics": [
            {"name": "error-rate", "min": None, "max": 0.05, "query": None},
            {"name": "latency-p99", "min": None, "max": 0.4, "query": None},
        ],
    },
    "match": [],
    "mirror": 0,
    "bluegreen": None,
    "rolling": None,
    "webhooks": [],
    "source": "examples/canary.yaml",
}


def canary_record(
    service: str = "courses", phase: Phase = Phase.PROGRESSING, step: int = 1, **kw: Any
) -> RolloutRecord:
    """A canary record at a timed pause (step 2 of 5), 12 s into it, with a few events."""
    plan = dict(CANARY_PLAN, service=service)
    fields: dict[str, Any] = dict(
        service=service,
        strategy=Strategy.CANARY,
        stable="v1",
        candidate="v2",
        phase=phase,
        plan=plan,
        step_index=step,
        step_started_at=T0 - 12.0,
        weights={"v1": 90, "v2": 10},
        message="step 2/5: pause 30s",
        started_at=T0 - 60.0,
        updated_at=T0 - 12.0,
        engine={"counters": {"failures": 1, "inconclusive": 0}},
        events=(
            Event(T0 - 60.0, service, "started", "canary v1 -> v2 started by alice@laptop"),
            Event(T0 - 30.0, service, "weight", "v2 takes 10% (v1 90%)"),
            Event(T0 - 20.0, service, "analysis", "error-rate 0.020 <= max 0.05 on v2: ok"),
        ),
    )
    fields.update(kw)
    return RolloutRecord(**fields)


def set_phase(env: Environment, phase: Phase, **kw: Any) -> None:
    """Replace the courses record with the console's canary in ``phase`` (as a driver would:
    saved at the current record's ``updated_at`` unless given, so a live rollout stays within
    its driver's lease rather than turning unguarded)."""
    assert env.store is not None
    current = env.store.load("courses")
    if current is not None:
        kw.setdefault("updated_at", current.updated_at)
    env.store.save(canary_record(phase=phase, **kw), current.revision if current else 0)
