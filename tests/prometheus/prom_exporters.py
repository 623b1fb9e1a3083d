"""Tiny Prometheus exporters on loopback for the provider tests.

Each exporter serves fixed series whose counters grow linearly with time at a known rate, so
``rate()`` over any window returns that rate, and histograms whose buckets hold known
fractions of the requests, so ``histogram_quantile`` returns a value we can compute here.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

T = TypeVar("T")

# Cumulative fraction of requests at or below each bound (in the exporter's unit); +Inf is 1.
DEFAULT_BUCKETS: tuple[tuple[float, float], ...] = (
    (0.05, 0.5),
    (0.1, 0.9),
    (0.25, 0.99),
    (0.5, 1.0),
)


@dataclass(frozen=True)
class Traffic:
    """One group of requests: ``rate`` per second with ``labels``; ``error_rate`` of them are
    errors carrying ``error_labels`` instead of ``ok_labels``."""

    labels: Mapping[str, str]
    rate: float
    error_fraction: float = 0.0
    ok_labels: Mapping[str, str] = field(default_factory=dict)
    error_labels: Mapping[str, str] = field(default_factory=dict)
    buckets: tuple[tuple[float, float], ...] = DEFAULT_BUCKETS
    emit_error_series: bool = True  # False: no 5xx series at all (not even at 0)


def _labels(d: Mapping[str, str]) -> str:
    body = ",".join(f'{k}="{v}"' for k, v in sorted(d.items()))
    return "{" + body + "}"


def render(
    counter: str,
    histogram: str | None,
    traffic: Sequence[Traffic],
    elapsed: float,
    *,
    counter_on_histogram: bool = False,
) -> str:
    """Exposition text after ``elapsed`` seconds. ``histogram`` is the series prefix
    (``foo`` -> ``foo_bucket``); with ``counter_on_histogram`` the counter is ``foo_count``."""
    lines: list[str] = []
    for t in traffic:
        total = t.rate * elapsed
        parts = [(t.ok_labels, total * (1 - t.error_fraction))]
        if t.emit_error_series:
            parts.append((t.error_labels, total * t.error_fraction))
        for extra, n in parts:
            labels = {**t.labels, **extra}
            if not counter_on_histogram:
                lines.append(f"{counter}{_labels(labels)} {n:.6f}")
            if histogram is None:
                continue
            for le, frac in t.buckets:
                lines.append(
                    f"{histogram}_bucket{_labels({**labels, 'le': f'{le:g}'})} {n * frac:.6f}"
                )
            lines.append(f"{histogram}_bucket{_labels({**labels, 'le': '+Inf'})} {n:.6f}")
            lines.append(f"{histogram}_count{_labels(labels)} {n:.6f}")
            lines.append(f"{histogram}_sum{_labels(labels)} {n * 0.05:.6f}")
    return "\n".join(lines) + "\n"


def expected_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """What Prometheus' histogram_quantile returns for these cumulative fractions (linear
    interpolation inside the bucket, lower bound 0 for the first bucket)."""
    prev_le, prev_frac = 0.0, 0.0
    for le, frac in buckets:
        if frac >= q:
            return prev_le + (le - prev_le) * (q - prev_frac) / (frac - prev_frac)
        prev_le, prev_frac = le, frac
    return buckets[-1][0]


class Exporter:
    """An HTTP server on 127.0.0.1 serving ``text(elapsed)`` on /metrics."""

    def __init__(self, text: Callable[[float], str]) -> None:
        self.text = text
        self.started = time.time()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.text(time.time() - exporter.started).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def instant(url: str, query: str) -> list[dict]:
    """A raw instant query, independent of the code under test."""
    q = urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=5) as r:
        return json.load(r)["data"]["result"]


def settled(read: Callable[[], T], exact: Callable[[T], bool], attempts: int = 10) -> T:
    """``read()`` until ``exact(result)`` holds (at most ``attempts`` reads, 0.3 s apart);
    the last result either way, for the caller's asserts to report.

    Why: ``rate()`` extrapolates to the window's end only if the newest sample is at most
    1.1 scrape intervals old. While a scrape is in flight (slow on a loaded machine) the
    newest committed one can be older, and a query at that instant reads a few % low. The
    next scrape puts it right; a wrong query (labels, metric) never reads the exact rate.
    """
    result = read()
    for _ in range(attempts - 1):
        if exact(result):
            break
        time.sleep(0.3)
        result = read()
    return result


def wait_for_scrapes(url: str, targets: int, scrapes: int, timeout: float = 40.0) -> None:
    """Wait until every one of ``targets`` jobs has been scraped successfully ``scrapes``
    times (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    last: list[dict] = []
    while time.monotonic() < deadline:
        last = instant(url, "sum_over_time(up[60s])")
        counts = [float(s["value"][1]) for s in last]
        if len(counts) >= targets and min(counts) >= scrapes:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus did not scrape {targets} targets {scrapes}x: {last}")


class BearerProxy:
    """A loopback reverse proxy that lets a request through to ``upstream`` only with
    ``Authorization: Bearer <token>`` (Prometheus itself has no bearer-token check)."""

    def __init__(self, upstream: str, token: str) -> None:
        self.token = token
        self.seen_auth: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization", "")
                proxy.seen_auth.append(auth)
                if auth != f"Bearer {proxy.token}":
                    self._reply(401, b'{"status":"error","error":"unauthorized"}')
                    return
                try:
                    with urllib.request.urlopen(upstream + self.path, timeout=5) as r:
                        self._reply(r.status, r.read())
                except urllib.error.HTTPError as exc:
                    self._reply(exc.code, exc.read())

            def _reply(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
