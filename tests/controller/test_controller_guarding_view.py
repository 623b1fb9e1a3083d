"""The console's unguarded texts and bell/standby decisions, as plain data."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from console.driver.guard import Guard, GuardReason
from console.view.guarding import (
    header_line,
    measurement_age,
    newly_unguarded,
    row_text,
    to_take_over,
)

T0 = 1_800_000_000.0
OK = Guard(True, GuardReason.DRIVEN, driver="ctl@h:1:aa")


def _bad(since: float = T0) -> Guard:
    return Guard(False, GuardReason.UNGUARDED, since=since)


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def test_row_and_header_texts() -> None:
    assert row_text(OK) is None and row_text(None) is None
    assert row_text(_bad()) == f"UNGUARDED since {_clock(T0)}"
    assert header_line({"a": OK}) is None
    line = header_line({"grades": _bad(T0 + 5), "courses": _bad(T0), "x": OK})
    assert line is not None
    assert line.index("courses") < line.index("grades") and "x" not in line


def test_measurement_age_only_without_a_driver() -> None:
    assert measurement_age(T0, T0 + 12.4, _bad()) == "12 s ago, no driver"
    assert measurement_age(T0, T0 + 12, OK) is None
    assert measurement_age(None, T0, _bad()) is None


def test_the_bell_rings_once_per_stretch() -> None:
    ring, memory = newly_unguarded({}, {"courses": _bad(T0)})
    assert ring == {"courses"}
    ring, memory = newly_unguarded(memory, {"courses": _bad(T0)})
    assert ring == set()
    ring, memory = newly_unguarded(memory, {"courses": OK})  # guarded again: forgotten
    assert ring == set() and memory == {}
    ring, _ = newly_unguarded(memory, {"courses": _bad(T0 + 60)})  # a new stretch
    assert ring == {"courses"}


@given(st.lists(st.tuples(st.sampled_from("abc"), st.booleans(), st.integers(0, 3)), max_size=30))
def test_rings_exactly_when_a_stretch_begins(steps: list[tuple[str, bool, int]]) -> None:
    memory: dict[str, float] = {}
    state: dict[str, Guard] = {}
    for name, guarded, since in steps:
        before = dict(state)
        state[name] = OK if guarded else _bad(T0 + since)
        ring, memory = newly_unguarded(memory, state)
        for n, g in state.items():
            old = before.get(n)
            begins = not g.guarded and (old is None or old.guarded or old.since != g.since)
            assert (n in ring) is begins


def test_standby_takes_over_only_unguarded_ones_and_never_read_only() -> None:
    guards = {"a": _bad(), "b": OK, "c": _bad()}
    assert to_take_over(guards, standby=True, read_only=False) == ["a", "c"]
    assert to_take_over(guards, standby=True, read_only=False, driving={"a"}) == ["c"]
    assert to_take_over(guards, standby=False, read_only=False) == []
    assert to_take_over(guards, standby=True, read_only=True) == []
