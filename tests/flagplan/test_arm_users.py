"""The demo gateway's distinct users per flag variant (backends/local/arm_users.py)."""

from __future__ import annotations

from backends.local.arm_users import MAX_PAIRS, ArmUsers, user_of
from tests.support.clock import Clock


def test_users_per_variant_in_the_window() -> None:
    clock = Clock(1000.0)
    users = ArmUsers(clock)
    users.observe("new-gradebook=on, course-recommendations=off", "u1")
    users.observe("new-gradebook=on", "u1")
    users.observe("new-gradebook=off", "u2")
    clock.advance(10)
    users.observe("new-gradebook=on", "u3")
    assert users.users("new-gradebook", ["on", "off"], 60) == {"on": 2, "off": 1}
    assert users.users("new-gradebook", ["on", "off"], 5) == {"on": 1, "off": 0}
    assert users.users("course-recommendations", ["off"], 60) == {"off": 1}


def test_anonymous_requests_and_pairs_beyond_the_bound_are_not_counted() -> None:
    users = ArmUsers(Clock(0.0))
    users.observe("a=on", "")
    for i in range(MAX_PAIRS + 5):
        users.observe(f"f{i}=on", "u1")
    assert len(users.seen) == MAX_PAIRS


def test_user_from_header_else_cookie() -> None:
    assert user_of([(b"x-lms-user", b" u7 ")]) == "u7"
    assert user_of([(b"cookie", b"a=1; lms_user=u9")]) == "u9"
    assert user_of([(b"accept", b"*/*")]) == ""


def test_a_route_split_by_user_gives_a_user_always_the_same_version() -> None:
    from backends.local.routing import Route

    route = Route({"v1": 50, "v2": 50}).with_user_routing(True)
    ready = {"v1", "v2"}
    picks = {
        u: {route.choose({"x-lms-user": u}, {}, ready) for _ in range(5)}
        for u in (f"u{i}" for i in range(200))
    }
    assert all(len(p) == 1 for p in picks.values())
    share = sum(p == {"v2"} for p in picks.values()) / len(picks)
    assert 0.35 < share < 0.65  # about half of the users (binomial bounds for 200 users)
    # The cookie names the user too; weights stay per request without user routing.
    assert route.choose({}, {"lms_user": "u3"}, ready) == next(iter(picks["u3"]))
    assert route.with_weights({"v1": 100, "v2": 0}).by_user
    assert not Route({"v1": 50, "v2": 50}).by_user
