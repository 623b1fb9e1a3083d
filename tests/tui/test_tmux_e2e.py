"""End to end, as a user would: `rollout demo` in tmux, keys in, the screen read back.

Starts the real CLI in a detached tmux session (100x30) with temporary XDG and demo
directories, starts a canary with `s`, breaks the candidate with `x`, reads from the captured
pane that it rolled back and why, quits with `q`, and checks that no demo process is left.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tmux import (
    Tmux,
    demo_cleanup,
    demo_env_line,
    needs_tmux,
    procs_with,
    rollout_cli,
    wait_no_procs_with,
)

pytestmark = [pytest.mark.slow, needs_tmux]

PLAN = """\
service: courses
strategy: canary
candidate: v2
steps:
  - setWeight: 50
  - pause: 5m
  - setWeight: 100
analysis:
  interval: 2s
  window: 4s
  minRequests: 3
  inconclusiveLimit: 50
  failureLimit: 0
  metrics:
    - {name: error-rate, max: 0.05}
"""


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    demo_dir = tmp_path / f"demo-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "config"
    (config / "rollout" / "plans").mkdir(parents=True)
    (config / "rollout" / "plans" / "fast-canary.yaml").write_text(PLAN)
    work = tmp_path / "work"  # no ./examples here: the picker shows only our plan
    work.mkdir()
    command = f"env {demo_env_line(tmp_path, demo_dir)} {rollout_cli()} demo --rps 60 --instances 1"
    tmux = Tmux.start("rollout-e2e", 100, 30, cwd=work, command=command)
    with demo_cleanup(tmux, demo_dir):
        yield tmux, demo_dir


def test_canary_rolls_back_on_injected_fault_in_tmux(session: tuple[Tmux, Path]) -> None:
    tmux, demo_dir = session
    tmux.wait(lambda s: "courses" in s and "grades" in s and "Idle" in s, 60, "the overview")
    tmux.press_until("s", lambda s: "fast-canary.yaml" in s, 45, "the plan picker")
    tmux.keys("Enter")
    tmux.wait(lambda s: "Progressing" in s and "v1 50 v2 50" in s, 60, "the canary at 50%")
    screen = tmux.press_until("x", lambda s: "ROLLED BACK courses" in s, 90, "the rollback banner")
    assert "error-rate" in screen and "max 0.05" in screen  # the reason, in numbers
    assert "RolledBack" in screen
    assert procs_with(str(demo_dir))  # the demo is still up while the console runs
    tmux.keys("q")
    tmux.wait_gone(30)
    assert not tmux.alive(), "rollout demo did not exit after q"
    wait_no_procs_with(str(demo_dir), 15)
    assert procs_with(str(demo_dir)) == [], "demo processes left after quitting"
