"""Threshold errors quote what the user wrote, in words that fit the problem."""

from __future__ import annotations

import pytest

from console.plan.load import PlanError, parse_plan

BASE = """\
service: courses
candidate: v2
steps: [{{setWeight: 10}}]
analysis:
  metrics:
    - {metric}
"""


def _error(metric: str) -> str:
    with pytest.raises(PlanError) as err:
        parse_plan(BASE.format(metric=metric), "t.yaml")
    return str(err.value).splitlines()[0]


def test_infinite_threshold_says_not_finite() -> None:
    msg = _error("{name: request-rate, min: .inf}")
    assert msg == "t.yaml:6: analysis.metrics[0].min: expected a number, got inf (not finite)"


def test_percent_ratio_out_of_range_quotes_the_percent() -> None:
    msg = _error('{name: error-rate, max: "150%"}')
    assert msg.startswith("t.yaml:6: analysis.metrics[0].max: '150%' is not an error ratio")
