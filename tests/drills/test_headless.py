"""Every built-in scenario, played headless on a real demo: the right response scores
``correct``; a late or wrong one scores so and counts more failed requests.

Each case runs ``rollout drill NAME --headless --respond ...`` twice, one after the other
(the right response, then the other), each in a temporary demo the drill starts and stops.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.drills import catalog

pytestmark = pytest.mark.slow

# scenario -> (the right response, another response, the verdict that one gets)
CASES = {
    "bad-canary": ("rollback@14", "rollback@26", "late"),
    "p99-latency": ("rollback@14", "promote@10", "wrong"),
    "beta-only": ("rollback@12", "rollback@25", "late"),
    "fleet-wide": ("pause@12", "rollback@12", "wrong"),
    "bluegreen-crashloop": ("rollback@9", "promote@8", "wrong"),
    "metrics-outage": ("rollback@14", "rollback@26", "late"),
    "driver-dies": ("rollback@14", "rollback@28", "late"),
    "bad-flag-variant": ("flag-off@12", "rollback@10", "wrong"),
}


def test_every_builtin_scenario_has_a_case() -> None:
    assert set(CASES) == set(catalog.builtin_names())


def _start(tmp: Path, name: str, respond: str) -> tuple[subprocess.Popen[str], Path]:
    env = dict(os.environ)
    env.update(
        XDG_STATE_HOME=str(tmp / "state"),
        XDG_CONFIG_HOME=str(tmp / "config"),
        ROLLOUT_DEMO_DIR=str(tmp / "demo"),
    )
    argv = [sys.executable, "-m", "console.cli", "drill", name, "--headless", "--seed", "7"]
    proc = subprocess.Popen(
        [*argv, "--respond", respond],
        env=env,
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, tmp / "state" / "rollout" / catalog.LOG_NAME


def _finish(proc: subprocess.Popen[str], log: Path) -> tuple[int, dict, str]:
    try:
        out, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=30)
        raise AssertionError(f"the drill did not end in time:\n{out}") from None
    lines = log.read_text().splitlines() if log.exists() else []
    assert len(lines) == 1, out
    return proc.returncode, json.loads(lines[0]), out


@pytest.mark.parametrize("name", sorted(CASES))
def test_right_and_other_response(tmp_path: Path, name: str) -> None:
    right, other, other_verdict = CASES[name]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    code_a, good, out_a = _finish(*_start(tmp_path / "a", name, right))
    code_b, bad, out_b = _finish(*_start(tmp_path / "b", name, other))
    assert good["verdict"] == "correct", out_a
    assert code_a == 0
    assert "CORRECT" in out_a and "What to look at next time" in out_a
    assert bad["verdict"] == other_verdict, out_b
    assert code_b == 1
    assert good["failed"] > 0, out_a
    assert bad["failed"] > good["failed"], (out_a, out_b)
