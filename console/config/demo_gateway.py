"""``rollout demo --gateway haproxy``: Debian's HAProxy as the demo LMS's gateway.

The demo runs as usual (instances, control API, faults, load); HAProxy is put in front of
the same instances, one backend per service and one server per instance (``courses`` /
``v1-1``), and the demo's traffic backend becomes ``backends.haproxy`` on its Runtime API.
The load goes to HAProxy. Metrics come from HAProxy's Prometheus exporter, scraped by
Debian's Prometheus and read with the ``haproxy`` provider (so latency metrics are
unsupported there, as on any HAProxy).

It composes two independent backends, which is the composition root's job. The order that
keeps every reader right: ``mark_pending`` before the demo starts (a process opening the
demo in between, such as the demo's controller, is told to retry), then HAProxy, then
``<demo_dir>/haproxy.json`` (runtime socket, gateway and Prometheus URLs, our pid). While it
runs, a thread keeps each server's address on its instance's port (a restarted instance
gets a new one), and restarts HAProxy if it exits: same port, socket and exporter, each
server on its instance's port and each service's split as last read (at most
``MAX_RESTARTS`` in ``RESTART_WINDOW`` seconds; then it says it gives up). Each restart is
said on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backends.base import BackendError, BackendUnavailable

GATEWAY_FILE = "haproxy.json"
SYNC_EVERY = 0.5
SPLIT_EVERY = 2.0  # how often the split is read, to restore it after a restart
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0


def mark_pending(state_dir: Path) -> None:
    """Tell other processes the demo's gateway will be HAProxy, not ready yet."""
    _write(state_dir, {"pending": True, "pid": os.getpid()})


def remove(state_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (Path(state_dir) / GATEWAY_FILE).unlink()


def read(state_dir: Path) -> dict[str, Any] | None:
    """The running demo's HAProxy gateway, None for the embedded one. Raises
    BackendUnavailable while it is still starting."""
    try:
        data = json.loads((Path(state_dir) / GATEWAY_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    if not _alive(data["pid"]):
        return None  # left by a demo that died: the embedded gateway's environment applies
    if data.get("pending"):
        raise BackendUnavailable("the demo's HAProxy gateway is starting; try again in a moment")
    return data


def _write(state_dir: Path, data: dict[str, Any]) -> None:
    Path(state_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    path = Path(state_dir) / GATEWAY_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _servers(status: dict[str, Any], services: list[str]) -> dict[str, dict[str, int | None]]:
    """{service: {server name: port}} from the control API's status (``courses-v1-1`` is
    server ``v1-1`` of backend ``courses``)."""
    out: dict[str, dict[str, int | None]] = {s: {} for s in services}
    for inst in status.get("instances", []):
        name = str(inst.get("name", ""))
        for service in services:
            if name.startswith(f"{service}-"):
                out[service][name[len(service) + 1 :]] = inst.get("port")
    return out


class HAProxyGateway:
    """HAProxy in front of a running demo's instances, and what keeps it pointed at them."""

    def __init__(self, state_dir: Path, port: int) -> None:
        self.state_dir = Path(state_dir)
        self.port = port
        self.process: Any = None
        self.prometheus: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ports: dict[tuple[str, str], int | None] = {}
        self._render: Callable[[], str] | None = None  # the config for the ports now
        self._splits: dict[str, dict[str, int]] = {}  # each service's split, as last read
        self._split_read = 0.0
        self._restarts: deque[float] = deque(maxlen=MAX_RESTARTS)
        self.gave_up = False
        self.say: Callable[[str], None] = lambda text: print(
            f"rollout demo: {text}", file=sys.stderr, flush=True
        )

    def start(self, env: Any) -> None:
        """``env``: the demo's environment as the embedded gateway serves it (before the
        switch). Raises RuntimeError (HAProxy or Prometheus missing or failing)."""
        from backends.haproxy.process import ServerLine, free_port, render_config, start_haproxy
        from backends.haproxy.runtime import RuntimeClient
        from backends.haproxy.traffic import HAProxyTraffic
        from backends.local import prometheus_runner

        control = env.extras["control"]
        services = list(env.traffic.services())
        servers = _servers(control.status(), services)
        self.workdir = workdir = self.state_dir / "haproxy"
        self.socket_path = sock = str(workdir / "admin.sock")
        exporter = free_port()
        self._ports = {(s, n): p for s, names in servers.items() for n, p in names.items()}

        def render() -> str:
            # An instance still starting has no port yet: the sync thread fills it in.
            lines: dict[str, list[ServerLine]] = {s: [] for s in services}
            for (service, name), port in sorted(self._ports.items()):
                lines[service].append(ServerLine(name, "127.0.0.1", port or 1))
            return render_config(
                port=self.port, socket_path=sock, backends=lines, exporter_port=exporter
            )

        self._render = render
        self.process = start_haproxy(render(), workdir, self.port, sock)
        traffic = HAProxyTraffic(RuntimeClient(sock), label="demo (haproxy)")
        # The demo's split as it is now (v1 100%, v2 drained) before any load arrives.
        for service in services:
            weights = env.traffic.get_split(service).weights
            traffic.set_split(service, weights)
            self._splits[service] = dict(weights)
        self.prometheus = prometheus_runner.start_prometheus(
            [f"127.0.0.1:{exporter}"], self.state_dir / "prometheus"
        )
        self._thread = threading.Thread(
            target=self._sync, args=(control, services, traffic), name="haproxy-sync", daemon=True
        )
        self._thread.start()
        _write(
            self.state_dir,
            {
                "pid": os.getpid(),
                "runtime": sock,
                "gateway_url": self.process.url,
                "prometheus_url": self.prometheus.url,
                "exporter_url": f"http://127.0.0.1:{exporter}/metrics",
            },
        )

    def _sync(self, control: Any, services: list[str], traffic: Any) -> None:
        """Keep each server on its instance's current port, and HAProxy running, until
        stopped."""
        while not self._stop.wait(SYNC_EVERY):
            if self.process is not None and not self.process.alive():
                self._restart(traffic)
                continue
            self._read_splits(services, traffic)
            try:
                servers = _servers(control.status(), services)
            except BackendError:
                continue
            commands = []
            for service, names in servers.items():
                for name, port in names.items():
                    if port and self._ports.get((service, name)) != port:
                        commands.append(f"set server {service}/{name} addr 127.0.0.1 port {port}")
            if not commands:
                continue
            try:
                # "set server ... addr" answers with what changed: read, not judged.
                for line in commands:
                    traffic.client.execute(line)
            except BackendError:
                continue
            for service, names in servers.items():
                for name, port in names.items():
                    if port:
                        self._ports[(service, name)] = port

    def _read_splits(self, services: list[str], traffic: Any) -> None:
        now = time.monotonic()
        if now - self._split_read < SPLIT_EVERY:
            return
        self._split_read = now
        for service in services:
            try:
                self._splits[service] = dict(traffic.get_split(service).weights)
            except Exception:  # HAProxy is going (or answers oddly): keep the last split read
                return

    def _restart(self, traffic: Any) -> None:
        """HAProxy exited: start it again with the servers where they are now and the
        split each service had; bounded, and said on stderr."""
        from backends.haproxy.process import HAProxyFailed, start_haproxy

        if self.gave_up or self._render is None:
            return
        code = self.process.proc.returncode
        now = time.monotonic()
        if len(self._restarts) == MAX_RESTARTS and now - self._restarts[0] < RESTART_WINDOW:
            self.gave_up = True
            self.say(
                f"HAProxy exited (code {code}) {MAX_RESTARTS} times in "
                f"{RESTART_WINDOW:.0f}s; not restarting it again. Requests to the demo fail "
                f"until the demo is restarted; HAProxy's log: {self.process.log}"
            )
            return
        self._restarts.append(now)
        try:
            self.process = start_haproxy(self._render(), self.workdir, self.port, self.socket_path)
        except (HAProxyFailed, OSError) as exc:
            self.say(f"HAProxy exited (code {code}) and did not start again: {exc}")
            return
        restored = []
        for service, weights in sorted(self._splits.items()):
            try:
                traffic.set_split(service, weights)
            except BackendError as exc:
                self.say(f"HAProxy restarted, but {service}'s split is not restored: {exc}")
                continue
            restored.append(f"{service} " + " / ".join(f"{v} {w}" for v, w in weights.items()))
        self.say(
            f"HAProxy exited (code {code}); restarted on port {self.port} with the split "
            f"it had: {', '.join(restored) or 'none'}"
        )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        remove(self.state_dir)
        if self.prometheus is not None:
            self.prometheus.stop()
        if self.process is not None:
            self.process.stop()
