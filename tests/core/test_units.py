"""Durations (backends/units.py): one grammar read everywhere, three ways to write one back."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.local.faults import FaultSpecError, parse_fault
from backends.prometheus.config import PrometheusConfigError
from backends.prometheus.config import parse_duration as config_duration
from backends.units import (
    UNITS_MS,
    format_duration,
    format_one_unit,
    format_short,
    parse_duration,
)
from console.plan.load import parse_duration as plan_duration

MONTH = 30 * 86400.0

# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1m30s", 90.0),
        ("1h1m1s1ms", 3661.001),
        ("1.5s", 1.5),
        ("0.25m", 15.0),
        ("0s", 0.0),
        ("0", 0.0),
        ("10", 10.0),
        ("2.5", 2.5),
        (" 10s ", 10.0),
        ("5 s", 5.0),
        ("1m 30s", 90.0),
        ("007s", 7.0),
        ("3m05s", 185.0),
        (10, 10.0),
        (0.25, 0.25),
        (-3, -3.0),  # numbers come back as they are: bounds are the caller's
    ],
)
def test_parse_accepts(value: str | float, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


def test_milliseconds_add_up_exactly() -> None:
    assert parse_duration("43ms") == 0.043
    assert parse_duration("1s43ms") == 1.043


@pytest.mark.parametrize(
    ("text", "bare", "seconds"),
    [("250", "ms", 0.25), ("1.5", "ms", 0.0015), ("2", "m", 120.0), ("30s", "ms", 30.0)],
)
def test_a_bare_number_counts_in_the_callers_unit(text: str, bare: str, seconds: float) -> None:
    assert parse_duration(text, bare=bare) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "soon",
        "5x",
        "s",
        "ms",
        "-1s",
        "-1",
        "+1s",
        ".5s",
        "1.s",
        "1m30",
        "1e3s",
        "1,5s",
        "5 sec",
        "1h-5m",
        True,
        False,
        None,
        [1],
        {"s": 1},
    ],
)
def test_parse_rejects(value: object) -> None:
    with pytest.raises(ValueError, match=r"not a duration like|expected a duration like"):
        parse_duration(value)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- each reader's words


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("soon", "'soon' is not a duration like 500ms, 30s, 5m or 1h"),
        ("-1s", "'-1s' is negative: durations are 0 or more"),
        (" -5 ", "is negative"),
        (-3, "-3 is negative"),
        (float("inf"), "not a finite duration"),
        ("9" * 400, "not a finite duration"),
        (True, "got true/false"),
        (None, "got nothing"),
    ],
)
def test_plans_keep_their_messages(value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        plan_duration(value)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("soon", "metrics.timeout: expected a duration like 5s, not 'soon'"),
        (True, "expected a duration like 5s, not True"),
        (None, "expected a duration like 5s, not None"),
        (0, "metrics.timeout: must be a positive duration"),
        ("0s", "must be a positive duration"),
        (float("nan"), "must be a positive duration"),
    ],
)
def test_the_prometheus_config_keeps_its_messages(value: object, fragment: str) -> None:
    with pytest.raises(PrometheusConfigError, match=fragment):
        config_duration(value, "metrics.timeout")


@pytest.mark.parametrize(("value", "seconds"), [("500ms", 0.5), (" 5 s ", 5.0), (2, 2.0)])
def test_the_prometheus_config_reads_timeouts(value: object, seconds: float) -> None:
    assert config_duration(value, "metrics.timeout") == seconds


@pytest.mark.parametrize(
    ("spec", "latency", "slow_start"),
    [
        ("v2:latency=300", 0.3, None),
        ("v2:latency=300ms", 0.3, None),
        ("v2:latency=1.5s", 1.5, None),
        ("v2:slow_start=5", None, 5.0),
        ("v2:slow_start=500ms", None, 0.5),
        ("v2:slow_start=1m", None, 60.0),
    ],
)
def test_fault_durations(spec: str, latency: float | None, slow_start: float | None) -> None:
    fault = parse_fault(spec)
    assert (fault.latency, fault.slow_start) == (latency, slow_start)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("v2:latency=fast", "latency must look like 300ms or 1.5s, got 'fast'"),
        ("v2:latency=61s", "latency 61s is more than 60s"),
        ("v2:slow_start=2m", "slow_start 2m is more than 60s"),
    ],
)
def test_fault_durations_keep_their_messages(spec: str, fragment: str) -> None:
    with pytest.raises(FaultSpecError, match=fragment):
        parse_fault(spec)


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0ms"),
        (0.4, "400ms"),
        (0.0015, "1.5ms"),
        (1.0, "1s"),
        (1.5, "1.5s"),
        (30, "30s"),
        (59.5, "59.5s"),
        (60, "1m"),
        (90, "1m30s"),
        (90.5, "1m30.5s"),
        (60.25, "1m0.25s"),
        (3600, "1h"),
        (3660, "1h1m"),
        (9015.5, "2h30m15.5s"),
        (86400, "1d"),
        (90061, "1d1h1m1s"),
        (1e-8, "0.00001ms"),  # never an exponent: "1e-05ms" would not read back
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0s"),
        (0, "0s"),
        (0.4, "0s"),
        (0.6, "1s"),
        (42, "42s"),
        (59.4, "59s"),
        (60, "1m00s"),
        (185, "3m05s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (3720, "1h02m"),
        (3779, "1h02m"),
        (90000, "25h00m"),
    ],
)
def test_format_short(seconds: float, text: str) -> None:
    assert format_short(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        *((30, "30s"), (5, "5s"), (60, "1m"), (90, "90s"), (300, "5m"), (3600, "1h")),
        *((7200, "2h"), (86400, "1d"), (0.5, "500ms"), (1.5, "1500ms"), (0.0001, "1ms")),
        *((2.0004, "2s"), (5400, "90m"), (172800, "2d"), (90000, "25h")),
    ],
)
def test_format_one_unit(seconds: float, text: str) -> None:
    assert format_one_unit(seconds) == text


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), float("-inf")])
def test_format_one_unit_rejects_non_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        format_one_unit(bad)


# --------------------------------------------------------------------------- round trips


@settings(deadline=None)
@given(st.floats(min_value=0, max_value=MONTH, allow_nan=False))
def test_format_duration_reads_back(seconds: float) -> None:
    text = format_duration(seconds)
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-5, abs=1e-9), text


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=int(MONTH * 1000)))
def test_whole_milliseconds_read_back_exactly(ms: int) -> None:
    seconds = ms / 1000
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-9)


@settings(deadline=None)
@given(st.floats(min_value=1e-4, max_value=MONTH, allow_nan=False))
def test_format_one_unit_reads_back_to_the_millisecond(seconds: float) -> None:
    ms = max(1, round(seconds * 1000))
    assert parse_duration(format_one_unit(seconds)) == ms / 1000


@settings(deadline=None)
@given(st.floats(min_value=0, max_value=MONTH, allow_nan=False))
def test_format_short_reads_back_rounded(seconds: float) -> None:
    s = round(seconds)
    shown = s if s < 3600 else s - s % 60  # past an hour the seconds are not shown
    assert parse_duration(format_short(seconds)) == shown


_PARTS = st.lists(
    st.tuples(st.integers(min_value=0, max_value=10_000), st.sampled_from(sorted(UNITS_MS))),
    min_size=1,
    max_size=5,
)


@settings(deadline=None)
@given(_PARTS, st.sampled_from(["", " "]))
def test_parts_add_up(parts: list[tuple[int, str]], gap: str) -> None:
    text = gap.join(f"{n}{gap}{unit}" for n, unit in parts)
    expected = sum(n * UNITS_MS[unit] for n, unit in parts) / 1000
    assert parse_duration(text) == expected
    assert math.isfinite(parse_duration(f" {text} "))
