"""An environment for command tests: fake traffic and metrics, a real file store holding
the records a test seeds, opened by every command as if it were the configured one."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from backends.base import Environment, RolloutRecord
from backends.local.store import FileStateStore
from tests.support.fakes import FakeMetrics, FakeTraffic


def seeded_env(
    state_dir: Path, *records: RolloutRecord, clock: Callable[[], float] = time.time
) -> Environment:
    """Environment "fake" whose file store under ``state_dir`` holds ``records``."""
    store = FileStateStore(state_dir)
    for rec in records:
        store.save(rec, 0)
    return Environment("fake", FakeTraffic(), FakeMetrics(clock), store)


def use_env(monkeypatch: pytest.MonkeyPatch, env: Environment) -> None:
    """Make the commands open ``env`` whatever ``--env`` they are given."""
    monkeypatch.setattr("console.config.environments.open_environment", lambda name=None: env)
    monkeypatch.setattr("console.config.environments.open_for_reading", lambda name=None: (env, ""))
