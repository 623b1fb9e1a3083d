"""The gateway's readiness probe: one slow answer is forgiven, a refusal is not.

A real Gateway probes a real HTTP server on loopback whose /healthz can be made slow or
failing; the test watches the instance's state the way routing sees it.
"""

from __future__ import annotations

import asyncio
import time

from backends.local.gateway import HEALTH_TIMEOUT, Gateway, GatewayService, Upstream
from backends.local.metrics import Recorder


class Health:
    """An HTTP server answering /healthz after ``delay`` seconds with ``status``."""

    def __init__(self) -> None:
        self.delay, self.status, self.slow_left = 0.0, 200, 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                if self.slow_left > 0:
                    self.slow_left -= 1
                    await asyncio.sleep(HEALTH_TIMEOUT + 0.5)
                reason = b"OK" if self.status == 200 else b"Service Unavailable"
                writer.write(b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n" % (self.status, reason))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def states_for(up: Upstream, seconds: float) -> set[str]:
    seen: set[str] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.add(up.state)
        await asyncio.sleep(0.05)
    return seen


async def wait_state(up: Upstream, state: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while up.state != state:
        assert time.monotonic() < deadline, f"{up.name} never became {state}: {up.state}"
        await asyncio.sleep(0.05)


async def test_one_slow_probe_keeps_the_instance_ready_two_take_it_out() -> None:
    health = Health()
    port = await health.start()
    svc = GatewayService("courses", ["v1"])
    up = Upstream("courses", "v1", "courses-v1-0")
    up.port = port
    svc.versions["v1"].append(up)
    gw = Gateway({"courses": svc}, Recorder())
    await gw.start()
    try:
        await wait_state(up, "ready", 10)
        health.slow_left = 1  # one probe times out
        assert await states_for(up, HEALTH_TIMEOUT * 3) == {"ready"}
        health.slow_left = 1000  # every probe times out
        await wait_state(up, "unready", 15)
        assert "TimeoutError" in up.reason
        health.slow_left = 0
        await wait_state(up, "ready", 15)
        health.status = 503  # an explicit "not ready" counts at once
        await wait_state(up, "unready", 3)
        assert "HTTP 503" in up.reason
    finally:
        await gw.close()
        health.close()
