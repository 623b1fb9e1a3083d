"""A key written next to ``<<: *anchor`` overrides the merged one (YAML merge semantics).

docs/plan-reference.md offers merge keys to share one analysis block between
previewAnalysis and postPromotionAnalysis; overriding one field of it used to be rejected
as a "duplicate key".
"""

from __future__ import annotations

import textwrap

import pytest

from console.plan.load import PlanError, parse_plan

SHARED = """\
service: enrollments
strategy: bluegreen
candidate: v2
mirror: 20
previewAnalysis: &checks
  interval: 2s
  failureLimit: 1
  metrics: [{name: error-rate, max: 0.01}]
postPromotionAnalysis:
  <<: *checks
  interval: 3s
"""


def test_explicit_key_overrides_the_merged_one() -> None:
    plan = parse_plan(SHARED, "merge.yaml")
    assert plan.bluegreen is not None
    pre, post = plan.bluegreen.preview_analysis, plan.bluegreen.post_promotion_analysis
    assert pre is not None and post is not None
    assert (pre.interval, post.interval) == (2.0, 3.0)
    assert post.failure_limit == 1 and post.metrics == pre.metrics


def test_earlier_merge_in_a_list_wins() -> None:
    text = textwrap.dedent(
        """\
        service: courses
        candidate: v2
        steps: [{setWeight: 10}]
        analysis:
          <<: [{interval: 2s}, {interval: 9s, minRequests: 7}]
        """
    )
    plan = parse_plan(text, "merge-list.yaml")
    assert plan.analysis is not None
    assert (plan.analysis.interval, plan.analysis.min_requests) == (2.0, 7)


def test_a_key_written_twice_is_still_a_duplicate() -> None:
    text = SHARED + "  interval: 4s\n"
    with pytest.raises(PlanError) as err:
        parse_plan(text, "dup.yaml")
    assert "dup.yaml:12: postPromotionAnalysis.interval: duplicate key (first on line 11)" in str(
        err.value
    )
