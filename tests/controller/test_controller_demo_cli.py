"""`rollout demo --headless` runs a controller (and takes it down with it, even when killed);
`--no-controller` runs none."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends.local.store import FileStateStore
from console.driver.presence import controller_running
from tests.support.waits import eventually, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _demo(root: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.update(
        ROLLOUT_DEMO_DIR=str(root / "demo"),
        XDG_STATE_HOME=str(root / "state"),
        XDG_CONFIG_HOME=str(root / "config"),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "console.cli", "demo", "--headless", "--rps", "10", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _cleanup(root: Path, proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=30)
    path = root / "demo" / "endpoint.json"
    if path.exists():
        pid = json.loads(path.read_text()).get("pid")
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, TypeError):
            pass


def test_the_demo_runs_a_controller_that_dies_with_it(tmp_path: Path) -> None:
    proc = _demo(tmp_path, "--instances", "1")
    store = FileStateStore(tmp_path / "demo" / "rollouts")
    try:
        wait_until(lambda: controller_running(store), timeout=60, what="the demo's controller")
        holder = controller_running(store)
        assert holder is not None
        pid = int(holder.split(":")[1])
        assert proc.stdout is not None
        header = "".join(proc.stdout.readline() for _ in range(13))
        assert "controller guards every rollout" in header
        assert "rollout start examples/canary.yaml" in header
        proc.kill()  # SIGKILL: no handler runs in `rollout demo`
        proc.communicate(timeout=30)
        assert eventually(lambda: not _alive(pid), timeout=20), "the controller outlived the demo"
    finally:
        _cleanup(tmp_path, proc)


def test_no_controller_runs_none(tmp_path: Path) -> None:
    proc = _demo(tmp_path, "--instances", "1", "--no-controller")
    try:
        wait_until(
            lambda: (tmp_path / "demo" / "endpoint.json").exists(), timeout=60, what="the demo"
        )
        time.sleep(1.0)  # a companion would have started by now
        assert not (tmp_path / "demo" / "controller.log").exists()
        assert controller_running(FileStateStore(tmp_path / "demo" / "rollouts")) is None
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        assert "controller none (--no-controller)" in out
    finally:
        _cleanup(tmp_path, proc)
