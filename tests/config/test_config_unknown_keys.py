"""A typo in config.yaml is an error naming the key, not a silently empty environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.config.settings import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_top_level_key_suggests_the_right_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "environment:\n  prod:\n    cluster: {kind: kubernetes, context: prod}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:1: environment: unknown key")
    assert "did you mean environments?" in msg


def test_unknown_environment_key_names_the_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "environments:\n"
        "  staging:\n"
        "    metric: {kind: prometheus, url: 'http://127.0.0.1:9', provider: http}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:3: environments.staging.metric: unknown key")
    assert "did you mean metrics?" in msg


def test_known_keys_still_load(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            "default: prod\n"
            "environments:\n"
            "  prod:\n"
            "    cluster: {kind: kubernetes, context: prod, namespace: lms}\n"
            "    metrics: {kind: prometheus, url: 'http://127.0.0.1:9', provider: http}\n"
            "keys: {promote: g}\n",
        )
    )
    assert cfg.default == "prod" and cfg.keys == {"promote": "g"}


def test_cli_exits_2_on_a_config_typo(tmp_path: Path) -> None:
    (tmp_path / "rollout").mkdir()
    write(tmp_path / "rollout", "defualt: prod\n")
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "ROLLOUT_DEMO_DIR": str(tmp_path / "demo"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "status"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "defualt: unknown key; did you mean default?" in proc.stderr
    assert "Traceback" not in proc.stderr
