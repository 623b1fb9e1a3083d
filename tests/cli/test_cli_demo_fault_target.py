"""``rollout demo --fault`` naming a service or version the demo lacks is bad input (exit 2).

It used to start the demo with the fault applied to nothing, so the user believed a fault
was injected while every version stayed healthy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _demo(tmp_path: Path, spec: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "ROLLOUT_DEMO_DIR": str(tmp_path / "demo"),
    }
    cmd = [sys.executable, "-m", "console.cli", "demo", "--headless", "--instances", "1"]
    proc = subprocess.Popen(
        [*cmd, "--rps", "1", "--fault", spec],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the demo started: stop it and everything it runs
        _, err = proc.communicate(timeout=30)
        return -1, err
    return proc.returncode, err


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("payments/v2:errors=0.3", "unknown service 'payments'; known: courses, enrollments"),
        ("courses/v9:errors=0.3", "no version 'v9'; known: v1, v2"),
        ("v3:errors=0.3", "no version 'v3'; known: v1, v2"),
    ],
)
def test_unknown_fault_target_exits_2_before_starting(
    tmp_path: Path, spec: str, message: str
) -> None:
    code, err = _demo(tmp_path, spec)
    assert code == 2, err
    assert f"--fault '{spec}': " in err and message in err
    assert not (tmp_path / "demo" / "endpoint.json").exists()
