"""Durations: the one grammar every reader of a duration accepts, and three ways to write one.

Read (``parse_duration``): ``500ms``, ``30s``, ``5m``, ``1h``, ``1d``, parts that add up
(``1m30s``), spaces allowed around numbers and units (``5 s``), or a bare number in a unit
the caller names (seconds for plans and configs, milliseconds for a fault's latency).

Written:

- ``format_duration``: the shortest text ``parse_duration`` reads back (``400ms``, ``1.5s``,
  ``1m30s``); plans, summaries and messages.
- ``format_short``: rounded to whole seconds and at most two units (``42s``, ``3m05s``,
  ``1h02m``); narrow columns and countdowns.
- ``format_one_unit``: one whole number of one unit (``90s``, ``5m``, ``1500ms``), the form
  every Prometheus version reads in a range selector or a query timeout.

Pure: no I/O. Callers keep their own error messages and bounds (a plan allows 0, a query
timeout must be positive, a fault's latency is at most a minute).
"""

from __future__ import annotations

import math
import re

# Milliseconds per unit: summing in ms and dividing once keeps "43ms" == 0.043 exactly.
UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

_NUMBER = r"\d+(?:\.\d+)?"
_UNIT = r"ms|s|m|h|d"  # "ms" before "m": the longest unit wins
_PARTS = re.compile(rf"(?:\s*{_NUMBER}\s*(?:{_UNIT}))+\s*")
_PART = re.compile(rf"({_NUMBER})\s*({_UNIT})")
_BARE = re.compile(rf"\s*({_NUMBER})\s*")
_SPELLED = "a duration like 500ms, 30s, 5m, 1h or 1m30s"


def parse_duration(value: str | float, *, bare: str = "s") -> float:
    """A duration in seconds from its text (or from a number, in ``bare`` units).

    A bare number (``"30"`` or ``30``) counts in ``bare`` units (one of ``ms s m h d``).
    Raises ValueError for anything else, ``true``/``false`` and negative text included.
    Numbers are returned as they are (negative, infinite): the caller bounds them.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected {_SPELLED}, got {value!r}")
    if isinstance(value, str):
        if m := _BARE.fullmatch(value):
            number = float(m.group(1))
        elif _PARTS.fullmatch(value):
            return sum(float(n) * UNITS_MS[u] for n, u in _PART.findall(value)) / 1000
        else:
            raise ValueError(f"{value!r} is not {_SPELLED}")
    else:
        number = float(value)
    return number if bare == "s" else number * UNITS_MS[bare] / 1000


def _decimal(x: float) -> str:
    """``x`` with up to 6 significant digits and never an exponent (``1e-05`` does not parse)."""
    text = f"{x:g}"
    if "e" in text:
        text = f"{x:.9f}".rstrip("0").rstrip(".")
    return text


def format_duration(seconds: float) -> str:
    """Seconds (>= 0) as the shortest plan-style text: 0.4 -> '400ms', 90 -> '1m30s',
    3600 -> '1h', 90.5 -> '1m30.5s'. ``parse_duration`` reads it back."""
    if seconds < 1:
        return f"{_decimal(seconds * 1000)}ms"
    whole = int(seconds)
    fraction = round(seconds - whole, 6)
    if fraction and seconds < 60:
        return f"{_decimal(seconds)}s"
    rest = whole
    parts = []
    for unit in ("d", "h", "m"):
        size = UNITS_MS[unit] // 1000
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    if rest or fraction:  # 1m30.5s rather than 90.5s; 0.25 s stays on the seconds part
        parts.append(f"{_decimal(rest + fraction)}s")
    return "".join(parts) or "0s"


def format_short(seconds: float) -> str:
    """Rounded to whole seconds, at most two units: '42s', '3m05s', '1h02m' (negative: '0s')."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def format_one_unit(seconds: float) -> str:
    """Seconds as one whole number of the largest unit that divides it: '30s', '5m', '90s',
    '1500ms'; rounded to the millisecond, never below 1ms. Raises ValueError unless positive."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"expected a positive duration, not {seconds!r}")
    ms = max(1, round(seconds * 1000))
    for unit in ("d", "h", "m", "s"):
        if ms % UNITS_MS[unit] == 0:
            return f"{ms // UNITS_MS[unit]}{unit}"
    return f"{ms}ms"
