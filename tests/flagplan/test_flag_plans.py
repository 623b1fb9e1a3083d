"""Plan files with strategy flag and strategy experiment: what they mean and every error with
file, line and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from backends.base import Strategy
from console.plan.load import PlanError, check_plan, parse_plan, summarize
from console.plan.model import Goal, Plan

ROOT = Path(__file__).resolve().parents[2]

FLAG = """\
service: grades
strategy: flag
flag: new-gradebook
variant: on
steps:
  - setWeight: 20
  - pause: 30s
analysis:
  interval: 2s
  metrics:
    - {name: error-rate, baseline: stable, maxRatio: 2, test: sequential}
"""

EXPERIMENT = """\
service: grades
strategy: experiment
flag: new-gradebook
arms:
  - {name: off, weight: 50}
  - {name: on, weight: 50}
duration: 10m
metric:
  name: latency-p95
"""


def errors(text: str) -> list[str]:
    with pytest.raises(PlanError) as info:
        parse_plan(text, "p.yaml")
    return [str(e) for e in info.value.errors]


def test_flag_plan_reads_on_as_the_variant_name_and_round_trips() -> None:
    plan = parse_plan(FLAG, "p.yaml")
    assert plan.strategy is Strategy.FLAG
    assert (plan.flag, plan.candidate, plan.stable) == ("new-gradebook", "on", None)
    assert plan.analysis is not None and plan.analysis.metrics[0].sequential
    assert Plan.from_dict(plan.to_dict()) == plan
    assert "flag new-gradebook from its default variant to on" in summarize(plan)


def test_a_canary_plan_stores_as_before() -> None:
    plan = parse_plan("service: a\ncandidate: v2\nsteps: [{setWeight: 10}]\n", "p.yaml")
    assert "flag" not in plan.to_dict() and "experiment" not in plan.to_dict()


def test_experiment_plan_has_arms_a_duration_and_a_primary_metric() -> None:
    plan = parse_plan(EXPERIMENT, "p.yaml")
    x = plan.experiment
    assert x is not None and [a.name for a in x.arms] == ["off", "on"]
    assert (plan.stable, plan.candidate) == ("off", "on")
    assert x.duration == 600 and x.metric.name == "latency-p95" and x.metric.goal is Goal.LOWER
    assert Plan.from_dict(plan.to_dict()) == plan
    assert "arm off" in summarize(plan) and "latency-p95, lower is better" in summarize(plan)


def test_a_business_counter_is_better_higher() -> None:
    text = EXPERIMENT.replace(
        "  name: latency-p95", "  counter: lms_enrollments_completed_total\n  test: sequential"
    )
    plan = parse_plan(text, "p.yaml")
    assert plan.experiment is not None
    m = plan.experiment.metric
    assert (m.name, m.counter, m.goal, m.sequential) == (
        "counter",
        "lms_enrollments_completed_total",
        Goal.HIGHER,
        True,
    )


def test_version_arms_are_names() -> None:
    text = (
        EXPERIMENT.replace("flag: new-gradebook\n", "")
        .replace("off", "v1")
        .replace("name: on", "name: v2")
    )
    plan = parse_plan(text, "p.yaml")
    assert plan.flag is None and (plan.stable, plan.candidate) == ("v1", "v2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (FLAG.replace("variant: on\n", ""), ["p.yaml:1: variant: required for a flag rollout"]),
        (FLAG.replace("flag: new-gradebook\n", ""), ["p.yaml:1: flag: required for a flag"]),
        (
            FLAG.replace("variant: on\n", "candidate: v2\n"),
            [
                "p.yaml:1: variant: required",
                "p.yaml:4: candidate: a flag rollout names the variant",
            ],
        ),
        (
            FLAG.replace("variant: on", "variant: 'o n'"),
            ["p.yaml:4: variant: 'o n' is not allowed"],
        ),
        (
            FLAG + "match: [{header: {x-lms-beta: 'true'}}]\n",
            ["p.yaml:12: match: a flag's variants are given to users by the flag's own targeting"],
        ),
        (
            FLAG.replace("setWeight: 20", "setWeight: 120"),
            ["p.yaml:6: steps[0].setWeight: 120 is out of range"],
        ),
        (
            EXPERIMENT.replace("weight: 50}\n  - {name: on", "weight: 40}\n  - {name: on"),
            ["p.yaml:5: arms: the arms' weights must add up to 100, got 40 + 50 = 90"],
        ),
        (
            EXPERIMENT.replace("name: on", "name: off"),
            ["p.yaml:6: arms[1].name: 'off' is already an arm (arm 0)"],
        ),
        (
            EXPERIMENT.replace("  - {name: on, weight: 50}\n", ""),
            ["p.yaml:5: arms: an experiment needs two or more arms, got 1"],
        ),
        (
            EXPERIMENT.replace("duration: 10m\n", ""),
            ["p.yaml:1: duration: required for an experiment"],
        ),
        (
            EXPERIMENT.replace("name: latency-p95", "name: latency-p95\n  test: sequential"),
            ["p.yaml:10: metric.test: the sequential test counts requests"],
        ),
        (
            EXPERIMENT.replace("name: latency-p95", "name: latency-p59"),
            ["p.yaml:9: metric.name: 'latency-p59' is not a primary metric"],
        ),
        (
            EXPERIMENT.replace("name: latency-p95", "name: slow-requests"),
            ["p.yaml:9: metric.slowerThan: required with slow-requests"],
        ),
        (
            EXPERIMENT + "steps: [{setWeight: 10}]\n",
            ["p.yaml:10: steps: an experiment holds one fixed split (arms) for its duration"],
        ),
        (
            EXPERIMENT.replace("strategy: experiment", "strategy: experment"),
            ["p.yaml:2: strategy: 'experment' is not a strategy", "did you mean experiment?"],
        ),
    ],
)
def test_errors_name_file_line_and_field(text: str, expected: list[str]) -> None:
    found = "\n".join(errors(text))
    for e in expected:
        assert e in found, found


def test_validate_prints_them_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(FLAG.replace("variant: on\n", "candidate: v2\n"))
    out = subprocess.run(
        [sys.executable, "-m", "console.cli", "validate", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 2
    assert f"{bad}:4: candidate: a flag rollout names the variant to roll out" in out.stderr
    assert "Traceback" not in out.stderr


def test_warnings_apply_to_flag_steps() -> None:
    _, warnings = check_plan(FLAG.replace("setWeight: 20", "setWeight: 0"), "p.yaml")
    assert any("every setWeight is 0" in w.message for w in warnings)
