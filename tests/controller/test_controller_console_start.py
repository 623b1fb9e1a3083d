"""The console's `s` with a controller running: the rollout starts and the controller drives
it (this console keeps no driver that would race it for the lease); with none, the console
drives it as before."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backends.base import Phase
from console.config.settings import Config
from console.driver.presence import claim
from console.tui.app import RolloutApp
from console.tui.screens.plan_picker import PlanPicker
from tests.controller.fakes_controller import World

PLAN = (
    "service: grades\nstrategy: canary\ncandidate: v2\nsteps:\n  - setWeight: 50\n  - pause: 60s\n"
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("ROLLOUT_DEMO_DIR", str(tmp_path / "demo"))


async def _settle(pilot: Any, until: Callable[[], bool], tries: int = 100) -> bool:
    for _ in range(tries):
        if until():
            return True
        await pilot.pause(0.05)
    return until()


async def _start_from_console(world: World, plans: Path) -> RolloutApp:
    from backends.local.store import FileStateStore

    store = FileStateStore(world.directory)  # the real clock: the console's own view of time
    env = world.env(store)
    app = RolloutApp(env, Config(), holder="alice@lap:console:1", plan_dirs=[plans])
    async with app.run_test(size=(100, 30)) as pilot:
        assert await _settle(pilot, lambda: app.snapshot is not None)
        await pilot.press("s")
        assert await _settle(pilot, lambda: isinstance(app.screen, PlanPicker))
        await pilot.press("enter")
        assert await _settle(
            pilot, lambda: "grades" in app.last_flash[0] and "start" in app.last_flash[0]
        )
        await pilot.pause(0.2)
    return app


@pytest.fixture
def plans(tmp_path: Path) -> Path:
    d = tmp_path / "plans"
    d.mkdir()
    (d / "grades.yaml").write_text(PLAN)
    return d


async def test_s_hands_the_rollout_to_a_running_controller(tmp_path: Path, plans: Path) -> None:
    world = World(tmp_path / "state-store", ("grades",))
    from backends.local.store import FileStateStore

    store = FileStateStore(world.directory)
    assert claim(store, "ctl@sim:1:aa", 60.0)  # a controller holds the key
    app = await _start_from_console(world, plans)
    assert "the controller drives it" in app.last_flash[0]
    assert "grades" not in app.drivers  # no driver here to race the controller
    assert store.lease("grades") is None  # handed back: the controller takes it next pass
    rec = store.load("grades")
    assert rec is not None and rec.phase is Phase.PROGRESSING
    assert world.traffic.weights["grades"] == {"v1": 50, "v2": 50}  # the start applied it


async def test_s_with_no_controller_drives_from_the_console(tmp_path: Path, plans: Path) -> None:
    world = World(tmp_path / "state-store", ("grades",))
    app = await _start_from_console(world, plans)
    assert app.last_flash[0].startswith("started canary of grades")
    assert "grades" in app.drivers
