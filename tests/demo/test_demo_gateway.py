"""The demo gateway against real service processes: split, routes, mirroring, readiness, APIs."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from backends.base import BackendError, MatchRule, NotFound
from tests.demo.demo_httpclient import fire_sync
from tests.support.waits import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def reset(demo_env: Any) -> Iterator[None]:
    yield
    traffic = demo_env.env.traffic
    traffic.set_match("courses", [], None)
    traffic.set_mirror("courses", None, 0)
    traffic.set_split("courses", {"v1": 100, "v2": 0})
    for v in ("v1", "v2"):
        demo_env.control.clear_fault("courses", v)


def test_starts_with_v1_serving_everything_and_v2_ready(demo_env: Any) -> None:
    traffic = demo_env.env.traffic
    assert traffic.services() == ["courses", "enrollments", "grades"]
    split = traffic.get_split("grades")
    assert split.weights == {"v1": 100, "v2": 0} and split.mirror_percent == 0
    health = traffic.health("grades")
    assert (health["v1"].ready, health["v1"].total) == (2, 2)
    assert (health["v2"].ready, health["v2"].total) == (2, 2)
    body = httpx.get(demo_env.gateway_url + "/grades/u7").json()
    assert body["student"] == "u7" and body["served_by"]["version"] == "v1"


def test_split_10_90_over_10000_requests_is_within_2_points(demo_env: Any) -> None:
    demo_env.env.traffic.set_split("courses", {"v1": 10, "v2": 90})
    results = fire_sync(demo_env.gateway_url, 10_000, concurrency=24)
    assert len(results) == 10_000
    assert all(r.status == 200 for r in results)
    share = Counter(r.version for r in results)
    assert abs(share["v1"] / 10_000 - 0.10) <= 0.02, share
    assert abs(share["v2"] / 10_000 - 0.90) <= 0.02, share
    # Every ready instance of both versions took part (round robin inside a version).
    assert len({r.instance for r in results}) == 4


def test_header_and_cookie_routes_pin_beta_testers_to_v2(demo_env: Any) -> None:
    traffic = demo_env.env.traffic
    rules = [MatchRule(headers={"x-lms-beta": "true"}), MatchRule(cookies={"cohort": "beta"})]
    traffic.set_match("courses", rules, "v2")
    split = traffic.get_split("courses")
    assert split.match_version == "v2" and split.match == tuple(rules)
    beta = fire_sync(demo_env.gateway_url, 300, headers=[(b"x-lms-beta", b"true")])
    cookie = fire_sync(demo_env.gateway_url, 300, headers=[(b"cookie", b"lang=en; cohort=beta")])
    plain = fire_sync(demo_env.gateway_url, 300, headers=[(b"x-lms-beta", b"false")])
    assert Counter(r.version for r in beta) == {"v2": 300}
    assert Counter(r.version for r in cookie) == {"v2": 300}
    assert Counter(r.version for r in plain) == {"v1": 300}
    traffic.set_match("courses", [], None)
    assert Counter(
        r.version for r in fire_sync(demo_env.gateway_url, 100, headers=[(b"x-lms-beta", b"true")])
    ) == {"v1": 100}


def test_mirrored_requests_reach_v2_but_their_answers_never_reach_the_client(demo_env: Any) -> None:
    traffic, control = demo_env.env.traffic, demo_env.control
    # v2 fails every request: any mirrored answer leaking to a client would show as a 5xx.
    control.inject_fault("courses", "v2", errors=1.0, latency=0.0)
    before = control.status()["mirrored"]
    served_before = _served(traffic, "v2")
    errors_before = _v2_errors(demo_env.gateway_url)
    background = _courses_sent(control)
    traffic.set_mirror("courses", "v2", 50)
    results = fire_sync(demo_env.gateway_url, 1000)
    assert Counter(r.status for r in results) == {200: 1000}
    assert Counter(r.version for r in results) == {"v1": 1000}
    wait_until(lambda: control.status()["mirrored"] - before >= 400, 10, "mirrored copies")
    copies = control.status()["mirrored"] - before
    # ~50 % of our 1000 plus of what the background load sent to courses meanwhile (more on
    # a slower machine); the slack is > 5 sigma, far from the 100 % that copying all would be.
    background = _courses_sent(control) - background
    assert 400 <= copies <= 0.5 * (1000 + background) + 100, (copies, background)
    assert _served(traffic, "v2") - served_before >= 400
    # The copies show up in v2's metrics (as the errors they are), not in the client's answers.
    assert _v2_errors(demo_env.gateway_url) - errors_before >= 400


def _courses_sent(control: Any) -> int:
    """Requests the background load generator has sent to courses so far."""
    return int(control.load_stats()["by_service"].get("courses", {}).get("sent", 0))


def _v2_errors(gateway_url: str) -> int:
    total = 0
    for line in httpx.get(gateway_url + "/metrics").text.splitlines():
        if (
            line.startswith("http_request_duration_seconds_count{")
            and 'service="courses",version="v2",code="5' in line
        ):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def _served(traffic: Any, version: str) -> int:
    data = traffic.client.call("GET", "/v1/services/courses/health")
    return sum(i["served"] for i in data[version]["instances"])


def test_an_instance_failing_readiness_gets_no_traffic(demo_env: Any) -> None:
    traffic, control = demo_env.env.traffic, demo_env.control
    control.inject_fault(
        "courses", "v1", errors=0.0, latency=0.0, unready=True, instance="courses-v1-1"
    )
    wait_until(lambda: traffic.health("courses")["v1"].ready == 1, 10, "v1 ready 1/2")
    health = traffic.health("courses")["v1"]
    assert health.total == 2
    assert any("readiness probe failed" in r for r in health.reasons)
    results = fire_sync(demo_env.gateway_url, 500)
    assert all(r.status == 200 for r in results)
    assert Counter(r.instance for r in results) == {"courses-v1-2": 500}
    control.clear_fault("courses", "v1")
    wait_until(lambda: traffic.health("courses")["v1"].ready == 2, 10, "v1 ready 2/2 again")
    assert len({r.instance for r in fire_sync(demo_env.gateway_url, 100)}) == 2


def test_a_version_that_crashes_on_start_never_takes_traffic(demo_env: Any) -> None:
    traffic, control = demo_env.env.traffic, demo_env.control
    traffic.scale("enrollments", "v2", 0)
    control.inject_fault("enrollments", "v2", errors=0.0, latency=0.0, crash=True)
    traffic.scale("enrollments", "v2", 2)
    wait_until(lambda: traffic.health("enrollments")["v2"].restarts >= 2, 15, "a crash loop")
    traffic.set_split("enrollments", {"v1": 50, "v2": 50})
    try:
        results = fire_sync(demo_env.gateway_url, 400, target="/enrollments?user=u1")
        assert Counter(r.status for r in results) == {200: 400}
        assert Counter(r.version for r in results) == {"v1": 400}
        health = traffic.health("enrollments")["v2"]
        assert (health.ready, health.total) == (0, 2)
        # Between a crash's exit and its restart an instance briefly says "did not start";
        # both crash in step, so wait (bounded) for a moment that shows the back-off.
        wait_until(
            lambda: any(
                "CrashLoopBackOff" in r and "exited with code 1" in r
                for r in traffic.health("enrollments")["v2"].reasons
            ),
            10,
            "a CrashLoopBackOff reason",
        )
    finally:
        traffic.set_split("enrollments", {"v1": 100, "v2": 0})
        control.clear_fault("enrollments", "v2")


def test_gateway_answers_bad_requests_with_a_4xx(demo_env: Any) -> None:
    r = httpx.get(demo_env.gateway_url + "/library/books")
    assert r.status_code == 404 and "unknown service 'library'" in r.json()["error"]
    assert httpx.get(demo_env.gateway_url + "/courses/999").status_code == 404
    assert httpx.get(demo_env.gateway_url + "/enrollments").status_code == 400
    port = int(demo_env.gateway_url.rsplit(":", 1)[1])
    for raw, code in [
        (b"GARBAGE\r\n\r\n", b" 400 "),
        (b"POST /grades HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", b" 411 "),
    ]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(raw)
            assert code in s.recv(4096).split(b"\r\n")[0]
    # Still serving after the garbage.
    assert httpx.get(demo_env.gateway_url + "/courses/1").status_code == 200


# Hostile requests (RFC 9112), sent on raw sockets: each must be answered with its status and
# the connection closed, so that nothing after it on the connection is taken as a request.
SMUGGLED = b"GET /courses/2 HTTP/1.1\r\nHost: a\r\n\r\n"
HOSTILE = [
    pytest.param(
        b"POST /courses/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n"
        + SMUGGLED,
        b" 400 ",
        id="two-content-lengths",
    ),
    pytest.param(b"GET /courses/1 HTTP/1.1\nHost: a\n\n", b" 400 ", id="bare-lf"),
    pytest.param(
        b"POST /courses/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
        b" 400 ",
        id="transfer-encoding-and-content-length",
    ),
    pytest.param(
        b"POST /courses/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4_0\r\n\r\nabcd",
        b" 400 ",
        id="invalid-content-length",
    ),
    pytest.param(
        b"GET /courses/1 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", b" 400 ", id="obs-fold"
    ),
    pytest.param(b"GET /courses/1 HTTP/1.1\r\nHost a\r\n\r\n", b" 400 ", id="no-colon"),
    pytest.param(b"GET /courses/1 HTTP/1.1\r\n\r\n" + SMUGGLED, b" 400 ", id="no-host"),
    pytest.param(
        b"GET /courses/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + SMUGGLED,
        b" 400 ",
        id="two-hosts",
    ),
    pytest.param(
        b"GET /courses/1 HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
        b" 431 ",
        id="overlong-head",
    ),
]


def _exchange(port: int, raw: bytes, timeout: float = 10.0) -> tuple[bytes, bool]:
    """Send ``raw``; (all bytes answered, whether the server closed) within ``timeout`` s."""
    chunks = []
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        while time.monotonic() < deadline:
            try:
                data = s.recv(65536)
            except TimeoutError:
                break
            if not data:
                return b"".join(chunks), True
            chunks.append(data)
    return b"".join(chunks), False


def _targets(demo_env: Any) -> dict[str, int]:
    """The gateway, one ready instance (a service process) and the control API."""
    instance = next(i for i in demo_env.control.status()["instances"] if i["state"] == "ready")
    return {
        "gateway": int(demo_env.gateway_url.rsplit(":", 1)[1]),
        "instance": int(instance["port"]),
        "control": int(demo_env.handle.control_url.rsplit(":", 1)[1]),
    }


@pytest.mark.parametrize(("raw", "status"), HOSTILE)
def test_hostile_requests_get_one_answer_and_a_closed_connection(
    demo_env: Any, raw: bytes, status: bytes
) -> None:
    for name, port in _targets(demo_env).items():
        out, closed = _exchange(port, raw)
        assert out.startswith(b"HTTP/1.1") and status in out.split(b"\r\n")[0], (name, out)
        # One answer: the bytes after the refused head were not served as a request.
        assert out.count(b"HTTP/1.1 ") == 1 and closed, (name, out)
    # Still serving after it.
    assert httpx.get(demo_env.gateway_url + "/courses/1").status_code == 200


def test_metrics_endpoint_is_prometheus_text_per_version_and_code(demo_env: Any) -> None:
    demo_env.env.traffic.set_split("courses", {"v1": 50, "v2": 50})
    fire_sync(demo_env.gateway_url, 200)
    text = httpx.get(demo_env.gateway_url + "/metrics").text
    for v in ("v1", "v2"):
        assert (
            f'http_request_duration_seconds_count{{service="courses",version="{v}",code="200"}}'
            in text
        )
    assert 'rollout_demo_split_weight{service="courses",version="v2"} 50' in text
    samples = demo_env.env.metrics.sample("courses", ["v1", "v2"], 60)
    assert samples["v2"].requests >= 100 and samples["v2"].p99 is not None
    history = demo_env.env.metrics.history("courses", ["v2"], time.time() - 30, 5)
    assert 5 <= len(history["v2"]) <= 6 and sum(p.requests or 0 for p in history["v2"]) >= 100


def test_control_api_needs_the_token(demo_env: Any) -> None:
    url = demo_env.handle.control_url + "/v1/services/courses/split"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    token = demo_env.handle.token
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    mode = (demo_env.state_dir / "endpoint.json").stat().st_mode & 0o777
    assert mode == 0o600


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("PUT", "/v1/services/courses/split", {"weights": {"v1": 60, "v2": 30}}, 400, "sum to 100"),
        (
            "PUT",
            "/v1/services/courses/split",
            {"weights": {"v1": 50, "v7": 50}},
            400,
            "unknown version 'v7'",
        ),
        (
            "PUT",
            "/v1/services/library/split",
            {"weights": {"v1": 100}},
            404,
            "unknown service 'library'",
        ),
        ("PUT", "/v1/services/courses/split", "not json", 400, "not valid JSON"),
        ("PUT", "/v1/services/courses/mirror", {"version": "v2", "percent": 150}, 400, "0..100"),
        ("PUT", "/v1/services/courses/match", {"rules": [{}], "version": "v2"}, 400, "rules[0]"),
        ("POST", "/v1/services/courses/versions/v2/scale", {"instances": 99}, 400, "0..10"),
        ("POST", "/v1/services/courses/versions/v1/retire", {}, 409, "still takes 100%"),
        ("PUT", "/v1/services/courses/versions/v2/fault", {"errors": 2}, 400, "out of range"),
        ("PUT", "/v1/services/courses/versions/v2/fault", {"boom": 1}, 400, "unknown fault field"),
        ("DELETE", "/v1/services/courses/split", None, 405, "use GET, PUT"),
        ("GET", "/v1/nothing", None, 404, "no such endpoint"),
    ],
)
def test_control_api_bad_requests_get_a_clear_4xx(
    demo_env: Any, method: str, path: str, body: Any, status: int, message: str
) -> None:
    headers = {"Authorization": f"Bearer {demo_env.handle.token}"}
    content = body if isinstance(body, str) else None
    json_body = None if isinstance(body, str) else body
    r = httpx.request(
        method, demo_env.handle.control_url + path, headers=headers, json=json_body, content=content
    )
    assert r.status_code == status
    assert message in r.json()["error"]


def test_backend_errors_map_to_the_contract(demo_env: Any) -> None:
    traffic = demo_env.env.traffic
    with pytest.raises(NotFound, match="library"):
        traffic.get_split("library")
    with pytest.raises(BackendError, match="sum to 100"):
        traffic.set_split("courses", {"v1": 10, "v2": 10})
    assert traffic.get_split("courses").weights == {"v1": 100, "v2": 0}


def test_slow_start_keeps_a_new_instance_out_until_ready(demo_env: Any) -> None:
    traffic, control = demo_env.env.traffic, demo_env.control
    traffic.scale("grades", "v2", 0)
    # Long enough that the checks below run while v2 is still starting, even when a loaded
    # machine stalls this test for a second or two (the process start-up comes on top).
    control.inject_fault("grades", "v2", errors=0.0, latency=0.0, slow_start=3.0)
    try:
        traffic.scale("grades", "v2", 1)
        health = traffic.health("grades")["v2"]
        assert (health.ready, health.total) == (0, 1)
        traffic.set_split("grades", {"v1": 50, "v2": 50})
        # Until v2 is ready its share goes to v1: no request fails in the meantime.
        early = fire_sync(demo_env.gateway_url, 50, target="/grades/u3")
        assert Counter((r.status, r.version) for r in early) == {(200, "v1"): 50}
        wait_until(
            lambda: traffic.health("grades")["v2"].ready == 1, 15, "v2 ready after slow start"
        )
        late = fire_sync(demo_env.gateway_url, 100, target="/grades/u3")
        assert Counter(r.version for r in late)["v2"] >= 30
    finally:
        traffic.set_split("grades", {"v1": 100, "v2": 0})
        control.inject_fault("grades", "v2", errors=0.0, latency=0.0, slow_start=0.0)
        traffic.scale("grades", "v2", 2)


def test_injected_latency_shows_in_the_version_metrics(demo_env: Any) -> None:
    traffic, control = demo_env.env.traffic, demo_env.control
    control.inject_fault("courses", "v2", errors=0.0, latency=0.15)
    traffic.set_split("courses", {"v1": 0, "v2": 100})
    # Enough slow requests to outweigh any fast v2 request of earlier tests in the window.
    fire_sync(demo_env.gateway_url, 300, concurrency=60)
    sample = demo_env.env.metrics.sample("courses", ["v2"], 5)["v2"]
    assert sample.p50 is not None and sample.p50 >= 0.15
    assert sample.error_ratio == 0.0


def test_deploy_a_new_version_route_to_it_and_retire_it(demo_env: Any) -> None:
    traffic = demo_env.env.traffic
    traffic.deploy("grades", "v3", 1)
    try:
        assert traffic.versions("grades") == ["v1", "v2", "v3"]
        wait_until(lambda: traffic.health("grades")["v3"].ready == 1, 15, "v3 ready")
        traffic.set_split("grades", {"v1": 0, "v2": 0, "v3": 100})
        results = fire_sync(demo_env.gateway_url, 50, target="/grades/u9")
        assert Counter((r.status, r.version) for r in results) == {(200, "v3"): 50}
        with pytest.raises(BackendError, match="still takes 100%"):
            traffic.retire("grades", "v3")
    finally:
        traffic.set_split("grades", {"v1": 100, "v2": 0, "v3": 0})
        traffic.retire("grades", "v3")
    assert traffic.versions("grades") == ["v1", "v2"]
    assert "v3" not in traffic.health("grades")
    assert traffic.get_split("grades").weights == {"v1": 100, "v2": 0}


def test_load_rate_can_change_and_counts_add_up(demo_env: Any) -> None:
    control = demo_env.control
    assert control.set_rps(80)["rate"] == 80
    try:
        before = control.load_stats()
        wait_until(
            lambda: control.load_stats()["sent"] - before["sent"] >= 80, 15, "80 more requests"
        )
        stats = control.load_stats()
        assert stats["rate"] == 80
        assert stats["ok"] + stats["failed"] + stats["in_flight"] == stats["sent"]
        assert set(stats["by_service"]) == {"courses", "enrollments", "grades"}
    finally:
        control.set_rps(50)
