"""The step column of status, auto and the console (``console.view.text.step_label``)."""

from __future__ import annotations

from typing import Any

from backends.base import Phase, RolloutRecord, Strategy
from console.view.text import step_label


def rec(strategy: Strategy, phase: Phase, step: int, **engine: Any) -> RolloutRecord:
    plan = {"steps": [{"setWeight": 10}, {"pause": 5}, {"setWeight": 50}]}
    return RolloutRecord(
        service="courses",
        strategy=strategy,
        stable="v1",
        candidate="v2",
        phase=phase,
        plan=plan,
        step_index=step,
        engine=engine,
    )


def test_canary_counts_plan_steps() -> None:
    assert step_label(rec(Strategy.CANARY, Phase.PROGRESSING, 0)) == "1/3"
    assert step_label(rec(Strategy.CANARY, Phase.PROGRESSING, 5)) == "3/3"
    assert step_label(rec(Strategy.CANARY, Phase.COMPLETED, 2)) == "3/3"


def test_rolling_names_the_batch_the_message_talks_about() -> None:
    r = Strategy.ROLLING
    assert step_label(rec(r, Phase.PROGRESSING, 0, batches=3, sub="wait-ready")) == "1/3"
    # batch 1 done, waiting between batches: still "1/3", as the message says
    assert step_label(rec(r, Phase.PROGRESSING, 1, batches=3, sub="between")) == "1/3"
    assert step_label(rec(r, Phase.PROGRESSING, 1, batches=3, sub="wait-ready")) == "2/3"
    assert step_label(rec(r, Phase.PROGRESSING, 3, batches=3, sub="final")) == "3/3"
    assert step_label(rec(r, Phase.PENDING, 0, sub="size")) == "1"


def test_blue_green_shows_its_stage() -> None:
    assert step_label(rec(Strategy.BLUEGREEN, Phase.PROGRESSING, 1, sub="preview")) == "preview"
    assert step_label(rec(Strategy.BLUEGREEN, Phase.COMPLETED, 4, sub="post")) == "-"
