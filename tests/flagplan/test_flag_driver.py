"""The driver refuses a flag plan it cannot carry, with the reason, whoever calls it."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.local.demo_flags import seed_flags
from console.config.environments import demo_flags
from console.driver.loop import Driver, DriverError, make_holder
from console.plan.load import parse_plan
from tests.flagplan.test_engine_flag import PLAN
from tests.support.envs import seeded_env


def test_no_flag_source_unknown_flag_or_variant_are_refused(tmp_path: Path) -> None:
    env = seeded_env(tmp_path / "state")
    plan = parse_plan(PLAN.replace("service: grades", "service: courses"), "flag.yaml")
    with pytest.raises(DriverError, match="has no flags source"):
        Driver(env, "courses", holder=make_holder()).begin(plan)
    seed_flags(tmp_path)
    env.flags = demo_flags(tmp_path)
    with pytest.raises(DriverError, match="unknown flag 'nope'; known: new-gradebook"):
        bad = parse_plan(
            PLAN.replace("service: grades", "service: courses").replace(
                "flag: new-gradebook", "flag: nope"
            ),
            "flag.yaml",
        )
        Driver(env, "courses", holder=make_holder()).begin(bad)
    with pytest.raises(
        DriverError, match="flag new-gradebook has no variant 'maybe'; its variants"
    ):
        bad = parse_plan(
            PLAN.replace("service: grades", "service: courses").replace(
                "variant: on", "variant: maybe"
            ),
            "flag.yaml",
        )
        Driver(env, "courses", holder=make_holder()).begin(bad)
