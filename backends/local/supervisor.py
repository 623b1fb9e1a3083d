"""Starts, restarts and stops the instance processes of every service version.

Each instance slot (``Upstream``) runs one task that spawns ``backends.local.service``, waits
for its port, lets the gateway's health checks decide readiness, and restarts the process
with an exponential back-off when it dies (a crash loop shows as restarts and a reason, like
a pod's CrashLoopBackOff). Stopping a slot drains it first: out of routing, in-flight requests
finished, pooled connections closed, then SIGTERM and, after a grace period, SIGKILL.
Children inherit the demo runner's process group and watch their stdin, so nothing outlives
the demo.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any, TextIO

from backends.local.companion import terminate
from backends.local.gateway import Gateway, GatewayService, Upstream, drain
from backends.local.http11 import read_response, request_bytes

STOP_GRACE = 3.0
PORT_TIMEOUT = 15.0
BACKOFF_MAX = 10.0


class Supervisor:
    """Keeps each version at its desired number of instances."""

    def __init__(self, gateway: Gateway, log: TextIO | int | None = None) -> None:
        self.gateway = gateway
        self.log = log
        self.behaviour: dict[tuple[str, str], dict[str, Any]] = {}
        self.desired: dict[tuple[str, str], int] = {}
        self._tasks: dict[Upstream, asyncio.Task] = {}
        self._procs: dict[Upstream, asyncio.subprocess.Process] = {}
        self._serial: dict[tuple[str, str], int] = {}
        self._closing = False

    @property
    def services(self) -> dict[str, GatewayService]:
        return self.gateway.services

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs.values() if p.returncode is None]

    def active(self, service: str, version: str) -> list[Upstream]:
        """Slots that count toward the desired number (not being stopped)."""
        return [u for u in self.services[service].versions.get(version, []) if not u.stopping]

    # ------------------------------------------------------------------ scaling

    async def scale(self, service: str, version: str, n: int) -> None:
        """Start or stop instances until ``n`` are running; stopping drains first."""
        svc = self.services[service]
        svc.versions.setdefault(version, [])
        self.desired[(service, version)] = n
        active = self.active(service, version)
        for _ in range(n - len(active)):
            self._start_slot(service, version)
        if len(active) > n:
            # Stop the least useful first: not ready, then the newest.
            order = {"crashed": 0, "starting": 1, "unready": 2, "ready": 3}
            victims = sorted(active, key=lambda u: (order.get(u.state, 0), -_serial_of(u)))
            await asyncio.gather(*(self.stop_slot(u) for u in victims[: len(active) - n]))

    async def retire(self, service: str, version: str) -> None:
        """Stop every instance and forget the version."""
        await self.scale(service, version, 0)
        svc = self.services[service]
        if not svc.versions.get(version):
            svc.versions.pop(version, None)
        self.desired.pop((service, version), None)

    async def replace_all(self, service: str, version: str, surge: int = 1) -> None:
        """Rolling restart: start ``surge`` new instances, wait until ready, stop as many old."""
        old = list(self.active(service, version))
        while old:
            batch, old = old[:surge], old[surge:]
            new = [self._start_slot(service, version) for _ in batch]
            deadline = time.monotonic() + 30
            while not all(u.routable for u in new) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if not all(u.routable for u in new):
                # Leave the version as it was: the old instances keep serving.
                await asyncio.gather(*(self.stop_slot(u) for u in new))
                raise RuntimeError(
                    f"new instances of {service}/{version} did not become ready in 30s; "
                    "the old ones keep serving"
                )
            await asyncio.gather(*(self.stop_slot(u) for u in batch))

    def _start_slot(self, service: str, version: str) -> Upstream:
        k = self._serial.get((service, version), 0) + 1
        self._serial[(service, version)] = k
        up = Upstream(service, version, f"{service}-{version}-{k}")
        self.services[service].versions.setdefault(version, []).append(up)
        self._tasks[up] = asyncio.get_running_loop().create_task(self._run_slot(up))
        return up

    async def stop_slot(self, up: Upstream) -> None:
        """Drain the instance, then stop its process and remove the slot."""
        up.stopping = True
        await drain(up)
        proc = self._procs.get(up)
        if proc is not None:
            await terminate(proc, STOP_GRACE)
        task = self._tasks.pop(up, None)
        if task is not None:
            task.cancel()
        up.state = "stopped"
        ups = self.services[up.service].versions.get(up.version, [])
        if up in ups:
            ups.remove(up)

    async def _run_slot(self, up: Upstream) -> None:
        backoff = 0.5
        while not up.stopping and not self._closing:
            started = time.monotonic()
            code = await self._run_once(up)
            if up.stopping or self._closing:
                return
            up.restarts += 1
            up.state, up.port = "crashed", None
            up.close_idle()
            if time.monotonic() - started > 10:
                backoff = 0.5
            up.reason = (
                f"CrashLoopBackOff: {up.name} exited with code {code} "
                f"(restart {up.restarts}, next in {backoff:g}s)"
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _run_once(self, up: Upstream) -> int | None:
        behaviour = dict(self.behaviour.get((up.service, up.version), {}))
        behaviour.update(up.overrides)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "backends.local.service",
            up.service,
            up.version,
            up.name,
            json.dumps(behaviour),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.log,
        )
        self._procs[up] = proc
        up.pid = proc.pid
        up.state, up.port = "starting", None
        try:
            assert proc.stdout is not None
            try:
                line = await asyncio.wait_for(proc.stdout.readline(), PORT_TIMEOUT)
            except TimeoutError:
                line = b""
            if line.startswith(b"PORT "):
                up.port = int(line.split()[1])
                up.reason = "waiting for readiness"
            else:
                up.reason = f"{up.name} did not start"
                if proc.returncode is None:
                    await terminate(proc, 1.0)
            return await proc.wait()
        finally:
            # A live process stays listed so that stop_slot/shutdown can terminate it.
            if proc.returncode is not None:
                self._procs.pop(up, None)

    # ------------------------------------------------------------------ behaviour

    async def set_behaviour(
        self, service: str, version: str, patch: dict[str, Any], instance: str | None = None
    ) -> list[str]:
        """Change a version's (or one instance's) behaviour now and for future processes."""
        targets = self.active(service, version)
        if instance is not None:
            targets = [u for u in targets if u.name == instance]
            if not targets:
                raise KeyError(f"no instance '{instance}' in {service}/{version}")
            for u in targets:
                u.overrides.update(patch)
        else:
            self.behaviour.setdefault((service, version), {}).update(patch)
            for u in targets:
                for k in patch:
                    u.overrides.pop(k, None)
        failed = []
        body = json.dumps(patch).encode()
        for u in targets:
            if u.port is None:
                continue
            try:
                await _put(u.port, "/_admin/behaviour", body)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                failed.append(f"{u.name}: {exc}")
        return failed

    # ------------------------------------------------------------------ shutdown

    async def shutdown(self) -> None:
        """Stop every process: SIGTERM all at once, SIGKILL what is left after the grace."""
        self._closing = True
        for task in self._tasks.values():
            task.cancel()
        procs = list(self._procs.values())
        await asyncio.gather(*(terminate(p, STOP_GRACE) for p in procs), return_exceptions=True)


def _serial_of(up: Upstream) -> int:
    try:
        return int(up.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0


async def _put(port: int, path: str, body: bytes) -> None:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2.0)
    try:
        writer.write(request_bytes("PUT", path, [(b"content-type", b"application/json")], body))
        await asyncio.wait_for(read_response(reader), 2.0)
    finally:
        writer.close()
