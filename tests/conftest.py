"""Shared fixtures. ``demo_env``: a real demo environment on loopback, one per test module.

Usage in any test module::

    @pytest.mark.slow
    def test_something(demo_env):
        demo_env.env.traffic.set_split("courses", {"v1": 90, "v2": 10})
        httpx.get(demo_env.gateway_url + "/courses/3")
        demo_env.control.inject_fault("courses", "v2", errors=0.5, latency=0.2)

It starts ``backends.local.start_demo`` in a temporary state directory (50 requests/s of
background load, 2 instances per version), with ``ROLLOUT_DEMO_DIR``, ``XDG_STATE_HOME`` and
``XDG_CONFIG_HOME`` pointing at temporary directories for the whole module, so
``console.config.environments.open_environment("demo")`` finds it too. Everything is stopped (every
process, every port) when the module ends. A module that needs other settings can override
the ``demo_options`` fixture, e.g. ``{"rps": 0, "instances": 3}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.properties import load_profile

load_profile()  # every Hypothesis test, in every area (see tests/support/properties.py)


@dataclass
class DemoEnv:
    """What a test gets: the running demo and clients for it."""

    state_dir: Path
    env: Any  # backends.base.Environment from backends.local.connect
    gateway_url: str
    control: Any  # backends.local.DemoControl
    handle: Any  # backends.local.DemoHandle


@pytest.fixture(scope="module")
def demo_options() -> dict[str, Any]:
    """Keyword arguments for ``start_demo``; override per module."""
    return {"rps": 50, "instances": 2}


@pytest.fixture(scope="module")
def demo_env(
    tmp_path_factory: pytest.TempPathFactory, demo_options: dict[str, Any]
) -> Iterator[DemoEnv]:
    """A running demo environment for this module; stopped (all processes) afterwards."""
    from backends.local import connect, start_demo

    root = tmp_path_factory.mktemp("demo-env")
    state_dir = root / "demo"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROLLOUT_DEMO_DIR", str(state_dir))
        mp.setenv("XDG_STATE_HOME", str(root / "state"))
        mp.setenv("XDG_CONFIG_HOME", str(root / "config"))
        handle = start_demo(state_dir, **demo_options)
        try:
            env = connect(state_dir)
            yield DemoEnv(
                state_dir=state_dir,
                env=env,
                gateway_url=handle.gateway_url,
                control=env.extras["control"],
                handle=handle,
            )
        finally:
            handle.stop()
