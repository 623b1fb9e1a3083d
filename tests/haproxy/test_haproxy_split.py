"""Splits through the Runtime API move real requests: the measured share of each version
follows the weights set, drained servers are drained (not in maintenance) and read back."""

from __future__ import annotations

import pytest

from backends.base import NotFound
from backends.haproxy.stats import DRAIN_BITS, MAINT_BITS
from tests.haproxy.fleet import Fleet
from tests.haproxy.load import LoadLoop
from tests.support.waits import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fleet_servers() -> dict[str, int]:
    # Unequal configured weights: v1-2 should carry three times v1-1's share of v1.
    return {"v1-1": 1, "v1-2": 3, "v2-1": 2, "v2-2": 2}


def _measure(fleet: Fleet, requests: int = 600) -> LoadLoop:
    load = LoadLoop(fleet.haproxy.port, rate=400).start()
    wait_until(lambda: load.tally.answered + len(load.tally.failures) >= requests, 60, "requests")
    load.stop()
    assert not load.tally.failures, load.tally.failures[:5]
    return load


def _states(fleet: Fleet) -> dict[str, int]:
    return {s.name: s.admin_state for s in fleet.traffic._servers()}


@pytest.mark.parametrize(
    "weights", [{"v1": 90, "v2": 10}, {"v1": 50, "v2": 50}, {"v1": 25, "v2": 75}]
)
def test_measured_share_follows_the_split(fleet: Fleet, weights: dict[str, int]) -> None:
    fleet.traffic.set_split("courses", weights)
    assert fleet.traffic.get_split("courses").weights == weights
    tally = _measure(fleet).tally
    assert abs(tally.share("v2") - weights["v2"] / 100) < 0.04, tally.by_version


def test_zero_percent_drains_and_blue_green_switches_in_one_batch(fleet: Fleet) -> None:
    fleet.traffic.set_split("courses", {"v1": 100, "v2": 0})
    states = _states(fleet)
    assert all(states[n] & DRAIN_BITS and not states[n] & MAINT_BITS for n in ("v2-1", "v2-2"))
    assert _measure(fleet, 300).tally.by_version.keys() == {"v1"}
    fleet.traffic.set_split("courses", {"v1": 0, "v2": 100})
    assert fleet.traffic.get_split("courses").weights == {"v1": 0, "v2": 100}
    states = _states(fleet)
    assert all(states[n] & DRAIN_BITS for n in ("v1-1", "v1-2"))
    assert not any(states[n] & (DRAIN_BITS | MAINT_BITS) for n in ("v2-1", "v2-2"))
    assert _measure(fleet, 300).tally.by_version.keys() == {"v2"}
    # Drained servers still pass their checks: health counts them ready.
    assert all(h.all_ready for h in fleet.traffic.health("courses").values())


def test_servers_share_their_version_by_configured_weight(fleet: Fleet) -> None:
    fleet.traffic.set_split("courses", {"v1": 100, "v2": 0})
    weights = {s.name: s.user_weight for s in fleet.traffic._servers() if s.name.startswith("v1")}
    assert abs(weights["v1-2"] / weights["v1-1"] - 3) < 0.05, weights


def test_unknown_version_or_backend_is_not_found(fleet: Fleet) -> None:
    with pytest.raises(NotFound, match="v9"):
        fleet.traffic.set_split("courses", {"v1": 50, "v9": 50})
    with pytest.raises(NotFound, match="grades"):
        fleet.traffic.get_split("grades")
    with pytest.raises(NotFound, match="fleet is fixed"):
        fleet.traffic.deploy("courses", "v3", 2)
    fleet.traffic.deploy("courses", "v2", 2)  # its servers exist: nothing to start
