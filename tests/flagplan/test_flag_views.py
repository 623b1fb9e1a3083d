"""What the console and status see of a running flag rollout: the flag's variants and
split, not the service's versions; and the experiment report as text."""

from __future__ import annotations

from pathlib import Path

from backends.local.demo_flags import seed_flags
from console.analysis.experiment import ArmCounts, judge
from console.config.environments import demo_flags
from console.engine import machine as engine
from console.plan.load import parse_plan
from console.view.experiment import report_lines
from console.view.snapshot import collect_service
from tests.flagplan.test_engine_flag import PLAN, flag_world
from tests.support.envs import seeded_env


def test_a_running_flag_rollout_is_seen_through_its_flag(tmp_path: Path) -> None:
    seed_flags(tmp_path)
    plan = parse_plan(PLAN, "flag.yaml")
    world = flag_world()
    t = engine.start(plan, world.observe(1000.0), 1000.0)
    env = seeded_env(tmp_path / "state", t.record)
    env.flags = demo_flags(tmp_path)
    env.flags.set_fractional("new-gradebook", {"off": 80, "on": 20})
    state = collect_service(env, "grades", now=1001.0)
    assert set(state.versions) == {"on", "off"}
    assert state.split is not None and dict(state.split.weights) == {"off": 80, "on": 20}
    # Finished, the service is shown as it is.
    done = collect_service(seeded_env(tmp_path / "other"), "courses", now=1001.0)
    assert "on" not in done.versions


def test_report_lines_show_every_arm_and_the_decision() -> None:
    x = parse_plan(
        "service: grades\nstrategy: experiment\nflag: f\narms: [{name: off, weight: 50}, "
        "{name: on, weight: 50}]\nduration: 1m\nmetric: {name: error-rate}\n",
        "x.yaml",
    ).experiment
    assert x is not None
    r = judge(x, {"off": ArmCounts(1000, 50, users=40), "on": ArmCounts(1000, 20, users=41)})
    lines = report_lines(r.to_dict())
    assert lines[0].split()[:3] == ["arm", "users", "requests"]
    assert lines[1].split()[:3] == ["off", "40", "1000"] and lines[1].rstrip().endswith("control")
    assert lines[2].split()[:3] == ["on", "41", "1000"] and lines[2].rstrip().endswith("better")
    assert lines[-1].startswith("  decision: adopt (duration): on is better than off")
