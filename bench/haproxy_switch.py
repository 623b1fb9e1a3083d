"""HAProxy driven by rollout, for bench/gateway.py: an HAProxy whose split is set through
the HAProxy backend (``backends/haproxy``, Runtime API), and how long a new split takes to
take effect.

``measure_switch`` flips the split between ``{v1: 100, v2: 0}`` and ``{v1: 0, v2: 100}``
while one keep-alive client sends requests back to back through HAProxy and notes, for each,
when it was sent and which version answered (``x-lms-version``). Per flip it reports the
time ``set_split`` took (it reads ``show stat`` and ``show servers state``, then sends one
batch) and the time from calling it to the first request after which every answer came from
the new version.
"""

from __future__ import annotations

import random
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from backends.haproxy.process import (
    HAProxyProcess,
    ServerLine,
    free_port,
    render_config,
    start_haproxy,
)
from backends.haproxy.runtime import RuntimeClient
from backends.haproxy.traffic import HAProxyTraffic

SETTLE = 0.2  # seconds of answers looked at after each flip


def start_rollout_haproxy(
    work: Path, instances: list[dict[str, Any]]
) -> tuple[HAProxyProcess, HAProxyTraffic]:
    """HAProxy over the demo's ``courses`` instances, servers ``v1-1`` ..., split 50/50 by
    the HAProxy backend."""
    port = free_port()
    sock = str(work / "rollout-haproxy" / "admin.sock")
    servers = [
        ServerLine(i["name"].removeprefix("courses-"), "127.0.0.1", i["port"]) for i in instances
    ]
    config = render_config(port=port, socket_path=sock, backends={"courses": servers})
    proc = start_haproxy(config, work / "rollout-haproxy", port, sock)
    traffic = HAProxyTraffic(RuntimeClient(sock))
    traffic.set_split("courses", {"v1": 50, "v2": 50})
    return proc, traffic


class _Recorder(threading.Thread):
    """Back-to-back GETs on one keep-alive connection: (send time, version) per answer."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.seen: list[tuple[float, str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            f = s.makefile("rb")
            while not self.stop.is_set():
                sent = time.perf_counter()
                s.sendall(b"GET /courses/3 HTTP/1.1\r\nhost: bench\r\n\r\n")
                version, length = "", 0
                while (line := f.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "x-lms-version":
                        version = value.strip()
                    elif name.lower() == "content-length":
                        length = int(value)
                f.read(length)
                self.seen.append((sent, version))


def measure_switch(traffic: HAProxyTraffic, port: int, flips: int) -> dict[str, float]:
    """Medians in seconds: ``call`` (set_split's own time) and ``effect`` (from calling it
    to the first request after which only the new version answered)."""
    rec = _Recorder(port)
    rec.start()
    calls, effects = [], []
    try:
        for k in range(flips):
            new = "v2" if k % 2 == 0 else "v1"
            time.sleep(random.uniform(0.05, 0.15))  # flips at no particular phase
            t0 = time.perf_counter()
            traffic.set_split("courses", {new: 100, ("v1" if new == "v2" else "v2"): 0})
            calls.append(time.perf_counter() - t0)
            time.sleep(SETTLE)
            after = [(t, v) for t, v in rec.seen if t >= t0 and t < t0 + SETTLE]
            old_at = [t for t, v in after if v != new]
            first_new = min((t for t, v in after if v == new and t > max(old_at, default=0)))
            effects.append(first_new - t0)
    finally:
        rec.stop.set()
        rec.join(5)
    return {"call": statistics.median(calls), "effect": statistics.median(effects)}
