"""In-memory traffic and metrics backends for driver unit tests (the store is the real one).

The end-to-end tests use the real demo environment; these only make single driver ticks
deterministic (fake clock, exact error ratios).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from backends.base import (
    BackendUnavailable,
    MatchRule,
    MetricSample,
    TrafficSplit,
    Unsupported,
    VersionHealth,
)


class FakeTraffic:
    name = "fake"

    def __init__(self, service: str = "courses", versions: Sequence[str] = ("v1", "v2")) -> None:
        self.service = service
        self.vers = list(versions)
        self.weights: dict[str, int] = {v: 0 for v in versions}
        self.weights[versions[0]] = 100
        self.match_version: str | None = None
        self.mirror: tuple[str | None, int] = (None, 0)
        self.calls: list[tuple[str, object]] = []
        self.fail_set_split = 0  # fail the next N set_split calls
        self.down = False  # every call raises BackendUnavailable

    def _check(self) -> None:
        if self.down:
            raise BackendUnavailable("fake traffic backend is down")

    def services(self) -> list[str]:
        self._check()
        return [self.service]

    def versions(self, service: str) -> list[str]:
        return list(self.vers)

    def get_split(self, service: str) -> TrafficSplit:
        self._check()
        return TrafficSplit(
            weights=dict(self.weights),
            match_version=self.match_version,
            mirror_version=self.mirror[0],
            mirror_percent=self.mirror[1],
        )

    def set_split(self, service: str, weights: Mapping[str, int]) -> None:
        self._check()
        if self.fail_set_split > 0:
            self.fail_set_split -= 1
            raise BackendUnavailable("set_split refused (injected)")
        assert sum(weights.values()) == 100
        self.calls.append(("set_split", dict(weights)))
        self.weights = {v: int(weights.get(v, 0)) for v in self.vers}

    def set_match(self, service: str, rules: Sequence[MatchRule], version: str | None) -> None:
        self._check()
        self.calls.append(("set_match", version))
        self.match_version = version

    def set_mirror(self, service: str, version: str | None, percent: int) -> None:
        self._check()
        self.calls.append(("set_mirror", (version, percent)))
        self.mirror = (version, percent)

    def health(self, service: str) -> dict[str, VersionHealth]:
        self._check()
        return {v: VersionHealth(v, ready=3, total=3) for v in self.vers}

    def deploy(self, service: str, version: str, instances: int) -> None:
        self.calls.append(("deploy", (version, instances)))

    def scale(self, service: str, version: str, instances: int) -> None:
        self.calls.append(("scale", (version, instances)))

    def retire(self, service: str, version: str) -> None:
        self.calls.append(("retire", version))


class FakeMetrics:
    """Every version answers 50 req/s; ``errors[version]`` sets its error ratio."""

    def __init__(self, clock: object) -> None:
        self.clock = clock
        self.errors: dict[str, float] = {}
        self.down = False

    def sample(
        self, service: str, versions: Sequence[str], window: float
    ) -> dict[str, MetricSample]:
        if self.down:
            raise BackendUnavailable("fake metrics are down")
        now = self.clock()  # type: ignore[operator]
        return {
            v: MetricSample(
                version=v,
                at=now,
                window=window,
                requests=50.0 * window,
                request_rate=50.0,
                error_ratio=self.errors.get(v, 0.0),
                p50=0.01,
                p95=0.02,
                p99=0.03,
            )
            for v in versions
        }

    def history(self, service: str, versions: Sequence[str], since: float, step: float) -> dict:
        return {}

    def query(
        self, service: str, versions: Sequence[str], template: str, window: float
    ) -> dict[str, float | None]:
        raise Unsupported("the fake metrics have no query language")


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Receiver:
    """A webhook receiver on 127.0.0.1: records bodies; behaviour set per test."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.attempts = 0
        self.status = 200
        self.release = threading.Event()  # set: a hanging receiver lets requests go
        self.hang = False
        self.entered = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length))
                outer.attempts += 1
                outer.entered.set()
                if outer.hang:
                    outer.release.wait(10)
                outer.bodies.append(body)
                self.send_response(outer.status)
                self.send_header("content-length", "2")
                self.end_headers()
                try:
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the client gave up on a hanging request

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/SECRET"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def kinds(self) -> list[str]:
        return [b["attachments"][0]["fields"][1]["value"] for b in self.bodies]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
