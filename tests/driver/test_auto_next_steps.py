"""``rollout auto`` says what to do next when it leaves a rollout unfinished (exit 3 or 4)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytest

from backends.base import Environment, Event
from backends.local.store import FileStateStore
from console.commands import auto
from console.view import text as output
from tests.support.fakes import FakeMetrics, FakeTraffic

PLAN = """\
service: courses
candidate: v2
steps:
{steps}
analysis:
  interval: 1s
  minRequests: 5
  consecutiveErrorLimit: 1
"""


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: str) -> tuple[Path, FakeMetrics]:
    metrics = FakeMetrics(time.time)
    env = Environment("fake", FakeTraffic(), metrics, FileStateStore(tmp_path / "state"))
    monkeypatch.setattr("console.config.environments.open_environment", lambda name=None: env)
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(steps=steps))
    return plan, metrics


def _run(plan: Path, as_json: bool) -> int:
    return auto.run(argparse.Namespace(plan=str(plan), env=None, json=as_json, timeout="3s"))


def test_manual_gate_says_promote_then_auto_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, _ = _setup(tmp_path, monkeypatch, "  - setWeight: 50\n  - pause: {}")
    assert _run(plan, as_json=False) == 3
    out, err = capsys.readouterr()
    (pause,) = [line for line in out.splitlines() if "  pause  " in line]
    assert pause.endswith("(next: rollout promote courses)")
    assert f"next: rollout promote courses, then rollout auto {plan}" in err


def test_json_summary_carries_the_next_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, _ = _setup(tmp_path, monkeypatch, "  - setWeight: 50\n  - pause: {}")
    assert _run(plan, as_json=True) == 3
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    summary = lines[-1]
    assert summary["type"] == "summary"
    assert summary["next"].startswith("rollout promote courses, then rollout auto ")
    # Event objects stay as they were: the hint is for people reading the text lines.
    assert all("next" not in x for x in lines[:-1])


def test_unreachable_metrics_says_auto_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, metrics = _setup(tmp_path, monkeypatch, "  - setWeight: 50\n  - pause: 5m")
    metrics.down = True
    assert _run(plan, as_json=False) == 4
    err = capsys.readouterr().err
    assert f"rollout auto {plan} resumes from the recorded step" in err


def test_completed_has_no_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, _ = _setup(tmp_path, monkeypatch, "  - setWeight: 50")
    assert _run(plan, as_json=False) == 0
    assert "next:" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("gate", "rollout promote courses"),
        ("user", "rollout resume courses"),
        ("inconclusive", "rollout resume courses or rollout abort courses"),
        ("breach", "rollout resume courses or rollout abort courses"),
        (
            "metrics-error",
            "resumes by itself once metrics answer; rollout abort courses rolls back",
        ),
    ],
)
def test_pause_hint_per_kind(kind: str, expected: str) -> None:
    e = Event(at=0.0, service="courses", kind="pause", message="x", data={"pause_kind": kind})
    assert output.pause_hint(e) == expected
