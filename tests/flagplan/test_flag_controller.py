"""A strategy: flag rollout started with ``rollout start`` is driven by the demo's controller,
and ``rollout promote`` / ``rollout abort`` steer it like any rollout (real processes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backends.base import Phase
from backends.local.store import FileStateStore
from console.commands.demo import controller_argv
from console.config.environments import demo_flags
from tests.support.waits import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

PLAN = """\
service: grades
strategy: flag
flag: new-gradebook
variant: on
steps:
  - setWeight: 20
  - pause: 10m
  - setWeight: 50
  - pause: 10m
analysis:
  interval: 1s
  window: 2s
  minRequests: 3
  inconclusiveLimit: 100
  metrics:
    - {name: error-rate, max: 0.2}
"""


@pytest.fixture(scope="module")
def demo_options() -> dict[str, Any]:
    return {"rps": 60, "instances": 1, "companions": {"controller": controller_argv()}}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
        check=False,
    )


def test_start_promote_abort_through_the_controller(demo_env: Any, tmp_path: Path) -> None:
    flags = demo_flags(demo_env.state_dir)
    store = FileStateStore(demo_env.state_dir / "rollouts")
    plan = tmp_path / "flag.yaml"
    plan.write_text(PLAN)
    out = _run("start", str(plan))
    assert out.returncode == 0, out.stdout + out.stderr
    wait_for(
        lambda: flags.flag("new-gradebook").fractional == {"off": 80, "on": 20},
        timeout=30,
        what="20 % of users on the variant",
    )
    wait_for(
        lambda: (rec := store.load("grades")) is not None and rec.step_index == 1,
        timeout=60,
        what="the controller to leave setWeight 20 for the pause",
    )
    lease = store.lease("grades")
    assert lease is not None  # `rollout start` let go: the controller holds it now
    assert _run("promote", "grades").returncode == 0
    wait_for(
        lambda: flags.flag("new-gradebook").fractional == {"off": 50, "on": 50},
        timeout=30,
        what="50 % of users after promote",
    )
    res = _run("abort", "grades", "--reason", "drill over")
    assert res.returncode == 0, res.stdout + res.stderr
    rec = wait_for(
        lambda: (r := store.load("grades")) is not None and r.phase.terminal and r,
        timeout=30,
        what="the abort",
    )
    assert rec.phase is Phase.ABORTED
    assert "drill over" in rec.message and "back to its default variant off" in rec.message
    # The record is saved before the driver applies its actions: the flag follows.
    wait_for(
        lambda: (f := flags.flag("new-gradebook")).default_variant == "off" and not f.fractional,
        timeout=30,
        what="the flag back to its default variant",
    )
