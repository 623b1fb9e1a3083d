"""Without a terminal, bare ``rollout`` says to use the headless commands, and ``rollout
demo`` runs headless; the console used to start anyway and write escape codes into the pipe
until killed (a CI job that ran ``rollout`` by mistake hung)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "ROLLOUT_DEMO_DIR": str(tmp_path / "demo"),
    }


def test_bare_rollout_without_a_terminal_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "the console needs a terminal" in proc.stderr
    assert "rollout status" in proc.stderr and "rollout auto PLAN" in proc.stderr
    assert "\x1b[" not in proc.stdout


@pytest.mark.slow
def test_demo_without_a_terminal_runs_headless(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "demo", "--instances", "1", "--rps", "1"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for _ in range(40):  # bounded: the banner is about 15 lines
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Stop with Ctrl-C or SIGTERM" in line:
                break
        text = "".join(lines)
        assert "no terminal: running headless" in text
        assert "Stop with Ctrl-C or SIGTERM" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "\x1b[" not in out
