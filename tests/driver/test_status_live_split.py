"""status shows the live split when it differs from the record (e.g. the demo was restarted)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import pytest

from backends.base import Environment, Phase
from console.commands import status
from tests.support.fakes import FakeTraffic
from tests.support.records import record


@pytest.fixture
def env(seed: Callable[..., Environment]) -> Environment:
    # The record says v2 took everything; the backend (a restarted demo) serves v1 only.
    return seed(
        record(
            phase=Phase.COMPLETED,
            plan={"service": "courses", "steps": [{"setWeight": 100}]},
            weights={"v1": 0, "v2": 100},
        )
    )


def _row(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("courses"))


def test_table_shows_the_live_split_when_it_differs(
    env: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    assert status.run(argparse.Namespace(env=None, service=None, json=False)) == 0
    row = _row(capsys.readouterr().out)
    assert "v2 100% (live: v1 100%)" in row


def test_table_shows_one_split_when_they_agree(
    env: Environment, capsys: pytest.CaptureFixture[str]
) -> None:
    traffic = env.traffic
    assert isinstance(traffic, FakeTraffic)
    traffic.weights = {"v1": 0, "v2": 100}
    assert status.run(argparse.Namespace(env=None, service=None, json=False)) == 0
    row = _row(capsys.readouterr().out)
    assert "v2 100%" in row and "live" not in row


def test_json_keeps_both_splits(env: Environment, capsys: pytest.CaptureFixture[str]) -> None:
    assert status.run(argparse.Namespace(env=None, service="courses", json=True)) == 0
    (row,) = json.loads(capsys.readouterr().out)["services"]
    assert row["weights"] == {"v1": 0, "v2": 100}
    assert row["actual_weights"] == {"v1": 100, "v2": 0}
