"""A real fleet behind Debian's HAProxy for the tests: the demo's service instances as
processes on loopback, HAProxy in front with the Runtime API on a socket in a tmp dir."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from backends.haproxy.process import (
    HAProxyProcess,
    ServerLine,
    free_port,
    render_config,
    start_haproxy,
)
from backends.haproxy.runtime import RuntimeClient
from backends.haproxy.traffic import HAProxyTraffic

PORT_TIMEOUT = 20.0


@dataclass
class Instance:
    name: str  # the HAProxy server name, e.g. v1-1
    version: str
    proc: subprocess.Popen[bytes]
    port: int

    def set_unready(self, unready: bool) -> None:
        """Make /healthz answer 503 (HAProxy's check then marks the server DOWN) or 200."""
        body = json.dumps({"unready": unready}).encode()
        request = (
            f"PUT /_admin/behaviour HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(request)
            answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:100]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def start_instance(service: str, version: str, name: str) -> Instance:
    """One ``backends.local.service`` process; returns once it printed its port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "backends.local.service", service, version, name, "{}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], PORT_TIMEOUT)
    line = proc.stdout.readline() if ready else b""
    if not line.startswith(b"PORT "):
        proc.kill()
        raise RuntimeError(f"instance {name} did not start: {line!r}")
    return Instance(name, version, proc, int(line.split()[1]))


@dataclass
class Fleet:
    haproxy: HAProxyProcess
    instances: dict[str, Instance]
    socket_path: str
    workdir: Path
    traffic: HAProxyTraffic = field(init=False)

    def __post_init__(self) -> None:
        self.traffic = HAProxyTraffic(RuntimeClient(self.socket_path), label="haproxy test")

    @property
    def url(self) -> str:
        return self.haproxy.url

    def stop(self) -> None:
        self.haproxy.stop()
        for inst in self.instances.values():
            inst.stop()


def start_fleet(workdir: Path, servers: dict[str, int], service: str = "courses") -> Fleet:
    """HAProxy with backend ``service`` over one instance per server name
    (``{"v1-1": configured weight, ...}``)."""
    instances: dict[str, Instance] = {}
    try:
        for name in servers:
            version = name.split("-", 1)[0]
            instances[name] = start_instance(service, version, f"{service}-{name}")
            instances[name].name = name
        port = free_port()
        sock = str(workdir / "admin.sock")
        lines = [
            ServerLine(name, "127.0.0.1", instances[name].port, weight)
            for name, weight in servers.items()
        ]
        config = render_config(port=port, socket_path=sock, backends={service: lines})
        haproxy = start_haproxy(config, workdir, port, sock)
    except BaseException:
        for inst in instances.values():
            inst.stop()
        raise
    fleet = Fleet(haproxy, instances, sock, workdir)
    # Wait for the first health checks: every server UP.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        health = fleet.traffic.health(service)
        if all(h.all_ready for h in health.values()):
            break
        time.sleep(0.1)
    return fleet
