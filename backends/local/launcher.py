"""Start a demo environment process and find a running one.

``start_demo`` spawns ``backends.local.runner`` in its own process group with a pipe on its
stdin (closing it, or our death, stops the demo) and waits for its ``READY`` line.
``connect`` reads ``<state_dir>/endpoint.json`` and returns an ``Environment`` wired to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from backends.base import BackendUnavailable, Environment
from backends.local.faults import Fault

START_TIMEOUT = 60.0
STOP_GRACE = 8.0
NOT_RUNNING = "no demo environment is running; start one with `rollout demo`"


class DemoError(Exception):
    """The demo environment could not start; the message says why (and where the log is)."""


class DemoAlreadyRunning(DemoError):
    """Another demo already runs on this state directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_endpoint(state_dir: Path) -> dict[str, Any] | None:
    """The endpoint file of a live demo, or None (missing, unreadable, or its pid is gone)."""
    try:
        data = json.loads((Path(state_dir) / "endpoint.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    return data if _alive(data["pid"]) else None


PROMETHEUS_FILE = "prometheus.json"


def write_prometheus_file(state_dir: Path, url: str) -> None:
    """Tell other processes that this demo's metrics are also in Prometheus at ``url``
    (``rollout demo --metrics prometheus``); mode 0600 like the endpoint file."""
    path = Path(state_dir) / PROMETHEUS_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "pid": os.getpid()}, f)
    os.replace(tmp, path)


def remove_prometheus_file(state_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (Path(state_dir) / PROMETHEUS_FILE).unlink()


def read_prometheus_url(state_dir: Path) -> str | None:
    """The Prometheus URL of a live ``--metrics prometheus`` demo, else None (a file left by
    a process that died is ignored, and metrics come from the gateway as usual)."""
    try:
        data = json.loads((Path(state_dir) / PROMETHEUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    url = data.get("url")
    return url if isinstance(url, str) and _alive(data["pid"]) else None


class DemoHandle:
    """A running demo environment started by this process. Stop it with ``stop()``."""

    def __init__(self, proc: subprocess.Popen[bytes], state_dir: Path, info: dict[str, Any]):
        self.proc = proc
        self.state_dir = state_dir
        self.info = info
        self.pid: int = proc.pid
        self.gateway_url: str = info["gateway_url"]
        self.control_url: str = info["control_url"]
        self.metrics_url: str = info["metrics_url"]
        self.log_path = Path(info["log"])
        endpoint = read_endpoint(state_dir) or {}
        self.token: str = endpoint.get("token", "")

    @property
    def ports(self) -> dict[str, int]:
        return {
            "gateway": int(self.gateway_url.rsplit(":", 1)[1]),
            "control": int(self.control_url.rsplit(":", 1)[1]),
        }

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the environment exits (None if ``timeout`` passed first)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop every process of the demo: SIGTERM, then SIGKILL the whole group."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # Anything left in the runner's process group (its instances) dies now.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> DemoHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_demo(
    state_dir: Path | str,
    rps: float = 200.0,
    instances: int = 3,
    faults: Iterable[Fault] = (),
    *,
    services: Iterable[str] | None = None,
    gateway_port: int = 0,
    control_port: int = 0,
    seed: int | None = None,
    timeout: float = START_TIMEOUT,
    companions: Mapping[str, Sequence[str]] | None = None,
    load_port: int = 0,
) -> DemoHandle:
    """Start the demo on 127.0.0.1 and return once every healthy instance is ready.

    ``companions`` maps a name to a command line the demo keeps running beside it,
    restarted with back-off, logged to ``<state_dir>/<name>.log`` (``rollout demo`` runs the
    rollout controller so). ``load_port``: send the load there instead of to the embedded
    gateway (another gateway in front of the same instances). Raises DemoAlreadyRunning if one runs on ``state_dir``,
    DemoError if it fails to start.
    """
    state_dir = Path(state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (state_dir / "demo.log").touch(mode=0o600)
    except OSError as exc:
        raise DemoError(f"cannot use {state_dir} as the demo's state directory: {exc}") from None
    if read_endpoint(state_dir) is not None:
        raise DemoAlreadyRunning(f"a demo environment is already running in {state_dir}")
    if not 1 <= instances <= 10:
        raise DemoError(f"--instances must be between 1 and 10, got {instances}")
    if rps < 0:
        raise DemoError(f"--rps must be >= 0, got {rps}")
    cfg: dict[str, Any] = {
        "rps": rps,
        "instances": instances,
        "faults": [f.to_dict() for f in faults],
        "gateway_port": gateway_port,
        "control_port": control_port,
        "seed": seed,
    }
    if services is not None:
        cfg["services"] = list(services)
    if load_port:
        cfg["load_port"] = load_port
    if companions:
        cfg["companions"] = {name: list(argv) for name, argv in companions.items()}
    log_path = state_dir / "demo.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backends.local.runner", str(state_dir), json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,  # its own process group: killed as one, spared our Ctrl-C
        )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            break
        if proc.poll() is not None:
            break
    if line.startswith(b"READY "):
        return DemoHandle(proc, state_dir, json.loads(line[6:]))
    code = proc.poll()
    handle_info = {
        "gateway_url": "x:0",
        "control_url": "x:0",
        "metrics_url": "",
        "log": str(log_path),
    }
    DemoHandle(proc, state_dir, handle_info).stop(grace=2)
    if code == 3:
        raise DemoAlreadyRunning(f"a demo environment is already running in {state_dir}")
    tail = _tail(log_path)
    why = "timed out" if code is None else f"exited with code {code}"
    raise DemoError(f"the demo environment {why} while starting; log {log_path}:\n{tail}")


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def connect(state_dir: Path | str) -> Environment:
    """An Environment for the demo running on ``state_dir``; BackendUnavailable if none."""
    from backends.local.client import ControlClient, DemoControl, LocalMetrics, LocalTraffic

    state_dir = Path(state_dir)
    endpoint = read_endpoint(state_dir)
    if endpoint is None:
        raise BackendUnavailable(NOT_RUNNING)
    try:
        client = ControlClient(endpoint["control_url"], endpoint["token"])
    except (KeyError, TypeError):
        raise BackendUnavailable(
            f"{state_dir / 'endpoint.json'} is damaged; restart `rollout demo`"
        ) from None
    try:
        client.call("GET", "/v1/ping", timeout=3.0)
    except BackendUnavailable:
        client.close()
        raise BackendUnavailable(NOT_RUNNING) from None
    from backends.local.store import FileStateStore

    store = FileStateStore(state_dir / "rollouts")
    return Environment(
        name="demo",
        traffic=LocalTraffic(client),
        metrics=LocalMetrics(client),
        store=store,
        description="demo",
        extras={
            "control": DemoControl(client),
            "gateway_url": endpoint.get("gateway_url"),
            "metrics_url": endpoint.get("metrics_url"),
            "prometheus_url": read_prometheus_url(state_dir),
            "state_dir": str(state_dir),
        },
    )
