"""A second ``rollout auto`` with a different plan for the running rollout says so.

It becomes a viewer of the rollout already in progress (same candidate), which runs the
plan it was started with; it used to watch silently, so the user believed their plan ran.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest

from backends.base import Environment
from backends.local.store import FileStateStore
from console.commands import auto
from console.plan.load import parse_plan
from tests.support.records import record

RUNNING = "service: courses\ncandidate: v2\nsteps: [{setWeight: 10}, {pause: 1h}]\n"
MINE = "service: courses\ncandidate: v2\nsteps: [{setWeight: 50}]\n"


@pytest.fixture
def plan_file(seed: Callable[..., Environment], tmp_path: Path) -> Path:
    running = parse_plan(RUNNING, "first.yaml")
    env = seed(record(plan=running.to_dict(), step_index=1))
    assert env.store is not None
    # Held from another host: never taken over before the TTL runs out.
    assert env.store.acquire_lease("courses", "ops@elsewhere:1:abcdef", 60.0)
    path = tmp_path / "mine.yaml"
    path.write_text(MINE)
    return path


def test_viewer_with_another_plan_says_the_recorded_one_runs(
    plan_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = auto.run(argparse.Namespace(plan=str(plan_file), env=None, json=False, timeout="1s"))
    out = capsys.readouterr().out
    assert code == 3
    assert "ops@elsewhere drives courses; watching" in out
    (note,) = [line for line in out.splitlines() if "differs" in line]
    assert "mine.yaml differs from the plan this rollout was started with (first.yaml)" in note
    assert "the recorded plan is what runs" in note


def test_viewer_with_the_same_plan_adds_no_note(
    plan_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file.write_text(RUNNING)
    code = auto.run(argparse.Namespace(plan=str(plan_file), env=None, json=False, timeout="1s"))
    assert code == 3
    assert "differs" not in capsys.readouterr().out


def test_resuming_from_another_file_names_both_files(
    plan_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The driver is gone (lease released): this auto drives, but the recorded plan runs.
    FileStateStore(tmp_path / "state").release("courses", "ops@elsewhere:1:abcdef")
    code = auto.run(argparse.Namespace(plan=str(plan_file), env=None, json=False, timeout="1s"))
    out = capsys.readouterr().out
    assert code == 3
    assert "resuming Progressing rollout to v2" in out
    (note,) = [line for line in out.splitlines() if "differs" in line]
    assert "mine.yaml differs from the plan this rollout was started with (first.yaml)" in note
