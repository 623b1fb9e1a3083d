"""The console (Textual Pilot) on an Argo Rollouts environment: the detail screen paints a
Rollout's steps, analysis and measurements at 80x24 and wide; keys send Argo's verbs."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.tui.app import RolloutApp
from console.tui.screens.dialogs import ConfirmDialog
from tests.kubernetes.argotest import argo_env, rollout_obj, start_argo
from tests.support.pilot import ready, settle


@pytest.fixture
def argo(tmp_path: Path):
    yield from start_argo(tmp_path)


def at_analysis(argo) -> None:
    """courses paused after its analysis (4/5), grades at its first pause (1/5)."""
    for name in ("courses", "grades"):
        argo.add(rollout_obj(name, f"ghcr.io/lms/{name}:1.0"))
        argo.settle()
        argo.set_image(name, f"ghcr.io/lms/{name}:2.0")
    argo.settle(2)
    argo_env(argo).foreign.act("courses", "promote", user="alice@laptop")
    argo.settle(6)


@pytest.mark.parametrize("size", [(80, 24), (130, 40)])
async def test_detail_of_a_rollout_argo_drives(argo, size) -> None:
    at_analysis(argo)
    app = RolloutApp(argo_env(argo), poll_interval=0.2)
    async with app.run_test(size=size) as pilot:
        await ready(pilot, app)
        await pilot.press("enter")
        assert await settle(pilot, lambda: app.screen.id == "detail")
        assert await settle(pilot, lambda: bool(app.service_state("courses").audit), tries=400)
        app.repaint()
        await pilot.pause()
        title = str(app.screen.query_one("#title").render())
        assert "Paused" in title and "step 4/5" in title and "CanaryPauseStep" in title
        analysis = str(app.screen.query_one("#analysis").render())
        assert "success-rate" in analysis and "result[0] >= 0.95" in analysis
        assert "failed 0/1" in analysis
        timeline = str(app.screen.query_one("#timeline").render())
        assert "✓ analysis success-rate" in timeline and "▶ pause 1h" in timeline
        log = str(app.screen.query_one("#log").render())
        assert "success-rate = 0.99 Successful" in log and "alice@laptop promote" in log


async def test_keys_send_argos_verbs(argo) -> None:
    at_analysis(argo)
    app = RolloutApp(argo_env(argo), poll_interval=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("down")  # grades, at its first pause
        await pilot.press("a")
        assert await settle(pilot, lambda: "promoted" in str(app.last_flash[0]), tries=400)
        assert argo.get("grades")["status"].get("pauseConditions") is None
        argo.settle()  # the controller moves on: grades is no longer paused

        def moving() -> bool:
            fr = app.service_state("grades").foreign
            return fr is not None and fr.status != "Paused"

        assert await settle(pilot, moving, tries=400)
        await pilot.press("p")
        assert await settle(pilot, lambda: "'grades' paused" in str(app.last_flash[0]), tries=400)
        assert argo.get("grades")["spec"]["paused"] is True


async def test_undo_key_sends_argos_undo_after_a_confirmation(argo) -> None:
    # courses fully promoted to 2.0 (revision 2); grades has no revision to go back to.
    for name in ("courses", "grades"):
        argo.add(rollout_obj(name, f"ghcr.io/lms/{name}:1.0"))
    argo.settle()
    argo.set_image("courses", "ghcr.io/lms/courses:2.0")
    argo.settle(2)
    argo_env(argo).foreign.act("courses", "promote-full", user="alice@laptop")
    argo.settle(3)
    app = RolloutApp(argo_env(argo), poll_interval=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("U")  # courses, the first row
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        assert await settle(pilot, lambda: "undo cancelled" in str(app.last_flash[0]))
        assert _image(argo, "courses") == "ghcr.io/lms/courses:2.0"
        await pilot.press("U", "y")
        assert await settle(pilot, lambda: "revision 1" in str(app.last_flash[0]), tries=400)
        assert _image(argo, "courses") == "ghcr.io/lms/courses:1.0"
        await pilot.press("down", "U", "y")  # grades: nothing to go back to
        assert await settle(pilot, lambda: "undo grades refused" in str(app.last_flash[0]))
        assert "no revision found" in str(app.last_flash[0])
        assert app.last_flash[1] == "warning"
        assert _image(argo, "grades") == "ghcr.io/lms/grades:1.0"


def _image(argo, name: str) -> str:
    return str(argo.get(name)["spec"]["template"]["spec"]["containers"][0]["image"])
