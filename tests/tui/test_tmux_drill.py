"""End to end at 80x24: `rollout drill bad-canary` in tmux, wait for the incident, roll back
with the console's key, and read the report (correct) from the screen and the drill log."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tmux import Tmux, demo_cleanup, demo_env_line, needs_tmux, rollout_cli

pytestmark = [pytest.mark.slow, needs_tmux]


@pytest.fixture
def drill_session(tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    demo_dir = tmp_path / f"demo-{uuid.uuid4().hex[:8]}"
    tmux = Tmux.start("rollout-drill", 80, 24, cwd=tmp_path)
    # `; sleep` keeps the pane (and the printed report) readable after the command ends.
    command = f"env {demo_env_line(tmp_path, demo_dir)} {rollout_cli()} drill bad-canary; sleep 60"
    tmux.keys(command, "Enter")
    with demo_cleanup(tmux, demo_dir):
        yield tmux, tmp_path


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
