"""The demo's control API: JSON over HTTP on 127.0.0.1, every call needs the bearer token.

Routes (all answers are JSON; errors are ``{"error": "..."}`` with a 4xx status):

    GET    /v1/ping
    GET    /v1/status                                    ports, pids, every instance
    GET    /v1/services                                  {service: [versions]}
    GET    /v1/services/{s}/split                        TrafficSplit
    PUT    /v1/services/{s}/split      {weights}
    PUT    /v1/services/{s}/match      {rules, version}
    PUT    /v1/services/{s}/mirror     {version, percent}
    GET    /v1/services/{s}/health                       {version: VersionHealth}
    POST   /v1/services/{s}/versions/{v}/deploy  {instances}
    POST   /v1/services/{s}/versions/{v}/scale   {instances}
    POST   /v1/services/{s}/versions/{v}/retire
    POST   /v1/services/{s}/versions/{v}/restart {surge}  rolling replace of every instance
    PUT    /v1/services/{s}/versions/{v}/fault   {errors, latency, ..., instance}
    DELETE /v1/services/{s}/versions/{v}/fault
    GET    /v1/services/{s}/metrics?versions=v1,v2&window=30
    GET    /v1/services/{s}/history?versions=v1,v2&since=T&step=S
    GET    /v1/load                    PUT /v1/load {rps}
    PUT    /v1/metrics                 {available}  false: metrics and history answer 503
                                       (a drill's "metrics source gone"; the gateway keeps counting)
    GET    /v1/flags/{f}/metrics?variants=on,off&window=30   per flag variant (all services)
    GET    /v1/flags/{f}/users?variants=on,off&window=30     distinct users per variant
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from backends.base import MatchRule
from backends.local.gateway import Gateway, GatewayService
from backends.local.http11 import (
    HttpError,
    Request,
    error_response,
    json_response,
    serve_connection,
)
from backends.local.loadgen import LoadProcess
from backends.local.routing import RouteError, validate_weights
from backends.local.service import validate_behaviour
from backends.local.supervisor import Supervisor

VERSION_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,30}$")
MAX_INSTANCES = 10
FAULT_FIELDS = {
    # API name -> instance behaviour field
    "errors": "errors",
    "latency": "extra_latency",
    "base_latency": "latency",
    "jitter": "jitter",
    "slow_start": "slow_start",
    "crash": "crash",
    "unready": "unready",
    "gradebook_bug": "gradebook_bug",  # share of new-gradebook answers that fail
}
CLEAR_FAULT = {
    "errors": 0.0,
    "extra_latency": 0.0,
    "crash": False,
    "unready": False,
    "gradebook_bug": 0.0,
}

Handler = Callable[..., Awaitable[tuple[int, Any]]]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ControlAPI:
    """Routes control requests to the gateway, the supervisor and the load generator."""

    def __init__(
        self,
        token: str,
        gateway: Gateway,
        supervisor: Supervisor,
        load: LoadProcess,
        info: dict[str, Any],
    ) -> None:
        self.token = token
        self.gateway = gateway
        self.supervisor = supervisor
        self.load = load
        self.info = info
        self.server: asyncio.Server | None = None
        self.port = 0
        self._idle: set[asyncio.StreamWriter] = set()
        self._lock = asyncio.Lock()  # one scaling operation at a time per demo
        # Drills switch the metrics source off and on (``PUT /v1/metrics``).
        self.metrics_available = True
        s = r"/v1/services/(?P<service>[^/]+)"
        v = s + r"/versions/(?P<version>[^/]+)"
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"/v1/ping"), self.ping),
            ("GET", re.compile(r"/v1/status"), self.status),
            ("GET", re.compile(r"/v1/services"), self.list_services),
            ("GET", re.compile(s + "/split"), self.get_split),
            ("PUT", re.compile(s + "/split"), self.set_split),
            ("PUT", re.compile(s + "/match"), self.set_match),
            ("PUT", re.compile(s + "/mirror"), self.set_mirror),
            ("GET", re.compile(s + "/health"), self.health),
            ("POST", re.compile(v + "/deploy"), self.deploy),
            ("POST", re.compile(v + "/scale"), self.scale),
            ("POST", re.compile(v + "/retire"), self.retire),
            ("POST", re.compile(v + "/restart"), self.restart),
            ("PUT", re.compile(v + "/fault"), self.set_fault),
            ("DELETE", re.compile(v + "/fault"), self.clear_fault),
            ("GET", re.compile(s + "/metrics"), self.metrics),
            ("GET", re.compile(s + "/history"), self.history),
            ("GET", re.compile(r"/v1/load"), self.get_load),
            ("PUT", re.compile(r"/v1/load"), self.set_load),
            ("PUT", re.compile(r"/v1/metrics"), self.set_metrics),
            ("GET", re.compile(r"/v1/flags/(?P<flag>[^/]+)/metrics"), self.flag_metrics),
            ("GET", re.compile(r"/v1/flags/(?P<flag>[^/]+)/users"), self.flag_users),
            ("PUT", re.compile(s + "/user-routing"), self.set_user_routing),
        ]

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._on_conn, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for w in list(self._idle):
            w.close()

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(reader, writer, self.handle, self._idle)

    async def handle(self, req: Request) -> bytes:
        auth = req.header(b"authorization") or b""
        expected = b"Bearer " + self.token.encode()
        if not hmac.compare_digest(auth, expected):
            return error_response(401, "missing or wrong bearer token (see endpoint.json)")
        allowed = []
        for method, pattern, handler in self.routes:
            m = pattern.fullmatch(req.path)
            if m is None:
                continue
            if method != req.method:
                allowed.append(method)
                continue
            try:
                status, body = await handler(req, **m.groupdict())
            except ApiError as exc:
                return error_response(exc.status, exc.message)
            except HttpError as exc:
                return error_response(exc.status, exc.message)
            return json_response(status, body)
        if allowed:
            return error_response(
                405, f"{req.method} not allowed on {req.path}; use {', '.join(allowed)}"
            )
        return error_response(404, f"no such endpoint: {req.method} {req.path}")

    # ------------------------------------------------------------------ helpers

    def _service(self, name: str) -> GatewayService:
        svc = self.gateway.services.get(name)
        if svc is None:
            known = ", ".join(sorted(self.gateway.services))
            raise ApiError(404, f"unknown service '{name}'; known: {known}")
        return svc

    def _version(self, svc: GatewayService, version: str) -> str:
        if version not in svc.versions:
            known = ", ".join(sorted(svc.versions))
            raise ApiError(404, f"unknown version '{version}' of {svc.name}; known: {known}")
        return version

    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body

    @staticmethod
    def _count(body: dict[str, Any], key: str = "instances") -> int:
        n = body.get(key)
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_INSTANCES:
            raise ApiError(400, f"'{key}' must be an integer 0..{MAX_INSTANCES}, got {n!r}")
        return n

    def _versions_param(self, svc: GatewayService, req: Request) -> list[str]:
        raw = req.params().get("versions", "")
        return [v for v in raw.split(",") if v] or sorted(svc.versions)

    @staticmethod
    def _float_param(req: Request, name: str, default: float) -> float:
        raw = req.params().get(name)
        if raw is None or raw == "":
            return default
        try:
            return float(raw)
        except ValueError:
            raise ApiError(400, f"'{name}' must be a number, got {raw!r}") from None

    # ------------------------------------------------------------------ endpoints

    async def ping(self, req: Request) -> tuple[int, Any]:
        return 200, {"ok": True, "pid": self.info.get("pid")}

    async def status(self, req: Request) -> tuple[int, Any]:
        instances = [
            u.to_dict()
            for svc in self.gateway.services.values()
            for ups in svc.versions.values()
            for u in ups
        ]
        return 200, {
            **self.info,
            "child_pids": self.supervisor.pids() + self.load.pids(),
            "instances": instances,
            "mirrored": self.gateway.mirrored,
        }

    async def list_services(self, req: Request) -> tuple[int, Any]:
        return 200, {n: sorted(s.versions) for n, s in sorted(self.gateway.services.items())}

    async def get_split(self, req: Request, service: str) -> tuple[int, Any]:
        return 200, self._service(service).route.to_dict()

    async def set_split(self, req: Request, service: str) -> tuple[int, Any]:
        svc = self._service(service)
        body = self._body(req)
        try:
            weights = validate_weights(body.get("weights"), svc.versions)  # type: ignore[arg-type]
        except RouteError as exc:
            raise ApiError(400, f"{service}: {exc}") from None
        svc.route = svc.route.with_weights(weights)
        return 200, svc.route.to_dict()

    async def set_user_routing(self, req: Request, service: str) -> tuple[int, Any]:
        """Split by user on or off (experiments between versions: sticky per user)."""
        svc = self._service(service)
        enabled = self._body(req).get("enabled")
        if not isinstance(enabled, bool):
            raise ApiError(400, f"'enabled' must be true or false, got {enabled!r}")
        svc.route = svc.route.with_user_routing(enabled)
        return 200, {"by_user": svc.route.by_user}

    async def set_match(self, req: Request, service: str) -> tuple[int, Any]:
        svc = self._service(service)
        body = self._body(req)
        version = body.get("version")
        raw_rules = body.get("rules", [])
        if version is not None:
            self._version(svc, str(version))
        if not isinstance(raw_rules, list):
            raise ApiError(400, "'rules' must be a list of {headers, cookies}")
        rules = []
        for i, r in enumerate(raw_rules):
            ok = isinstance(r, dict) and all(
                isinstance(r.get(k, {}), dict)
                and all(isinstance(x, str) for kv in r.get(k, {}).items() for x in kv)
                for k in ("headers", "cookies")
            )
            if not ok or not (r.get("headers") or r.get("cookies")):
                raise ApiError(
                    400, f"rules[{i}] must have non-empty 'headers' and/or 'cookies' of strings"
                )
            rules.append(MatchRule.from_dict(r))
        svc.route = svc.route.with_match(rules, version)
        return 200, svc.route.to_dict()

    async def set_mirror(self, req: Request, service: str) -> tuple[int, Any]:
        svc = self._service(service)
        body = self._body(req)
        version, percent = body.get("version"), body.get("percent", 0)
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise ApiError(400, f"'percent' must be an integer 0..100, got {percent!r}")
        if version is not None:
            self._version(svc, str(version))
        svc.route = svc.route.with_mirror(version, percent)
        return 200, svc.route.to_dict()

    async def health(self, req: Request, service: str) -> tuple[int, Any]:
        svc = self._service(service)
        out = {}
        for version, ups in sorted(svc.versions.items()):
            active = [u for u in ups if not u.stopping]
            reasons = [u.reason for u in active if u.state != "ready" and u.reason]
            out[version] = {
                "version": version,
                "ready": sum(1 for u in active if u.routable),
                "total": len(active),
                "restarts": sum(u.restarts for u in ups),
                "reasons": reasons,
                "desired": self.supervisor.desired.get((service, version), len(active)),
                "instances": [u.to_dict() for u in ups],
            }
        return 200, out

    async def deploy(self, req: Request, service: str, version: str) -> tuple[int, Any]:
        svc = self._service(service)
        if not VERSION_NAME.match(version):
            raise ApiError(
                400, f"bad version name '{version}' (lower-case letters, digits, . and -)"
            )
        n = self._count(self._body(req))
        async with self._lock:
            await self.supervisor.scale(svc.name, version, n)
        return 200, {"service": service, "version": version, "instances": n}

    async def scale(self, req: Request, service: str, version: str) -> tuple[int, Any]:
        svc = self._service(service)
        self._version(svc, version)
        n = self._count(self._body(req))
        async with self._lock:
            await self.supervisor.scale(service, version, n)
        return 200, {"service": service, "version": version, "instances": n}

    async def retire(self, req: Request, service: str, version: str) -> tuple[int, Any]:
        svc = self._service(service)
        self._version(svc, version)
        route = svc.route
        if route.weights.get(version, 0) > 0:
            raise ApiError(
                409,
                f"{service}/{version} still takes {route.weights[version]}% of traffic; move it away first",
            )
        async with self._lock:
            if route.match_version == version:
                svc.route = svc.route.with_match((), None)
            if route.mirror_version == version:
                svc.route = svc.route.with_mirror(None, 0)
            svc.route = svc.route.with_weights(
                {v: w for v, w in svc.route.weights.items() if v != version}
            )
            await self.supervisor.retire(service, version)
        return 200, {"service": service, "version": version, "retired": True}

    async def restart(self, req: Request, service: str, version: str) -> tuple[int, Any]:
        svc = self._service(service)
        self._version(svc, version)
        body = self._body(req) if req.body else {}
        surge = body.get("surge", 1)
        if isinstance(surge, bool) or not isinstance(surge, int) or not 1 <= surge <= MAX_INSTANCES:
            raise ApiError(400, f"'surge' must be an integer 1..{MAX_INSTANCES}")
        async with self._lock:
            try:
                await self.supervisor.replace_all(service, version, surge)
            except RuntimeError as exc:
                raise ApiError(409, str(exc)) from None
        return 200, {"service": service, "version": version, "restarted": True}

    async def set_fault(self, req: Request, service: str, version: str) -> tuple[int, Any]:
        svc = self._service(service)
        self._version(svc, version)
        body = self._body(req)
        instance = body.pop("instance", None)
        patch: dict[str, Any] = {}
        for key, value in body.items():
            field = FAULT_FIELDS.get(key)
            if field is None:
                raise ApiError(
                    400, f"unknown fault field '{key}'; known: {', '.join(FAULT_FIELDS)}, instance"
                )
            patch[field] = value
        try:
            patch = validate_behaviour(patch)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        try:
            failed = await self.supervisor.set_behaviour(service, version, patch, instance)
        except KeyError as exc:
            raise ApiError(404, str(exc.args[0])) from None
        return 200, {"service": service, "version": version, "fault": patch, "unreachable": failed}

    async def clear_fault(self, req: Request, service: str, version: str) -> tuple[int, Any]:
        svc = self._service(service)
        self._version(svc, version)
        failed = await self.supervisor.set_behaviour(service, version, dict(CLEAR_FAULT))
        return 200, {"service": service, "version": version, "cleared": True, "unreachable": failed}

    def _metrics_up(self) -> None:
        if not self.metrics_available:
            raise ApiError(503, "metrics source unavailable (switched off by a drill)")

    async def set_metrics(self, req: Request) -> tuple[int, Any]:
        available = self._body(req).get("available")
        if not isinstance(available, bool):
            raise ApiError(400, f"'available' must be true or false, got {available!r}")
        self.metrics_available = available
        return 200, {"available": available}

    async def metrics(self, req: Request, service: str) -> tuple[int, Any]:
        self._metrics_up()
        svc = self._service(service)
        window = self._float_param(req, "window", 30.0)
        if window <= 0:
            raise ApiError(400, "'window' must be > 0 seconds")
        return 200, self.gateway.recorder.sample(service, self._versions_param(svc, req), window)

    async def history(self, req: Request, service: str) -> tuple[int, Any]:
        self._metrics_up()
        svc = self._service(service)
        since = self._float_param(req, "since", time.time() - 300)
        step = self._float_param(req, "step", 5.0)
        if step <= 0:
            raise ApiError(400, "'step' must be > 0 seconds")
        return 200, self.gateway.recorder.history(
            service, self._versions_param(svc, req), since, step
        )

    async def flag_metrics(self, req: Request, flag: str) -> tuple[int, Any]:
        window = self._float_param(req, "window", 30.0)
        if window <= 0:
            raise ApiError(400, "'window' must be > 0 seconds")
        raw = req.params().get("variants", "") if req.query else ""
        recorder = self.gateway.flag_recorder
        variants = [v for v in raw.split(",") if v] or recorder.variants(flag)
        return 200, recorder.sample(flag, variants, window)

    async def flag_users(self, req: Request, flag: str) -> tuple[int, Any]:
        """Distinct users per variant in the window (experiment reports)."""
        window = self._float_param(req, "window", 30.0)
        if window <= 0:
            raise ApiError(400, "'window' must be > 0 seconds")
        raw = req.params().get("variants", "") if req.query else ""
        variants = [v for v in raw.split(",") if v] or self.gateway.flag_recorder.variants(flag)
        return 200, self.gateway.arm_users.users(flag, variants, window)

    async def get_load(self, req: Request) -> tuple[int, Any]:
        return 200, self.load.stats()

    async def set_load(self, req: Request) -> tuple[int, Any]:
        rps = self._body(req).get("rps")
        if isinstance(rps, bool) or not isinstance(rps, int | float) or not 0 <= rps <= 10000:
            raise ApiError(400, f"'rps' must be a number 0..10000, got {rps!r}")
        self.load.set_rate(rps)
        return 200, self.load.stats()
