"""Run ``rollout`` commands as processes against an ``ha`` environment of kind haproxy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml


def write_config(
    home: Path, cluster: dict[str, object], metrics: dict | None = None
) -> dict[str, str]:
    """A config with environment ``ha`` under ``home``; returns the process environment
    (XDG directories under ``home``) to run commands with."""
    config_dir = home / "config" / "rollout"
    config_dir.mkdir(parents=True, exist_ok=True)
    body: dict[str, object] = {"cluster": {"kind": "haproxy", **cluster}}
    if metrics:
        body["metrics"] = metrics
    (config_dir / "config.yaml").write_text(yaml.safe_dump({"environments": {"ha": body}}))
    env = dict(os.environ)
    env.update(
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_STATE_HOME=str(home / "state"),
        ROLLOUT_DEMO_DIR=str(home / "demo"),
        NO_COLOR="1",
    )
    return env


def rollout(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_rollout(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "console.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
