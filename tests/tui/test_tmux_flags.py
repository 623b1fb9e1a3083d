"""The Flags screen end to end at 80x24: `rollout demo` in tmux, `f`, toggle, kill switch.

Reads the captured pane as a user would: the flags with their variants and who gets them,
the confirm dialogs (`n` changes nothing, `y` does), the flash after each change; and checks
the demo's flag file and the audit log behind the screen.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tmux import Tmux, demo_cleanup, demo_env_line, needs_tmux, rollout_cli

pytestmark = [pytest.mark.slow, needs_tmux]


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    demo_dir = tmp_path / f"demo-{uuid.uuid4().hex[:8]}"
    command = f"env {demo_env_line(tmp_path, demo_dir)} {rollout_cli()} demo --rps 40 --instances 1"
    tmux = Tmux.start("rollout-flags", 80, 24, cwd=tmp_path, command=command)
    with demo_cleanup(tmux, demo_dir):
        yield tmux, demo_dir


def flag_file(demo_dir: Path) -> dict:
    return json.loads((demo_dir / "flags.json").read_text())["flags"]


def test_flags_screen_toggle_and_kill_switch_in_tmux(session: tuple[Tmux, Path]) -> None:
    tmux, demo_dir = session
    tmux.wait(lambda s: "courses" in s and "grades" in s and "Idle" in s, 90, "the overview")
    screen = tmux.press_until(
        "f", lambda s: "course-recommendations" in s and "t toggle" in s, 45, "the flags screen"
    )
    assert "new-gradebook" in screen and "x-lms-beta" in screen  # the beta cohort gets "on"
    assert "K kill switch" in screen and "% percent" in screen
    assert all(len(line) <= 80 for line in screen.splitlines())
    # The third row is course-recommendations' "on" variant.
    tmux.keys("Down", "Down")
    tmux.wait(lambda s: "course-recommendations: everyone -> off" in s, 10, "the selected flag")
    tmux.press_until("t", lambda s: "Turn course-recommendations on?" in s, 15, "the dialog")
    tmux.keys("n")
    tmux.wait(lambda s: "toggle cancelled: nothing changed" in s, 10, "the cancel flash")
    assert flag_file(demo_dir)["course-recommendations"]["defaultVariant"] == "off"
    tmux.press_until("t", lambda s: "Turn course-recommendations on?" in s, 15, "the dialog")
    tmux.keys("y")
    tmux.wait(lambda s: "course-recommendations: everyone -> on" in s, 20, "the flag on, on screen")
    assert flag_file(demo_dir)["course-recommendations"]["defaultVariant"] == "on"
    # The kill switch, confirmed: every flag to its off variant, targeting removed.
    screen = tmux.press_until("K", lambda s: "Kill switch: every flag off?" in s, 15, "the dialog")
    assert "new-gradebook, course-recommendations" in screen
    tmux.keys("y")
    tmux.wait(lambda s: "every flag -> off (kill switch)" in s, 20, "the kill switch flash")
    flags = flag_file(demo_dir)
    assert all(f["defaultVariant"] == "off" and "targeting" not in f for f in flags.values())
    audit = demo_dir / "rollouts" / "flags.audit.jsonl"
    actions = [json.loads(line)["action"] for line in audit.read_text().splitlines()]
    assert actions == ["flag-set", "flag-kill-all"]
    tmux.keys("Escape")
    tmux.wait(lambda s: "3 services" in s, 15, "back on the overview")
    tmux.keys("q")
    tmux.wait_gone(30)
    assert not tmux.alive(), "rollout demo did not exit after q"
