"""The Flags screen end to end at 80x24: `rollout demo` in tmux, `f`, toggle, kill switch.

Reads the captured pane as a user would: the flags with their variants and who gets them,
the confirm dialogs (`n` changes nothing, `y` does), the flash after each change; and checks
the demo's flag file and the audit log behind the screen.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tui.test_tmux_e2e import Tmux, _procs_with

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    demo_dir = tmp_path / f"demo-{uuid.uuid4().hex[:8]}"
    rollout = Path(sys.executable).parent / "rollout"
    env_line = " ".join(
        [
            f"XDG_CONFIG_HOME={tmp_path / 'config'}",
            f"XDG_STATE_HOME={tmp_path / 'state'}",
            f"ROLLOUT_DEMO_DIR={demo_dir}",
            "TERM=xterm-256color",
        ]
    )
    tmux = Tmux(f"rollout-flags-{uuid.uuid4().hex[:8]}")
    tmux.run(
        "new-session", "-d", "-s", tmux.name, "-x", "80", "-y", "24", "-c", str(tmp_path),
        f"env {env_line} {rollout} demo --rps 40 --instances 1",
    )  # fmt: skip
    try:
        yield tmux, demo_dir
    finally:
        if tmux.alive():
            tmux.run("kill-session", "-t", tmux.name)
        deadline = time.monotonic() + 15
        while _procs_with(str(demo_dir)) and time.monotonic() < deadline:
            time.sleep(0.3)
        for pid in _procs_with(str(demo_dir)):  # never leave a process behind
            try:
                import os

                os.kill(pid, 9)
            except ProcessLookupError:
                pass


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
    deadline = time.monotonic() + 30
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not tmux.alive(), "rollout demo did not exit after q"
