"""Fixtures for the console tests: a fake environment with a real file store, a fixed clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import Clock
from tests.support.fakes import fake_env
from tests.support.records import canary_record
from tests.tui.tui_helpers import NullDriver, Recorder


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("ROLLOUT_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def env_parts(tmp_path: Path, clock: Clock) -> tuple[Any, Any]:
    """(environment, switch): three services; courses has a canary at a timed pause, saved
    just now by a driver (so it is not unguarded until the lease TTL has passed with no
    driver: tests of that advance the clock or seed their own record)."""
    env, switch = fake_env(tmp_path / "store", clock=clock)
    env.store.save(canary_record(updated_at=clock.now), 0)
    yield env, switch
    switch.dead = False
    switch.release.set()


@pytest.fixture
def make_app(
    env_parts: tuple[Any, Any], clock: Clock, recorder: Recorder, tmp_path: Path
) -> Callable[..., Any]:
    """Build a RolloutApp on the fake environment; keyword arguments override defaults."""
    from console.tui.app import RolloutApp

    def build(**kw: Any) -> Any:
        env, _ = env_parts
        plans = tmp_path / "plans"
        plans.mkdir(exist_ok=True)
        args: dict[str, Any] = dict(
            clock=clock,
            sender=recorder,
            holder="tester@host:console:1",
            plan_dirs=[plans],
            driver_factory=lambda service: NullDriver(service),
        )
        args.update(kw)
        return RolloutApp(
            env, kw.pop("config", None), **{k: v for k, v in args.items() if k != "config"}
        )

    return build
