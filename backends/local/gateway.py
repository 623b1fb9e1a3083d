"""The demo gateway: one asyncio reverse proxy on 127.0.0.1 in front of every service.

``/<service>/...`` is forwarded unchanged to a ready instance of the version that
``routing.Route`` picks; ``/metrics`` serves Prometheus text and ``/healthz`` the gateway's
own readiness. Instances are checked on ``/healthz`` every half second and only ready ones
take traffic. Connections to instances are pooled (keep-alive). A connection that fails
before a response byte arrives is retried on another instance (any method if nothing was
sent, idempotent methods otherwise), which is what makes instance replacement lossless.
Changing a route swaps one object, so requests in flight are never touched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from backends.local.flag_metrics import FlagRecorder, header_of
from backends.local.http11 import (
    HOP_BY_HOP,
    HttpError,
    Request,
    error_response,
    json_response,
    read_response,
    request_bytes,
    response_bytes,
)
from backends.local.metrics import Recorder
from backends.local.routing import Route, parse_cookies
from backends.local.server import HttpServerProtocol, start_http_server
from backends.local.upstream import UpstreamConn, open_upstream, sweep_timeouts

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
UPSTREAM_TIMEOUT = 30.0
HEALTH_INTERVAL = 0.5
HEALTH_TIMEOUT = 1.0
# Probes that time out in a row before a ready instance counts as unready: one slow answer
# on a loaded machine is not a sick instance (a refusal or a non-200 counts at once).
TIMEOUTS_TO_UNREADY = 2
POOL_IDLE_MAX = 20.0  # seconds; instances keep connections longer, so we close first
MAX_ATTEMPTS = 3
MAX_MIRRORS_IN_FLIGHT = 200

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]  # health-check connections


class Upstream:
    """One instance slot of a version (like a pod): its process may restart, its name stays."""

    def __init__(self, service: str, version: str, name: str) -> None:
        self.service = service
        self.version = version
        self.name = name
        self.port: int | None = None
        self.pid: int | None = None
        # starting | ready | unready | draining | crashed | stopped
        self.state = "starting"
        self.reason = ""
        self.restarts = 0
        self.inflight = 0
        self.served = 0
        self.idle: list[tuple[UpstreamConn, float]] = []
        self.stopping = False
        self.overrides: dict[str, object] = {}

    @property
    def routable(self) -> bool:
        return self.state == "ready" and self.port is not None

    async def acquire(self) -> tuple[UpstreamConn, bool]:
        """A pooled connection (reused=True) or a new one; raises OSError on connect failure."""
        now = time.monotonic()
        while self.idle:
            conn, since = self.idle.pop()
            if now - since < POOL_IDLE_MAX and not conn.closed:
                return conn, True
            conn.close()
        if self.port is None:
            raise ConnectionRefusedError(f"{self.name} has no port")
        return await open_upstream(self.port), False

    def release(self, conn: UpstreamConn, reusable: bool) -> None:
        if reusable and not conn.closed and self.state not in ("draining", "stopped", "crashed"):
            self.idle.append((conn, time.monotonic()))
        else:
            conn.close()

    def close_idle(self) -> None:
        for conn, _ in self.idle:
            conn.close()
        self.idle.clear()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "state": self.state,
            "port": self.port,
            "pid": self.pid,
            "restarts": self.restarts,
            "reason": self.reason,
            "inflight": self.inflight,
            "served": self.served,
        }


class GatewayService:
    """A service's route and its instances per version."""

    def __init__(self, name: str, versions: Iterable[str]) -> None:
        self.name = name
        self.versions: dict[str, list[Upstream]] = {v: [] for v in versions}
        first = next(iter(self.versions))
        # The first version takes everything; the others are listed with 0 (deployed, idle).
        self.route = Route({v: 100 if v == first else 0 for v in self.versions})
        self._rr: dict[str, int] = {}

    def ready_versions(self) -> set[str]:
        return {v for v, ups in self.versions.items() if any(u.routable for u in ups)}

    def pick(self, version: str, exclude: set[Upstream]) -> Upstream | None:
        """Round robin over the version's ready instances, skipping ``exclude``."""
        ups = [u for u in self.versions.get(version, ()) if u.routable and u not in exclude]
        if not ups:
            return None
        i = self._rr.get(version, 0)
        self._rr[version] = i + 1
        return ups[i % len(ups)]


class Gateway:
    """The proxy, its health checker and its metrics."""

    def __init__(self, services: dict[str, GatewayService], recorder: Recorder) -> None:
        self.services = services
        self.recorder = recorder
        self.flag_recorder = FlagRecorder(recorder.clock)
        self.server: asyncio.Server | None = None
        self.port = 0
        self._clients: set[HttpServerProtocol] = set()
        self._tasks: set[asyncio.Task] = set()
        self._mirrors = 0
        self.mirrored = 0
        self.mirror_skipped = 0

    async def start(self, port: int = 0) -> int:
        self.server, self._clients = await start_http_server(self.handle, port)
        self.port = self.server.sockets[0].getsockname()[1]
        self._spawn(self._health_loop())
        self._spawn(sweep_timeouts())
        return self.port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for conn in list(self._clients):
            conn.close()
        for t in list(self._tasks):
            t.cancel()
        for svc in self.services.values():
            for ups in svc.versions.values():
                for u in ups:
                    u.close_idle()

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ requests

    async def handle(self, req: Request) -> bytes:
        t0 = time.perf_counter()
        path = req.path
        end = path.find("/", 1)
        first = path[1:] if end < 0 else path[1:end]
        svc = self.services.get(first)
        if svc is None:
            return self._own(req, first)
        route = svc.route  # one read: a concurrent weight change cannot affect this request
        hdrs: dict[str, str] = {}
        cookies: dict[str, str] = {}
        if route.match:
            hdrs = {k.decode("latin-1"): v.decode("latin-1") for k, v in req.headers}
            cookies = parse_cookies(hdrs.get("cookie", ""))
        ready = svc.ready_versions()
        version = route.choose(hdrs, cookies, ready)
        if version is None:
            if not route.weights:
                return error_response(503, f"{svc.name} has no version taking traffic")
            version = max(route.weights, key=lambda v: route.weights[v])
            self.recorder.observe(svc.name, version, 503, time.perf_counter() - t0)
            return error_response(503, f"no ready instance of {svc.name} to serve this request")
        data = self._upstream_request(req)
        status, out = await self.forward(svc, version, req.method, data)
        took = time.perf_counter() - t0
        self.recorder.observe(svc.name, version, status, took)
        flags = header_of(out)  # the flag variants the answer used, for per-variant metrics
        if flags:
            self.flag_recorder.observe(svc.name, flags, status, took)
        mirror = route.mirror_to(version)
        if mirror is not None and mirror in ready:
            if self._mirrors < MAX_MIRRORS_IN_FLIGHT:
                self._mirrors += 1
                self._spawn(self._mirror(svc, mirror, req.method, data))
            else:
                self.mirror_skipped += 1
        return out

    def _upstream_request(self, req: Request) -> bytes:
        headers = [(k, v) for k, v in req.headers if k not in HOP_BY_HOP and k != b"host"]
        headers.append((b"x-forwarded-for", b"127.0.0.1"))
        return request_bytes(req.method, req.target, headers, req.body)

    async def _mirror(self, svc: GatewayService, version: str, method: str, data: bytes) -> None:
        # The copy's answer is dropped; the client already has (or will get) its own.
        t0 = time.perf_counter()
        try:
            status, _ = await self.forward(svc, version, method, data)
            self.mirrored += 1
            self.recorder.observe(svc.name, version, status, time.perf_counter() - t0)
        finally:
            self._mirrors -= 1

    async def forward(
        self, svc: GatewayService, version: str, method: str, data: bytes
    ) -> tuple[int, bytes]:
        """Send ``data`` to a ready instance of ``version``; the status and the client bytes."""
        tried: set[Upstream] = set()
        last = "no ready instance"
        for _ in range(MAX_ATTEMPTS):
            up = svc.pick(version, tried)
            if up is None:
                break
            tried.add(up)
            up.inflight += 1
            sent = False
            try:
                conn, _reused = await up.acquire()
                sent = True
                try:
                    resp = await conn.request(data, method, UPSTREAM_TIMEOUT)
                except BaseException:
                    conn.close()
                    raise
                if resp is None:
                    # Closed before answering: a stale pooled connection or a dying instance.
                    conn.close()
                    last = f"{up.name} closed the connection"
                    if method in IDEMPOTENT:
                        continue
                    return 502, error_response(502, f"{up.name} closed the connection")
                up.release(conn, resp.keep_alive)
                up.served += 1
                headers = [(k, v) for k, v in resp.headers if k not in HOP_BY_HOP]
                return resp.status, response_bytes(
                    resp.status, resp.body, headers, content_type=None
                )
            except TimeoutError:
                return 504, error_response(
                    504, f"{up.name} did not answer in {UPSTREAM_TIMEOUT:g}s"
                )
            except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
                last = f"{up.name}: {exc or type(exc).__name__}"
                if not sent and up.state == "ready":
                    # Passive check: stop routing here until the health check says otherwise.
                    up.state, up.reason = "unready", f"connection failed: {exc}"
                if not sent or method in IDEMPOTENT:
                    continue
                return 502, error_response(502, f"upstream failed: {last}")
            finally:
                up.inflight -= 1
        return 503, error_response(503, f"no instance of {svc.name}/{version} answered ({last})")

    def _own(self, req: Request, first: str) -> bytes:
        if req.path == "/metrics":
            text = self.recorder.prometheus(self.gauges()) + self.flag_recorder.prometheus()
            body = text.encode()
            return response_bytes(200, body, content_type=b"text/plain; version=0.0.4")
        if req.path == "/healthz":
            return json_response(200, {"ready": True})
        if req.path == "/":
            return json_response(200, {"services": sorted(self.services)})
        known = ", ".join(sorted(self.services))
        return error_response(404, f"unknown service '{first}'; known: {known}")

    def gauges(self) -> list[tuple[str, str, dict[str, str], float]]:
        out: list[tuple[str, str, dict[str, str], float]] = []
        for s in sorted(self.services):
            svc = self.services[s]
            for v in sorted(svc.versions):
                w = svc.route.weights.get(v, 0)
                out.append(
                    (
                        "rollout_demo_split_weight",
                        "Traffic weight in percent.",
                        {"service": s, "version": v},
                        w,
                    )
                )
        for s in sorted(self.services):
            svc = self.services[s]
            for v in sorted(svc.versions):
                n = sum(1 for u in svc.versions[v] if u.routable)
                out.append(
                    (
                        "rollout_demo_ready_instances",
                        "Instances passing readiness.",
                        {"service": s, "version": v},
                        n,
                    )
                )
        return out

    # ------------------------------------------------------------------ health checks

    async def _health_loop(self) -> None:
        checkers: dict[Upstream, asyncio.Task] = {}
        while True:
            current = {
                u for svc in self.services.values() for ups in svc.versions.values() for u in ups
            }
            for u in current - checkers.keys():
                checkers[u] = self._spawn(self._check_instance(u))
            for u in list(checkers.keys() - current):
                checkers.pop(u).cancel()
            await asyncio.sleep(HEALTH_INTERVAL / 2)

    async def _check_instance(self, up: Upstream) -> None:
        conn: Conn | None = None
        port = None
        probe = request_bytes("GET", "/healthz")
        timeouts = 0
        while True:
            if up.port != port and conn is not None:
                conn[1].close()
                conn = None
            port = up.port
            if port is not None and up.state in ("starting", "ready", "unready"):
                ok, why, slow = False, "", False
                try:
                    if conn is None or conn[1].is_closing():
                        conn = await asyncio.wait_for(
                            asyncio.open_connection("127.0.0.1", port), HEALTH_TIMEOUT
                        )
                    conn[1].write(probe)
                    resp = await asyncio.wait_for(read_response(conn[0]), HEALTH_TIMEOUT)
                    if resp is None:
                        raise ConnectionResetError("closed")
                    ok = resp.status == 200
                    why = "" if ok else f"readiness probe failed: HTTP {resp.status}"
                    if not resp.keep_alive:
                        conn[1].close()
                        conn = None
                except (OSError, TimeoutError, asyncio.IncompleteReadError, HttpError) as exc:
                    why = f"readiness probe failed: {type(exc).__name__} {exc}".strip()
                    slow = isinstance(exc, TimeoutError)
                    if conn is not None:
                        conn[1].close()
                        conn = None
                timeouts = timeouts + 1 if slow else 0
                if slow and up.state == "ready" and timeouts < TIMEOUTS_TO_UNREADY:
                    ok = True  # give a slow probe one more chance before taking it out
                # The supervisor may have started draining meanwhile; never undo that.
                if up.state in ("starting", "ready", "unready") and up.port == port:
                    up.state = (
                        "ready" if ok else ("unready" if up.state != "starting" else "starting")
                    )
                    up.reason = why if not ok else ""
            await asyncio.sleep(HEALTH_INTERVAL)


async def drain(up: Upstream, timeout: float = 10.0) -> None:
    """Take an instance out of routing and wait for its in-flight requests to finish."""
    up.state = "draining"
    deadline = time.monotonic() + timeout
    while up.inflight and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    up.close_idle()
