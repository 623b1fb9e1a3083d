"""Config file handling and environment opening: every mistake is exit 2 with a message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.config.environments import open_environment
from console.config.settings import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_means_demo_only(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "nope.yaml")
    assert cfg.default == "demo"
    assert cfg.environment(None).name == "demo"


def test_environments_and_default(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            "default: staging\n"
            "environments:\n"
            "  staging:\n"
            "    metrics: {kind: prometheus, url: 'http://127.0.0.1:9', provider: http}\n"
            "keys: {promote: n}\n",
        )
    )
    assert cfg.environment(None).name == "staging"
    assert cfg.environment("demo").name == "demo"
    assert cfg.keys == {"promote": "n"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[1, 2]\n", "top level must be a mapping"),
        ("environments: [a]\n", "'environments' must be a mapping"),
        ("environments: {x: {cluster: {kind: nomad}}}\n", "environments.x.cluster.kind"),
        ("default: prod\n", "default 'prod' is not one of the environments"),
        ("keys: {promote: [a]}\n", "'keys' must map an action to a key"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert fragment in str(err.value)
    assert str(tmp_path) in str(err.value)


def test_unknown_environment_lists_known_ones(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "environments: {staging: {}}\n"))
    with pytest.raises(ConfigError, match=r"unknown environment 'prod'.*demo, staging"):
        cfg.environment("prod")


def test_bad_metrics_entry_is_a_config_error(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            "environments:\n  staging:\n    metrics: {kind: prometheus, url: 'http://127.0.0.1:9', provider: istoi}\n",
        )
    )
    with pytest.raises(ConfigError, match=r"environment 'staging'.*provider"):
        open_environment("staging", cfg)


def test_auto_with_bad_metrics_entry_exits_2_without_traceback(tmp_path: Path) -> None:
    conf = tmp_path / "conf" / "rollout"
    conf.mkdir(parents=True)
    (conf / "config.yaml").write_text(
        "environments:\n  staging:\n    metrics: {kind: prometheus, url: 'http://127.0.0.1:9', provider: istoi}\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "conf"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "ROLLOUT_DEMO_DIR": str(tmp_path / "demo"),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "console.cli",
            "auto",
            str(ROOT / "examples" / "canary.yaml"),
            "--env",
            "staging",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "provider" in proc.stderr


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("default: [\n", ":2: not valid YAML: "),
        ("keys: {a: b}\n  bad: [x\n", ":2: not valid YAML: "),
    ],
)
def test_invalid_yaml_is_one_line_with_file_and_line(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'config.yaml'}{where}")


def test_unreachable_default_environment_is_named(tmp_path: Path) -> None:
    conf = tmp_path / "conf" / "rollout"
    conf.mkdir(parents=True)
    (conf / "config.yaml").write_text(
        "default: staging\nenvironments:\n  staging: {cluster: {kind: demo}, metrics: {kind: demo}}\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "conf"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "ROLLOUT_DEMO_DIR": str(tmp_path / "demo"),
    }
    for command in ("auto", "analyze"):
        proc = subprocess.run(
            [sys.executable, "-m", "console.cli", command, str(ROOT / "examples" / "canary.yaml")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert proc.returncode == 4, proc.stderr
        assert f"rollout {command}: cannot reach environment 'staging': " in proc.stderr


def test_standby_key_is_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    assert load_config(path).standby is False  # no file: consoles only view
    path.write_text("standby: true\n")
    assert load_config(path).standby is True
    path.write_text("standby: often\n")
    with pytest.raises(ConfigError, match="'standby' must be true or false"):
        load_config(path)
