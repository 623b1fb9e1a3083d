"""``rollout auto`` exit codes decided in process, on in-memory backends and the file store."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from backends.base import Environment
from backends.local.store import FileStateStore
from console.commands import auto
from tests.support.fakes import FakeMetrics, FakeTraffic

PLAN = """\
service: courses
strategy: canary
stable: v1
candidate: v2
steps:
{steps}
analysis:
  interval: 1s
  minRequests: 5
  failureLimit: 0
  consecutiveErrorLimit: 1
  metrics:
    - {{name: error-rate, max: 0.05}}
"""


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: str) -> tuple[Path, FakeMetrics]:
    metrics = FakeMetrics(time.time)
    env = Environment("fake", FakeTraffic(), metrics, FileStateStore(tmp_path / "state"))
    monkeypatch.setattr("console.config.environments.open_environment", lambda name=None: env)
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(steps=steps))
    return plan, metrics


def _auto(plan: Path, timeout: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    args = argparse.Namespace(plan=str(plan), env=None, json=True, timeout=timeout)
    code = auto.run(args)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    return code, lines[-1]


def test_completed_is_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, _ = _setup(tmp_path, monkeypatch, "  - setWeight: 50")
    code, summary = _auto(plan, "30s", capsys)
    assert code == 0 and summary["phase"] == "Completed"


def test_manual_gate_until_timeout_is_3_left_paused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, _ = _setup(tmp_path, monkeypatch, "  - setWeight: 50\n  - pause: {}")
    # The gate comes one 1 s tick in; the timeout leaves two ticks of slack for a loaded
    # machine (timing out before the gate would end "timed out", not "left paused").
    code, summary = _auto(plan, "3s", capsys)
    assert code == 3 and summary["phase"] == "Paused"
    assert summary["reason"].startswith("left paused")


def test_paused_on_unreachable_metrics_is_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, metrics = _setup(tmp_path, monkeypatch, "  - setWeight: 50\n  - pause: 5m")
    metrics.down = True
    code, summary = _auto(plan, "3s", capsys)
    assert code == 4 and summary["phase"] == "Paused"
    assert "metrics unreachable" in summary["reason"]


def test_other_candidate_in_progress_is_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, _ = _setup(tmp_path, monkeypatch, "  - setWeight: 50\n  - pause: {}")
    assert _auto(plan, "1s", capsys)[0] == 3
    other = tmp_path / "v3.yaml"
    other.write_text(plan.read_text().replace("candidate: v2", "candidate: v3"))
    code, summary = _auto(other, "1s", capsys)
    assert code == 2 and "a rollout to v2 is in progress" in summary["reason"]


def test_unknown_environment_is_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(steps="  - setWeight: 50"))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    for args in (["auto", str(plan), "--env", "nope"], ["status", "--env", "nope"]):
        res = subprocess.run(
            [sys.executable, "-m", "console.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert res.returncode == 2, res.stderr
        assert "unknown environment 'nope'" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("timeout", ["0", "0s", "-5s"])
def test_non_positive_timeout_is_2_before_anything_changes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    timeout: str,
) -> None:
    plan, _ = _setup(tmp_path, monkeypatch, "  - setWeight: 10")
    code, summary = _auto(plan, timeout, capsys)
    assert code == 2 and summary["reason"].startswith(f"--timeout {timeout!r}: ")
    assert FileStateStore(tmp_path / "state").load("courses") is None
