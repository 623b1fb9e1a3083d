"""`rollout status --check`, `rollout start` and `rollout controller` as processes, with no
demo running: exit codes and messages (the demo's records are read from disk)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends.base import Phase, RolloutRecord, Strategy
from backends.local.store import FileStateStore
from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT, EXIT_OK, EXIT_UNGUARDED

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ROLLOUT_DEMO_DIR=str(tmp_path / "demo"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    return env


def _rollout(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )


def _seed(home: dict[str, str], phase: Phase = Phase.PROGRESSING) -> FileStateStore:
    store = FileStateStore(Path(home["ROLLOUT_DEMO_DIR"]) / "rollouts")
    now = time.time()
    store.save(
        RolloutRecord(
            service="courses",
            strategy=Strategy.CANARY,
            stable="v1",
            candidate="v2",
            phase=phase,
            plan={"service": "courses"},
            weights={"v1": 80, "v2": 20},
            started_at=now - 300,
            updated_at=now - 300,
        ),
        0,
    )
    return store


def test_status_check_exits_5_for_an_unguarded_rollout_and_0_once_driven(
    home: dict[str, str],
) -> None:
    store = _seed(home)
    res = _rollout(home, "status", "--check")
    assert res.returncode == EXIT_UNGUARDED, res.stderr
    row = next(line for line in res.stdout.splitlines() if line.startswith("courses"))
    assert "UNGUARDED since" in row
    assert "UNGUARDED: courses" in res.stderr
    res = _rollout(home, "status", "--json")  # without --check: 0, and the JSON says it
    assert res.returncode == EXIT_OK
    (svc,) = json.loads(res.stdout)["services"]
    assert svc["guarded"] is False and svc["driver"] is None
    assert store.acquire_lease("courses", "ci@runner:1:aa", 60.0)
    res = _rollout(home, "status", "--check")
    assert res.returncode == EXIT_OK, res.stderr
    assert "UNGUARDED" not in res.stdout + res.stderr


def test_status_check_exits_0_when_nothing_is_in_progress(home: dict[str, str]) -> None:
    _seed(home, Phase.ROLLED_BACK)
    assert _rollout(home, "status", "--check").returncode == EXIT_OK


def test_start_exit_codes_match_auto(home: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("service: courses\nstrategy: canary\n")
    res = _rollout(home, "start", str(bad))
    assert res.returncode == EXIT_BAD_INPUT and "candidate" in res.stderr
    good = tmp_path / "good.yaml"
    good.write_text("service: courses\nstrategy: canary\ncandidate: v2\nsteps:\n  - setWeight: 5\n")
    res = _rollout(home, "start", str(good))  # no demo running
    assert res.returncode == EXIT_BACKEND and "rollout demo" in res.stderr
    assert _rollout(home, "auto", str(good)).returncode == EXIT_BACKEND


def test_controller_with_no_environment_exits_4_with_a_json_line(home: dict[str, str]) -> None:
    res = _rollout(home, "controller")
    assert res.returncode == EXIT_BACKEND
    line = json.loads(res.stdout.splitlines()[-1])
    assert line["level"] == "error" and "rollout demo" in line["message"]
    assert "cannot reach environment" in res.stderr


def test_the_controller_and_start_load_no_textual() -> None:
    code = (
        "import sys, console.commands.controller, console.commands.start, "
        "console.driver.controller, console.view.guarding; "
        "sys.exit('textual' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60, check=False)
    assert res.returncode == 0
