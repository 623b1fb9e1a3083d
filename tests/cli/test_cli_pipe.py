"""The CLI's own behaviour: help, and output into a pipe that closes early."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from console.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_closed_pipe_is_not_a_traceback() -> None:
    # Enough output to overflow the pipe buffer after the reader has gone.
    files = [str(ROOT / "examples" / "canary.yaml")] * 400
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "validate", *files],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_main_leaves_sigpipe_alone() -> None:
    # main() runs inside other processes (tests, the TUI's worker): it must not make a
    # later write to a closed socket kill its host.
    before = signal.getsignal(signal.SIGPIPE)
    assert main(["validate", str(ROOT / "examples" / "canary.yaml")]) == 0
    assert signal.getsignal(signal.SIGPIPE) == before


def test_help_lists_every_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    for name in ("demo", "auto", "validate", "analyze", "status", "promote", "history"):
        assert name in proc.stdout
