"""On a metrics-only environment (the config's default), rollout commands name the
environments that can run rollouts, so the user knows which --env to pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
default: staging
environments:
  staging:
    metrics: {kind: prometheus, url: 'http://127.0.0.1:9', provider: http}
  laptop:
    cluster: {kind: demo}
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["auto", "PLAN"],
        ["status"],
        ["promote", "courses"],
        ["history", "courses"],
    ],
)
def test_names_the_environments_with_a_cluster(tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "config" / "rollout").mkdir(parents=True)
    (tmp_path / "config" / "rollout" / "config.yaml").write_text(CONFIG)
    plan = tmp_path / "plan.yaml"
    plan.write_text("service: courses\ncandidate: v2\nsteps: [{setWeight: 10}]\n")
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "ROLLOUT_DEMO_DIR": str(tmp_path / "demo"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", *[str(plan) if a == "PLAN" else a for a in argv]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "environment 'staging'" in proc.stderr
    assert "pass --env with one that has a cluster: demo, laptop" in proc.stderr
