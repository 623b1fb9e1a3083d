"""``rollout analyze`` on a plan for a service the environment lacks is bad input (exit 2),
named like ``rollout auto`` names it; it said the metrics source was unavailable (exit 4)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytest

from backends.base import Environment, NotFound
from backends.local.store import FileStateStore
from console.commands import analyze
from tests.support.fakes import FakeMetrics, FakeTraffic


class _Metrics404(FakeMetrics):
    """A metrics source that does not know the service (the demo's control API answers 404)."""

    def history(self, service: str, *args: object, **kw: object) -> dict:  # type: ignore[override]
        raise NotFound(f"unknown service '{service}'")


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service: str) -> int:
    env = Environment(
        "fake", FakeTraffic(), _Metrics404(time.time), FileStateStore(tmp_path / "state")
    )
    monkeypatch.setattr("console.config.environments.open_environment", lambda name=None: env)
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"service: {service}\ncandidate: v2\nsteps: [{{setWeight: 10}}]\n")
    return analyze.run(argparse.Namespace(plan=str(plan), env=None, since="1m", json=False))


def test_unknown_service_is_2_and_lists_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, monkeypatch, "payments") == 2
    err = capsys.readouterr().err
    assert "service 'payments' not found in environment 'fake'; known: courses" in err


def test_not_found_from_the_metrics_source_is_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, monkeypatch, "courses") == 2
    assert "unknown service 'courses'" in capsys.readouterr().err


def test_json_errors_are_one_json_object_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("service: courses\ncandidate: v2\nsteps: [{setWeight: 10}]\nanalysis: false\n")
    args = argparse.Namespace(plan=str(plan), env=None, since="1m", json=True)
    assert analyze.run(args) == 2
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    d = json.loads(line)
    assert d["exit_code"] == 2 and d["plan"] == str(plan)
    assert "no analysis block to replay" in d["error"] and "no analysis block" in err
