"""The pure guard verdict: finished, exposed, leased, and since when a rollout is unguarded."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.base import Event, Lease, Phase, RolloutRecord, Strategy, TrafficSplit
from console.driver.guard import (
    DEFAULT_TTL,
    GuardReason,
    already_reported,
    candidate_exposed,
    guard_state,
    unguarded_since,
)

T0 = 1_800_000_000.0


def _rec(
    phase: Phase = Phase.PROGRESSING,
    weights: dict[str, int] | None = None,
    engine: dict | None = None,
    updated_at: float = T0,
    events: tuple[Event, ...] = (),
) -> RolloutRecord:
    return RolloutRecord(
        service="courses",
        strategy=Strategy.CANARY,
        stable="v1",
        candidate="v2",
        phase=phase,
        plan={},
        weights={"v1": 80, "v2": 20} if weights is None else weights,
        updated_at=updated_at,
        engine=engine or {},
        events=events,
    )


def _lease(expires_at: float, holder: str = "ctl@host:1:aa") -> Lease:
    return Lease(service="courses", holder=holder, expires_at=expires_at)


# ------------------------------------------------------------------ examples


def test_no_record_is_nothing_to_guard() -> None:
    g = guard_state(None, None, T0)
    assert g.guarded and g.reason is GuardReason.NO_ROLLOUT and g.since is None


@pytest.mark.parametrize("phase", [Phase.COMPLETED, Phase.ROLLED_BACK, Phase.ABORTED])
def test_a_finished_rollout_is_guarded_even_with_no_driver_for_an_hour(phase: Phase) -> None:
    g = guard_state(_rec(phase, weights={"v1": 0, "v2": 100}), None, T0 + 3600)
    assert g.guarded and g.reason is GuardReason.FINISHED


def test_a_live_lease_guards_and_names_its_holder() -> None:
    g = guard_state(_rec(updated_at=T0 - 3600), _lease(T0 + 5), T0)
    assert g.guarded and g.reason is GuardReason.DRIVEN and g.driver == "ctl@host:1:aa"


def test_no_driver_and_the_candidate_at_20_percent_is_unguarded_once_the_ttl_passed() -> None:
    rec = _rec(updated_at=T0)
    assert guard_state(rec, None, T0 + DEFAULT_TTL - 0.1).reason is GuardReason.GRACE
    g = guard_state(rec, None, T0 + DEFAULT_TTL)
    assert not g.guarded and g.reason is GuardReason.UNGUARDED
    assert g.since == T0 + DEFAULT_TTL and g.driver is None


def test_an_expired_lease_says_since_when_better_than_the_last_write() -> None:
    # The driver renewed its lease for 50 s after its last write, then was killed.
    rec = _rec(updated_at=T0)
    g = guard_state(rec, _lease(T0 + 60), T0 + 61)
    assert not g.guarded and g.since == T0 + 60
    # The same, told through expired_at (a store that keeps only the expiry).
    g = guard_state(rec, None, T0 + 61, expired_at=T0 + 60)
    assert g.since == T0 + 60
    # A stale lease older than the last write does not move since backwards.
    g = guard_state(rec, _lease(T0 - 100), T0 + 61)
    assert g.since == T0 + DEFAULT_TTL


@pytest.mark.parametrize(
    ("weights", "engine", "split", "exposed"),
    [
        ({"v1": 100, "v2": 0}, {}, None, False),
        ({"v1": 100, "v2": 0}, {"match_on": True}, None, True),
        ({"v1": 100, "v2": 0}, {"mirror_on": True}, None, True),
        ({"v1": 99, "v2": 1}, {}, None, True),
        ({}, {}, None, False),  # Pending: nothing set yet
        # The live split counts too (an action the record does not know of yet).
        ({"v1": 100, "v2": 0}, {}, TrafficSplit({"v1": 90, "v2": 10}), True),
        ({"v1": 100, "v2": 0}, {}, TrafficSplit({"v1": 100}, match_version="v2"), True),
        (
            {"v1": 100, "v2": 0},
            {},
            TrafficSplit({"v1": 100}, mirror_version="v2", mirror_percent=5),
            True,
        ),
        (
            {"v1": 100, "v2": 0},
            {},
            TrafficSplit({"v1": 100}, mirror_version="v2", mirror_percent=0),
            False,
        ),
        ({"v1": 100, "v2": 0}, {}, TrafficSplit({"v1": 100}, match_version="v3"), False),
    ],
)
def test_candidate_exposure_by_weight_match_or_mirror(
    weights: dict[str, int], engine: dict, split: TrafficSplit | None, exposed: bool
) -> None:
    rec = _rec(weights=weights, engine=engine)
    assert candidate_exposed(rec, split) is exposed
    g = guard_state(rec, None, T0 + 3600, split=split)
    assert g.guarded is not exposed
    if not exposed:
        assert g.reason is GuardReason.NOT_EXPOSED


def test_paused_counts_as_not_finished() -> None:
    g = guard_state(_rec(Phase.PAUSED), None, T0 + 3600)
    assert not g.guarded


def test_reported_marker_covers_its_stretch_only() -> None:
    since = T0 + DEFAULT_TTL
    marker = Event(at=since + 3, service="courses", kind="unguarded", message="x")
    rec = _rec(events=(marker,))
    assert already_reported(rec, since)
    # A later stretch (a driver came back, then went away again) is a new report.
    assert not already_reported(rec, since + 60)
    other = Event(at=since + 3, service="courses", kind="rollback", message="x")
    assert not already_reported(_rec(events=(other,)), since)


# ------------------------------------------------------------------ properties

times = st.floats(min_value=-1e5, max_value=1e5, allow_nan=False)
phases = st.sampled_from(list(Phase))
weights = st.integers(min_value=0, max_value=100).map(lambda w: {"v1": 100 - w, "v2": w})


@st.composite
def situations(draw: st.DrawFn) -> tuple:
    rec = _rec(
        phase=draw(phases),
        weights=draw(weights),
        engine=draw(st.fixed_dictionaries({}, optional={"match_on": st.booleans()})),
        updated_at=T0 + draw(times),
    )
    lease = draw(st.none() | times.map(lambda t: _lease(T0 + t)))
    expired = draw(st.none() | times.map(lambda t: T0 + t))
    ttl = draw(st.floats(min_value=0.5, max_value=60))
    now = T0 + draw(times)
    return rec, lease, expired, ttl, now


@given(situations())
def test_verdict_matches_the_definition(case: tuple) -> None:
    rec, lease, expired, ttl, now = case
    g = guard_state(rec, lease, now, ttl=ttl, expired_at=expired)
    live = lease is not None and lease.expires_at > now
    expected_unguarded = (
        not rec.phase.terminal
        and candidate_exposed(rec)
        and not live
        and now >= unguarded_since(rec, ttl, expired)
        and (lease is None or now >= lease.expires_at)
    )
    assert g.guarded is not expected_unguarded
    assert (g.since is not None) is (not g.guarded)
    assert (g.driver is not None) is (g.reason is GuardReason.DRIVEN)
    if not g.guarded:
        assert g.since is not None and g.since <= now
        # Never earlier than the last write plus the TTL, nor than a known lease expiry.
        assert g.since >= rec.updated_at + ttl
        if expired is not None:
            assert g.since >= expired
        if lease is not None:
            assert g.since >= lease.expires_at


@given(situations(), st.floats(min_value=0, max_value=1e4))
def test_unguarded_stays_unguarded_as_time_passes(case: tuple, later: float) -> None:
    rec, lease, expired, ttl, now = case
    g = guard_state(rec, lease, now, ttl=ttl, expired_at=expired)
    if not g.guarded:
        g2 = guard_state(rec, lease, now + later, ttl=ttl, expired_at=expired)
        assert not g2.guarded and g2.since == g.since


@given(situations(), st.floats(min_value=0, max_value=1e4))
def test_a_later_write_never_makes_since_earlier(case: tuple, delta: float) -> None:
    rec, _, expired, ttl, _now = case
    a = unguarded_since(rec, ttl, expired)
    b = unguarded_since(dataclasses.replace(rec, updated_at=rec.updated_at + delta), ttl, expired)
    assert b >= a
