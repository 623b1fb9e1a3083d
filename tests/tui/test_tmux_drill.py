"""End to end at 80x24: `rollout drill bad-canary` in tmux, wait for the incident, roll back
with the console's key, and read the report (correct) from the screen and the drill log."""

from __future__ import annotations

import json
import os
import re
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
def drill_session(tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
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
    tmux = Tmux(f"rollout-drill-{uuid.uuid4().hex[:8]}")
    # `; sleep` keeps the pane (and the printed report) readable after the command ends.
    command = f"env {env_line} {rollout} drill bad-canary; sleep 60"
    tmux.run("new-session", "-d", "-s", tmux.name, "-x", "80", "-y", "24", "-c", str(tmp_path))
    tmux.run("send-keys", "-t", tmux.name, command, "Enter")
    try:
        yield tmux, tmp_path
    finally:
        if tmux.alive():
            tmux.run("kill-session", "-t", tmux.name)
        deadline = time.monotonic() + 15
        while _procs_with(str(demo_dir)) and time.monotonic() < deadline:
            time.sleep(0.3)
        for pid in _procs_with(str(demo_dir)):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


def _elapsed(screen: str) -> int:
    m = re.search(r"drill bad-canary (\d+):(\d\d)", screen)
    return int(m.group(1)) * 60 + int(m.group(2)) if m else -1


def test_drill_bad_canary_rolled_back_with_the_key_is_correct(
    drill_session: tuple[Tmux, Path],
) -> None:
    tmux, tmp = drill_session
    # The incident starts 6s in (errors creep up on v2); the header's corner counts.
    tmux.wait(lambda s: _elapsed(s) >= 8 and "courses" in s, 120, "the drill's incident")
    screen = tmux.screen()
    assert "hint:" not in screen  # no hints without --hints
    tmux.press_until("r", lambda s: "Roll back courses?" in s, 30, "the rollback dialog")
    tmux.keys("y")
    screen = tmux.wait(lambda s: "verdict" in s and "CORRECT" in s, 90, "the drill's report")
    assert "Drill bad-canary" in screen
    tmux.keys("q")
    log = tmp / "state" / "rollout" / "drills.jsonl"
    deadline = time.monotonic() + 60
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.3)
    report = json.loads(log.read_text().splitlines()[-1])
    assert report["verdict"] == "correct"
    assert report["mode"] == "interactive"
    assert report["first_notice"] is not None  # the `r` on courses
    assert [a["action"] for a in report["actions"]] == ["rollback"]
