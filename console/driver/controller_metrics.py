"""The controller's own metrics (``prometheus-client``, a registry of its own) and the small
HTTP server that serves them with ``/healthz``.

``GET /metrics``: Prometheus text. ``GET /healthz``: 200 and a JSON body while the control
loop makes passes (active or standby), 503 once it has stalled; anything else is 404.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Event kinds a decision is counted under (backends.base.Event); any other is "other", so
# the label never grows past this set.
DECISION_KINDS = frozenset(
    {
        "started",
        "step",
        "weight",
        "pause",
        "resume",
        "analysis",
        "breach",
        "inconclusive",
        "metrics-error",
        "health",
        "rollback",
        "aborted",
        "completed",
        "promoted",
        "command",
        "notify-failed",
        "driver",
        "lease",
        "unguarded",
    }
)


class ControllerMetrics:
    """Counters, gauges and the tick histogram of one controller process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.active = Gauge(
            "rollout_controller_active",
            "1 while this controller holds the controller key (active), 0 while standby",
            registry=r,
        )
        self.driven = Gauge(
            "rollout_controller_rollouts_driven",
            "Rollouts whose driver lease this controller holds",
            registry=r,
        )
        self.ticks = Counter(
            "rollout_controller_ticks",
            "Rollout ticks run (one driver tick of one rollout)",
            registry=r,
        )
        self.tick_seconds = Histogram(
            "rollout_controller_tick_duration_seconds",
            "Duration of one rollout's tick",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=r,
        )
        self.decisions = Counter(
            "rollout_controller_decisions",
            "Events of the rollouts this controller drives, by kind",
            ["kind"],
            registry=r,
        )
        self.takeovers = Counter(
            "rollout_controller_lease_takeovers",
            "Times this controller took a rollout's lease (a new rollout, or its driver left)",
            registry=r,
        )
        self.errors = Counter(
            "rollout_controller_tick_errors",
            "Rollout ticks that failed (backend error, unreadable record, bug)",
            registry=r,
        )
        self.unguarded = Counter(
            "rollout_controller_unguarded_reported",
            "Unguarded rollouts this controller reported (it won the report)",
            registry=r,
        )

    def decision(self, kind: str) -> None:
        self.decisions.labels(kind=kind if kind in DECISION_KINDS else "other").inc()

    def text(self) -> bytes:
        return generate_latest(self.registry)


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class StatusServer:
    """``/healthz`` and ``/metrics`` on ``addr:port`` (port 0: a free one), in a daemon thread."""

    def __init__(
        self,
        metrics: ControllerMetrics,
        health: Callable[[], tuple[bool, dict[str, Any]]],
        addr: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        outer = self
        self.metrics = metrics
        self.health = health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    outer._reply(self, 200, outer.metrics.text(), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    ok, body = outer.health()
                    data = json.dumps(body).encode() + b"\n"
                    outer._reply(self, 200 if ok else 503, data, "application/json")
                else:
                    outer._reply(self, 404, b"not found\n", "text/plain")

            def log_message(self, *args: object) -> None:
                pass  # the controller logs JSON lines; no access log on stderr

        server_class = _IPv6Server if ":" in addr else ThreadingHTTPServer
        self.server = server_class((addr, port), Handler)
        self.server.daemon_threads = True
        host, bound = self.server.server_address[:2]
        self.port = int(bound)
        host = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="controller-http", daemon=True
        )
        self.thread.start()

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str) -> None:
        handler.send_response(code)
        handler.send_header("content-type", ctype)
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except OSError:
            pass  # the client went away

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
