"""A canary's summary says what really happens to the stable at the end: it stays, at 0%.

The engine retires the old version only for blue/green and rolling; the summary used to
claim a canary retired it too.
"""

from __future__ import annotations

from console.plan.load import parse_plan
from console.plan.summary import summarize


def test_canary_end_keeps_the_stable_at_zero() -> None:
    plan = parse_plan("service: courses\nstable: v1\ncandidate: v2\nsteps: [{setWeight: 10}]\n")
    done = next(line for line in summarize(plan).splitlines() if "done" in line)
    assert " ".join(done.split()) == "done v2 serves 100%; v1 stays deployed at 0%"
    assert "retired" not in summarize(plan)
