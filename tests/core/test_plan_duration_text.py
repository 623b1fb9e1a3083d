"""Durations over a minute with a fraction read like the plan wrote them, not as raw seconds."""

from __future__ import annotations

import pytest

from console.plan.load import parse_duration
from console.plan.summary import format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(90.5, "1m30.5s"), (9015.5, "2h30m15.5s"), (60.25, "1m0.25s"), (59.5, "59.5s")],
)
def test_fractional_long_durations_use_units(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
