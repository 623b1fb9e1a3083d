"""End to end, as a user would: `rollout demo` in tmux, keys in, the screen read back.

Starts the real CLI in a detached tmux session (100x30) with temporary XDG and demo
directories, starts a canary with `s`, breaks the candidate with `x`, reads from the captured
pane that it rolled back and why, quits with `q`, and checks that no demo process is left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

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


def _procs_with(marker: str) -> list[int]:
    """Pids whose environment carries ``marker`` (our temporary demo directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def alive(self) -> bool:
        return self.run("has-session", "-t", self.name).returncode == 0

    def wait(self, check: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{text}")

    def press_until(
        self, key: str, check: Callable[[str], bool], timeout: float, what: str, tries: int = 3
    ) -> str:
        """Press ``key`` and wait for ``check``; press again (bounded) if the screen does not
        get there: on a loaded machine a key can arrive while the app is still switching
        screens. Every key used here is harmless to repeat."""
        for attempt in range(tries):
            self.keys(key)
            try:
                return self.wait(check, timeout / tries, what)
            except AssertionError:
                if attempt == tries - 1:
                    raise
        raise AssertionError("unreachable")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    demo_dir = tmp_path / f"demo-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "config"
    (config / "rollout" / "plans").mkdir(parents=True)
    (config / "rollout" / "plans" / "fast-canary.yaml").write_text(PLAN)
    work = tmp_path / "work"  # no ./examples here: the picker shows only our plan
    work.mkdir()
    rollout = Path(sys.executable).parent / "rollout"
    env_line = " ".join(
        [
            f"XDG_CONFIG_HOME={config}",
            f"XDG_STATE_HOME={tmp_path / 'state'}",
            f"ROLLOUT_DEMO_DIR={demo_dir}",
            "TERM=xterm-256color",
        ]
    )
    tmux = Tmux(f"rollout-e2e-{uuid.uuid4().hex[:8]}")
    tmux.run(
        "new-session",
        "-d",
        "-s",
        tmux.name,
        "-x",
        "100",
        "-y",
        "30",
        "-c",
        str(work),
        f"env {env_line} {rollout} demo --rps 60 --instances 1",
    )
    try:
        yield tmux, demo_dir
    finally:
        if tmux.alive():
            tmux.run("kill-session", "-t", tmux.name)
        deadline = time.monotonic() + 15
        while _procs_with(str(demo_dir)) and time.monotonic() < deadline:
            time.sleep(0.3)
        for pid in _procs_with(str(demo_dir)):  # never leave a process behind, even on failure
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


def test_canary_rolls_back_on_injected_fault_in_tmux(session: tuple[Tmux, Path]) -> None:
    tmux, demo_dir = session
    tmux.wait(lambda s: "courses" in s and "grades" in s and "Idle" in s, 60, "the overview")
    tmux.press_until("s", lambda s: "fast-canary.yaml" in s, 45, "the plan picker")
    tmux.keys("Enter")
    tmux.wait(lambda s: "Progressing" in s and "v1 50 v2 50" in s, 60, "the canary at 50%")
    screen = tmux.press_until("x", lambda s: "ROLLED BACK courses" in s, 90, "the rollback banner")
    assert "error-rate" in screen and "max 0.05" in screen  # the reason, in numbers
    assert "RolledBack" in screen
    assert _procs_with(str(demo_dir))  # the demo is still up while the console runs
    tmux.keys("q")
    deadline = time.monotonic() + 30
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not tmux.alive(), "rollout demo did not exit after q"
    deadline = time.monotonic() + 15
    while _procs_with(str(demo_dir)) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _procs_with(str(demo_dir)) == [], "demo processes left after quitting"
