"""Run Debian's HAProxy on loopback with a generated configuration: for the tests, the
benchmark and ``rollout demo --gateway haproxy``.

``render_config`` writes a frontend that routes ``/<service>/...`` to the backend named
after the service (``default_backend`` when there is one service), one server line per
instance, health checks on ``check_path``, the stats socket at ``level admin`` (what this
backend needs) and, optionally, HAProxy's Prometheus exporter on a port of its own.
``start_haproxy`` runs it in the foreground (``-db``) and waits until the frontend and the
Runtime API answer.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 15.0
EXECUTABLES = ("haproxy", "/usr/sbin/haproxy")


class HAProxyNotInstalled(RuntimeError):
    """No haproxy executable on this machine."""


class HAProxyFailed(RuntimeError):
    """HAProxy exited or did not answer; the message carries its own words."""


@dataclass(frozen=True)
class ServerLine:
    name: str  # v1-1: <version>-<anything>
    host: str
    port: int
    weight: int = 1


def find_haproxy() -> str:
    """``$ROLLOUT_HAPROXY`` when set (and then only that), else haproxy on the PATH or
    /usr/sbin/haproxy. Raises HAProxyNotInstalled saying what to do."""
    chosen = os.environ.get("ROLLOUT_HAPROXY")
    if chosen:
        if Path(chosen).is_file() and os.access(chosen, os.X_OK):
            return chosen
        raise HAProxyNotInstalled(f"HAProxy is not installed at {chosen} (from ROLLOUT_HAPROXY)")
    for name in EXECUTABLES:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    raise HAProxyNotInstalled(
        "HAProxy is not installed (no haproxy on PATH or /usr/sbin/haproxy); "
        "install it with: sudo apt-get install haproxy"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_config(
    *,
    port: int,
    socket_path: str,
    backends: Mapping[str, Sequence[ServerLine]],
    check_path: str | None = "/healthz",
    check_interval_ms: int = 500,
    exporter_port: int | None = None,
) -> str:
    """The text of an HAProxy configuration for ``backends`` ({service: servers})."""
    lines = [
        "global",
        "  maxconn 4096",
        f"  stats socket {socket_path} mode 600 level admin",
        "defaults",
        "  mode http",
        "  timeout connect 2s",
        "  timeout client 30s",
        "  timeout server 30s",
        "  option redispatch",  # a request whose server refuses the connection tries another
        "  retries 2",
        "frontend gateway",
        f"  bind 127.0.0.1:{port}",
    ]
    names = list(backends)
    for name in names:
        lines.append(f"  use_backend {name} if {{ path_beg /{name}/ }} || {{ path /{name} }}")
    if len(names) == 1:
        lines.append(f"  default_backend {names[0]}")
    if exporter_port is not None:
        lines += [
            "frontend exporter",
            f"  bind 127.0.0.1:{exporter_port}",
            "  http-request use-service prometheus-exporter if { path /metrics }",
        ]
    for name, servers in backends.items():
        lines += [f"backend {name}", "  balance roundrobin"]
        if check_path:
            lines.append(f"  option httpchk GET {check_path}")
        check = f" check inter {check_interval_ms} fall 2 rise 1" if check_path else ""
        lines += [f"  server {s.name} {s.host}:{s.port} weight {s.weight}{check}" for s in servers]
    return "\n".join(lines) + "\n"


class HAProxyProcess:
    """A running haproxy started by ``start_haproxy``. ``stop()`` ends it."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, socket_path: str, log: Path):
        self.proc = proc
        self.port = port
        self.socket_path = socket_path
        self.log = log
        self.pid = proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> HAProxyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_haproxy(config: str, workdir: Path, port: int, socket_path: str) -> HAProxyProcess:
    """Write ``config`` to ``workdir/haproxy.cfg``, check it, run haproxy in the foreground
    and return once ``port`` and the Runtime API answer. Raises HAProxyNotInstalled,
    HAProxyFailed."""
    exe = find_haproxy()
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "haproxy.cfg"
    cfg.write_text(config)
    checked = subprocess.run([exe, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
    if checked.returncode != 0:
        raise HAProxyFailed(f"haproxy rejected {cfg}: {(checked.stderr or checked.stdout)[-500:]}")
    log = workdir / "haproxy.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [exe, "-db", "-f", str(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            preexec_fn=_die_with_parent,
        )
    handle = HAProxyProcess(proc, port, socket_path, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if _answers(port, socket_path):
            return handle
        time.sleep(0.05)
    handle.stop(1.0)
    tail = ""
    with contextlib.suppress(OSError):
        tail = log.read_text(errors="replace")[-500:]
    raise HAProxyFailed(f"haproxy did not start (log {log}): {tail}")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies, even by
    SIGKILL (Linux prctl PR_SET_PDEATHSIG), so no HAProxy outlives a killed demo or test."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _answers(port: int, socket_path: str) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(0.5)
            s.connect(socket_path)
    except OSError:
        return False
    return True
