"""Pilot against the real demo environment: start a canary from the picker, drive, roll back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends.base import Phase
from tests.support.pilot import settle

PLAN = """\
service: enrollments
strategy: canary
candidate: v2
steps:
  - setWeight: 30
  - pause: {}
  - setWeight: 100
analysis:
  interval: 2s
  minRequests: 1
  inconclusiveLimit: 50
  metrics:
    - {name: error-rate, max: 0.5}
"""


@pytest.fixture(scope="module")
def demo_options() -> dict[str, Any]:
    return {"rps": 30, "instances": 1}


@pytest.mark.slow
async def test_console_drives_a_demo_canary_and_rolls_it_back(
    demo_env: Any, tmp_path: Path
) -> None:
    from console.tui.app import RolloutApp

    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "enrollments.yaml").write_text(PLAN)
    env = demo_env.env
    app = RolloutApp(env, plan_dirs=[plans])
    async with app.run_test(size=(80, 24)) as pilot:
        assert await settle(
            pilot, lambda: app.snapshot is not None and len(app.snapshot.services) == 3, tries=200
        )
        await pilot.press("s", "enter")
        assert await settle(
            pilot,
            lambda: (r := env.store.load("enrollments")) is not None and r.phase == Phase.PAUSED,
            tries=400,
        )
        assert env.traffic.get_split("enrollments").weights == {"v1": 70, "v2": 30}
        assert await settle(
            pilot,
            lambda: "driving enrollments" in str(app.screen.query_one("#header").render()),
            tries=60,
        )
        await pilot.press(
            "down", "enter"
        )  # the detail of enrollments (sorted: courses, enrollments)
        assert app.screen.service == "enrollments"
        assert await settle(
            pilot,
            lambda: "waiting for promote" in str(app.screen.query_one("#timeline").render()),
            tries=60,
        )
        await pilot.press("r", "y")
        assert await settle(
            pilot, lambda: env.store.load("enrollments").phase == Phase.ABORTED, tries=200
        )
        assert await settle(
            pilot, lambda: env.traffic.get_split("enrollments").weights.get("v2", 0) == 0, tries=100
        )
        # As a user would: R once the console shows the rollout ended (R refuses a live one).
        assert await settle(
            pilot,
            lambda: app.service_state("enrollments").record.phase == Phase.ABORTED,
            tries=100,
        )
        await pilot.press("R")  # retry: the rollout starts again, driven from here
        assert await settle(
            pilot, lambda: not env.store.load("enrollments").phase.terminal, tries=200
        )
        assert await settle(pilot, lambda: app.drivers["enrollments"].driving, tries=100)
        await pilot.press("q")
    assert env.store.lease("enrollments") is None  # the console released its lease on quit
