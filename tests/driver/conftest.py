"""Fixtures for the driver and command tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from backends.base import Environment, RolloutRecord
from tests.support.envs import seeded_env, use_env


@pytest.fixture
def seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Environment]:
    """``seed(*records)``: the environment every command opens, its file store (under
    ``tmp_path / "state"``) holding ``records``."""

    def make(*records: RolloutRecord) -> Environment:
        env = seeded_env(tmp_path / "state", *records)
        use_env(monkeypatch, env)
        return env

    return make
