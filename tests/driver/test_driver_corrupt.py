"""A corrupt record is bad input to fix by hand: named, exit 2, never hiding the others."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from backends.base import CorruptRecord, Environment
from console.commands import auto, history, status
from console.commands import verbs as control
from tests.support.fakes import FakeMetrics
from tests.support.records import record

PLAN = """\
service: courses
strategy: canary
stable: v1
candidate: v2
steps:
  - setWeight: 50
"""


@pytest.fixture
def env(seed: Callable[..., Environment], tmp_path: Path) -> Environment:
    e = seed(record("grading"))
    (tmp_path / "state" / "courses.json").write_text('{"service": "courses", "phase": "Progr')
    return e


def test_store_raises_corrupt_record_naming_the_file(env: Environment) -> None:
    assert env.store is not None
    # Listed (it still names its service), so status without the live demo shows it too.
    assert env.store.services() == ["courses", "grading"]
    with pytest.raises(CorruptRecord) as err:
        env.store.load("courses")
    assert str(err.value).startswith("the record of courses at ")
    assert "courses.json cannot be read: " in str(err.value)
    assert str(err.value).endswith("; move it aside to start over")


def test_status_shows_the_others_and_warns(
    env: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    code = status.run(argparse.Namespace(env=None, service=None, json=False))
    out, err = capsys.readouterr()
    assert code == 0
    assert "grading" in out and "Progressing" in out
    assert any(line.split()[:2] == ["courses", "unreadable"] for line in out.splitlines())
    assert "warning: the record of courses at " in err and "move it aside" in err


@pytest.mark.parametrize("command", ["abort", "pause", "resume", "promote"])
def test_control_commands_exit_2_naming_the_file(
    env: Environment, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = control.run(argparse.Namespace(env=None, service="courses", command=command))
    err = capsys.readouterr().err
    assert code == 2
    assert f"rollout {command}: the record of courses at " in err and "move it aside" in err


def test_auto_exits_2_naming_the_file(
    env: Environment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    code = auto.run(argparse.Namespace(plan=str(plan), env=None, json=False, timeout="5s"))
    err = capsys.readouterr().err
    assert code == 2
    assert "the record of courses at " in err and "move it aside" in err
    assert "unreachable" not in err


def test_history_of_an_unreadable_record_exits_2(
    env: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    code = history.run(argparse.Namespace(env=None, service="courses", limit=None, json=False))
    assert code == 2
    assert "rollout history: the record of courses at " in capsys.readouterr().err


def test_status_on_a_metrics_only_environment_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    e = Environment("staging", None, FakeMetrics(time.time), None)
    monkeypatch.setattr("console.config.environments.open_for_reading", lambda name=None: (e, ""))
    code = status.run(argparse.Namespace(env="staging", service=None, json=False))
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "environment 'staging' has no cluster" in err and "or the demo" in err
