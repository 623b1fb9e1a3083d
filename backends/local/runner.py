"""The demo environment process: ``python -m backends.local.runner STATE_DIR CONFIG_JSON``.

Runs the gateway, the control API and the supervisor of every instance in one asyncio loop;
the load generator runs in a child process of its own. It holds ``<state_dir>/demo.lock`` for its whole life (a second demo on the
same directory exits 3), writes ``<state_dir>/endpoint.json`` (mode 0600: URLs, token, pid)
once every healthy instance is ready, prints ``READY <json>`` on stdout, and stops everything
on SIGTERM, SIGINT or when its stdin closes (the parent is gone, even by SIGKILL).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

from backends.local.companion import Companion
from backends.local.control import FAULT_FIELDS, ControlAPI
from backends.local.demo_flags import ENV_VAR, seed_flags
from backends.local.gateway import Gateway, GatewayService
from backends.local.loadgen import LoadProcess
from backends.local.metrics import Recorder
from backends.local.supervisor import Supervisor

EXIT_ALREADY_RUNNING = 3
READY_TIMEOUT = 40.0
SERVICES = ("courses", "enrollments", "grades")
VERSIONS = ("v1", "v2")


def write_endpoint(path: Path, data: dict[str, Any]) -> None:
    """Atomically write the endpoint file, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def lock_state_dir(state_dir: Path) -> int | None:
    """Hold the demo lock for this process's life; None if another demo holds it."""
    fd = os.open(state_dir / "demo.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


async def run(state_dir: Path, cfg: dict[str, Any]) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    # EOF on stdin: whoever started us is gone.
    stdin_reader = asyncio.StreamReader()
    watcher: asyncio.Task | None = None
    with contextlib.suppress(OSError, ValueError):
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stdin_reader), os.fdopen(0, "rb", 0)
        )
        watcher = loop.create_task(_watch_stdin(stdin_reader, stop))

    # The flag file the services evaluate (flagd format); children inherit the variable.
    os.environ[ENV_VAR] = str(seed_flags(state_dir))
    log_path = state_dir / "demo.log"
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the demo
    services = {
        s: GatewayService(s, cfg.get("versions", VERSIONS)) for s in cfg.get("services", SERVICES)
    }
    recorder = Recorder()
    gateway = Gateway(services, recorder)
    supervisor = Supervisor(gateway, log)
    for fault in cfg.get("faults", []):
        targets = [fault["service"]] if fault.get("service") else list(services)
        patch = {FAULT_FIELDS[k]: v for k, v in fault.items() if k in FAULT_FIELDS}
        for s in targets:
            if s in services:
                supervisor.behaviour.setdefault((s, fault["version"]), {}).update(patch)
    await gateway.start(int(cfg.get("gateway_port", 0)))
    instances = int(cfg.get("instances", 3))
    for s, svc in services.items():
        for v in svc.versions:
            await supervisor.scale(s, v, instances)
    load = LoadProcess(gateway.port, float(cfg.get("rps", 200)), cfg.get("seed"))
    token = secrets.token_urlsafe(24)
    info: dict[str, Any] = {
        "pid": os.getpid(),
        "parent_pid": os.getppid(),
        "gateway_url": f"http://127.0.0.1:{gateway.port}",
        "log": str(log_path),
        "started_at": time.time(),
    }
    control = ControlAPI(token, gateway, supervisor, load, info)
    await control.start(int(cfg.get("control_port", 0)))
    info["control_url"] = f"http://127.0.0.1:{control.port}"
    info["metrics_url"] = f"{info['gateway_url']}/metrics"

    deadline = time.monotonic() + READY_TIMEOUT
    while not stop.is_set() and time.monotonic() < deadline:
        pending = [
            u
            for (s, v), b in _expected(services, supervisor).items()
            for u in services[s].versions[v]
            if not b.get("crash") and not b.get("unready") and not u.routable
        ]
        if not pending:
            break
        await asyncio.sleep(0.05)
    await load.start(log)
    endpoint = state_dir / "endpoint.json"
    write_endpoint(endpoint, {**info, "token": token})
    # Companions (the rollout controller) find the demo through the endpoint file.
    companions = [
        Companion(name, argv, state_dir) for name, argv in (cfg.get("companions") or {}).items()
    ]
    for companion in companions:
        companion.start()
    sys.stdout.write("READY " + json.dumps({**info, "control_port": control.port}) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        # First, while the services still answer: a controller hands its leases back.
        await asyncio.gather(*(c.stop() for c in companions), return_exceptions=True)
        await load.stop()
        await control.close()
        await gateway.close()
        await supervisor.shutdown()
        with contextlib.suppress(OSError, ValueError):
            if json.loads(endpoint.read_text()).get("pid") == os.getpid():
                endpoint.unlink()
        log.close()
    return 0


def _expected(services: dict[str, GatewayService], sup: Supervisor) -> dict[tuple[str, str], dict]:
    return {
        (s, v): sup.behaviour.get((s, v), {}) for s, svc in services.items() for v in svc.versions
    }


async def _watch_stdin(reader: asyncio.StreamReader, stop: asyncio.Event) -> None:
    while await reader.read(1024):
        pass
    stop.set()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: runner STATE_DIR CONFIG_JSON", file=sys.stderr)
        return 2
    state_dir = Path(argv[0])
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = lock_state_dir(state_dir)
    if lock is None:
        print(f"a demo environment is already running in {state_dir}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    try:
        return asyncio.run(run(state_dir, json.loads(argv[1])))
    finally:
        os.close(lock)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
