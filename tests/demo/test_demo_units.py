"""The demo's pure parts: routing, metrics windows, fault specs, HTTP parsing."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from backends.base import MatchRule
from backends.local.faults import FaultSpecError, parse_fault
from backends.local.http11 import MAX_HEAD, HttpError, RequestFramer, read_response
from backends.local.metrics import Recorder, quantile
from backends.local.routing import Route, RouteError, parse_cookies, validate_weights
from tests.support.clock import Clock

# ------------------------------------------------------------------ routing


def test_every_100_requests_follow_the_weights_exactly() -> None:
    route = Route({"v1": 10, "v2": 90})
    for _ in range(5):
        lap = Counter(route.choose({}, {}, {"v1", "v2"}) for _ in range(100))
        assert lap == {"v1": 10, "v2": 90}


def test_a_weighted_version_without_ready_instances_falls_back_to_a_ready_one() -> None:
    route = Route({"v1": 50, "v2": 50})
    picks = Counter(route.choose({}, {}, {"v1"}) for _ in range(200))
    assert picks == {"v1": 200}
    assert Route({"v1": 100, "v2": 0}).choose({}, {}, {"v2"}) is None


def test_header_and_cookie_rules_pin_to_the_match_version() -> None:
    rules = (MatchRule(headers={"x-lms-beta": "true"}), MatchRule(cookies={"cohort": "beta"}))
    route = Route({"v1": 100}).with_match(rules, "v2")
    ready = {"v1", "v2"}
    assert route.choose({"x-lms-beta": "true"}, {}, ready) == "v2"
    assert route.choose({"x-lms-beta": "false"}, {}, ready) == "v1"
    assert route.choose({}, parse_cookies("a=1; cohort=beta"), ready) == "v2"
    assert route.choose({}, {}, ready) == "v1"
    # The pinned version is down: matching requests still get an answer from the split.
    assert route.choose({"x-lms-beta": "true"}, {}, {"v1"}) == "v1"
    assert route.with_match((), None).choose({"x-lms-beta": "true"}, {}, ready) == "v1"


def test_mirror_copies_about_the_percent_and_never_to_the_serving_version() -> None:
    route = Route({"v1": 100}).with_mirror("v2", 30)
    copies = sum(route.mirror_to("v1") == "v2" for _ in range(5000))
    assert 1200 < copies < 1800
    assert route.mirror_to("v2") is None
    assert route.with_mirror(None, 30).mirror_to("v1") is None


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"v1": 50, "v2": 40}, "sum to 100"),
        ({"v1": 50, "v9": 50}, "unknown version 'v9'"),
        ({"v1": 50.5, "v2": 49.5}, "integer"),
        ({"v1": -10, "v2": 110}, "integer >= 0"),
        ({}, "non-empty"),
    ],
)
def test_bad_weights_are_refused_with_the_reason(weights: dict, message: str) -> None:
    with pytest.raises(RouteError, match=message):
        validate_weights(weights, {"v1", "v2"})


# ------------------------------------------------------------------ metrics


def test_quantiles_interpolate_inside_buckets() -> None:
    # 100 observations all in the (0.01, 0.015] bucket.
    buckets = [0] * 27
    buckets[6] = 100
    assert quantile(0.5, buckets) == pytest.approx(0.0125)
    assert quantile(0.99, buckets) == pytest.approx(0.01495)
    assert quantile(0.5, [0] * 27) is None


def test_sample_counts_only_the_window_and_reports_missing_data_as_none() -> None:
    clock = Clock(1000.5)
    rec = Recorder(clock)
    for _ in range(90):
        rec.observe("courses", "v1", 200, 0.004)
    for _ in range(10):
        rec.observe("courses", "v1", 503, 0.004)
    clock.advance(20)  # the burst is now 20 s old
    for _ in range(30):
        rec.observe("courses", "v1", 200, 0.2)
    recent = rec.sample("courses", ["v1", "v2"], 10)
    assert recent["v1"]["requests"] == 30
    assert recent["v1"]["request_rate"] == pytest.approx(3.0)
    assert recent["v1"]["error_ratio"] == 0.0
    assert 0.15 < recent["v1"]["p50"] <= 0.2
    assert recent["v2"]["requests"] == 0
    assert recent["v2"]["error_ratio"] is None and recent["v2"]["p99"] is None
    wide = rec.sample("courses", ["v1"], 60)["v1"]
    assert wide["requests"] == 130
    assert wide["error_ratio"] == pytest.approx(10 / 130)


def test_history_has_one_point_per_step() -> None:
    clock = Clock(1000.5)
    rec = Recorder(clock)
    for _ in range(10):
        for _ in range(5):
            rec.observe("grades", "v2", 200, 0.01)
        clock.advance(1)
    series = rec.history("grades", ["v2"], since=clock.now - 11, step=2)["v2"]
    assert len(series) == 5
    assert [p["requests"] for p in series] == [10, 10, 10, 10, 10]


def test_prometheus_text_has_cumulative_buckets_sum_and_count() -> None:
    rec = Recorder(Clock(1000.5))
    rec.observe("courses", "v2", 500, 0.02)
    rec.observe("courses", "v2", 500, 2.5)
    text = rec.prometheus([("w", "weights", {"service": "courses", "version": "v2"}, 10)])
    labels = 'service="courses",version="v2",code="500"'
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert f'http_request_duration_seconds_bucket{{{labels},le="0.02"}} 1' in text
    assert f'http_request_duration_seconds_bucket{{{labels},le="3.0"}} 2' in text
    assert f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} 2' in text
    assert f"http_request_duration_seconds_count{{{labels}}} 2" in text
    assert f"http_request_duration_seconds_sum{{{labels}}} 2.520000" in text
    assert 'w{service="courses",version="v2"} 10' in text


# ------------------------------------------------------------------ fault specs


def test_fault_specs_for_all_services_or_one() -> None:
    f = parse_fault("v2:errors=0.3,latency=300ms")
    assert (f.service, f.version, f.errors, f.latency) == (None, "v2", 0.3, 0.3)
    g = parse_fault("courses/v2:errors=5%,latency=1.5s,slow-start=4s,crash=true")
    assert (g.service, g.errors, g.latency, g.slow_start, g.crash) == (
        "courses",
        0.05,
        1.5,
        4.0,
        True,
    )
    assert parse_fault("v2:latency=250").latency == 0.25  # a bare number is milliseconds


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("v2", "expected VERSION:"),
        ("v2:errors=1.5", "between 0 and 1"),
        ("v2:errors=lots", "ratio"),
        ("v2:latency=fast", "300ms"),
        ("v2:boom=1", "unknown field 'boom'"),
        ("V2!:errors=0.1", "not VERSION or SERVICE/VERSION"),
        ("v2:errors", "not key=value"),
    ],
)
def test_bad_fault_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        parse_fault(spec)


# ------------------------------------------------------------------ HTTP parsing


def _reader(data: bytes) -> asyncio.StreamReader:
    r = asyncio.StreamReader()
    r.feed_data(data)
    r.feed_eof()
    return r


def _framer(data: bytes) -> RequestFramer:
    framer = RequestFramer()
    framer.feed(data)
    return framer


def test_requests_parse_with_keep_alive_and_body() -> None:
    raw = (
        b"POST /grades?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/1.0\r\n\r\n"
    )
    framer = _framer(raw)
    first = framer.pop()
    assert first is not None
    assert (first.method, first.path, first.query, first.body, first.keep_alive) == (
        "POST",
        "/grades",
        "x=1",
        b"{}",
        True,
    )
    second = framer.pop()
    assert second is not None and second.keep_alive is False
    assert framer.pop() is None
    framer.at_eof()  # nothing left half-sent


def test_a_request_arriving_byte_by_byte_is_one_request() -> None:
    raw = b"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
    framer = RequestFramer()
    got = []
    for i in range(len(raw)):
        framer.feed(raw[i : i + 1])
        req = framer.pop()
        if req is not None:
            got.append((i, req.body))
    assert got == [(len(raw) - 1, b"abc")]


def test_identical_repeated_content_lengths_are_one_length() -> None:
    # RFC 9110 8.6 lets a recipient take identical values as one.
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\ncontent-length: 02\r\n\r\n{}"
    req = _framer(raw).pop()
    assert req is not None and req.body == b"{}"


@pytest.mark.parametrize(
    "host", [b"", b"lms", b"lms.example.org:8080", b"127.0.0.1:80", b"[::1]:8080", b"xn--m-1a.de"]
)
def test_a_host_of_any_valid_form_is_accepted(host: bytes) -> None:
    req = _framer(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n").pop()
    assert req is not None and req.header(b"host") == host


def test_http_1_0_needs_no_host() -> None:
    req = _framer(b"GET /health HTTP/1.0\r\n\r\n").pop()  # HAProxy's plain httpchk
    assert req is not None and req.path == "/health"


def test_requests_before_a_malformed_one_are_served_first() -> None:
    framer = _framer(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\nHost: a\n\n")
    first = framer.pop()
    assert first is not None and first.path == "/a"
    with pytest.raises(HttpError):
        framer.pop()


def test_a_head_growing_over_reads_is_refused_at_the_limit() -> None:
    framer = _framer(b"GET / HTTP/1.1\r\nX-Big: ")
    refused = None
    for i in range(2 * MAX_HEAD // 1024 + 2):
        framer.feed(b"a" * 1024)
        try:
            framer.pop()
        except HttpError as exc:
            refused = (i, exc.status)
            break
    assert refused is not None and refused[1] == 431 and refused[0] <= MAX_HEAD // 1024


# Hostile and malformed requests (RFC 9112): each is refused with its status, never framed.
MALFORMED = [
    (b"NONSENSE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nbad header\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400),
    # Two different lengths: a proxy and its upstream could frame it differently (6.3).
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 40\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -4\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4_0\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x4\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 413),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", 413),
    # Transfer-Encoding with Content-Length, without chunked last, or in HTTP/1.0 (6.1, 6.3).
    (
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    # Obsolete line folding, whitespace before the colon or before the first header (5.1, 5.2).
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\t2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n: a\r\n\r\n", 400),
    # Line endings and control characters (2.2, 5.5).
    (b"GET / HTTP/1.1\nHost: a\n\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
    (b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\rX-B: 1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n", 400),
    # Host (RFC 9112 3.2): exactly one in HTTP/1.1, and host[:port].
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
    # Request line.
    (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    # An overlong header section, whether or not it has ended yet.
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * MAX_HEAD + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * MAX_HEAD, 431),
]


@pytest.mark.parametrize(("raw", "status"), MALFORMED)
def test_malformed_requests_raise_a_4xx(raw: bytes, status: int) -> None:
    with pytest.raises(HttpError) as info:
        _framer(raw).pop()
    assert info.value.status == status


def test_a_request_cut_short_by_the_peer_is_a_400() -> None:
    framer = _framer(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
    assert framer.pop() is None  # waits for the rest of the body
    with pytest.raises(HttpError) as info:
        framer.at_eof()
    assert info.value.status == 400


def test_bare_lf_is_refused_before_the_head_could_end() -> None:
    # Such a head never ends with CRLF CRLF: waiting for it would leave the client unanswered.
    framer = _framer(b"GET / HTTP/1.1\nHost: a\n")
    with pytest.raises(HttpError, match="bare LF"):
        framer.pop()


def test_upstream_responses_with_conflicting_lengths_are_a_502() -> None:
    from backends.local.upstream import _parse_head

    ok = _parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 4", "GET")
    assert ok[0] == 200 and ok[3] == 4
    for head in (
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 40",
        b"HTTP/1.1 200 OK\r\nContent-Length: 4_0",
        b"HTTP/1.1 200 OK\nContent-Length: 4",
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n folded",
    ):
        with pytest.raises(HttpError) as info:
            _parse_head(head, "GET")
        assert info.value.status == 502, head


async def test_chunked_responses_are_decoded() -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    resp = await read_response(_reader(raw))
    assert resp is not None and resp.status == 200 and resp.body == b"abcde"


async def test_an_upstream_that_never_answers_times_out() -> None:
    from backends.local.upstream import open_upstream, sweep_timeouts

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)  # take the request, never answer
        await asyncio.sleep(5)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    sweeper = asyncio.get_running_loop().create_task(sweep_timeouts(0.05))
    try:
        conn = await open_upstream(server.sockets[0].getsockname()[1])
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(conn.request(b"GET / HTTP/1.1\r\n\r\n", "GET", 0.2), 5)
        assert conn.closed
    finally:
        sweeper.cancel()
        server.close()


def test_short_windows_hold_about_their_length_and_tile_time() -> None:
    """1 s windows taken 0.05 s into a second hold about a second of traffic each (not the
    first 0.05 s of that second), and consecutive ones share out the second they meet in."""
    clock = Clock(1000.0)
    rec = Recorder(clock)
    counts = []
    for tick in range(400):  # 40 requests a second for 20 s, a sample every second
        for _ in range(2):
            rec.observe("courses", "v2", 200, 0.01)
        clock.now = 1000.0 + (tick + 1) * 0.05
        if tick % 20 == 0 and tick:  # at 1001.05, 1002.05, ...
            counts.append(rec.sample("courses", ["v2"], 1.0)["v2"]["requests"])
    assert all(36 <= n <= 44 for n in counts), counts
    assert sum(counts) == pytest.approx(40 * 19, abs=8)


def test_the_host_rules_are_for_requests_only() -> None:
    # A response has no Host to check: one with two (odd, but not a framing problem) parses.
    from backends.local.http11 import parse_response_head

    head = b"HTTP/1.1 200 OK\r\nHost: a\r\nHost: b c\r\nContent-Length: 0"
    status, headers, keep_alive, length, _ = parse_response_head(head)
    assert (status, keep_alive, length) == (200, True, 0)
    assert [v for k, v in headers if k == b"host"] == [b"a", b"b c"]
