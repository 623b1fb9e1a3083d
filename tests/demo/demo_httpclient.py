"""A fast keep-alive client for demo tests: many requests to the gateway, bounded in count and time."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from backends.local.http11 import read_response, request_bytes


@dataclass(frozen=True)
class Result:
    status: int  # 0: the connection failed
    version: str
    instance: str


def _split(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    return parts.hostname, int(parts.port or 80)


async def fire(
    gateway_url: str,
    n: int,
    target: str = "/courses/3",
    headers: list[tuple[bytes, bytes]] | None = None,
    concurrency: int = 16,
    deadline: float = 60.0,
) -> list[Result]:
    """Send ``n`` GETs over ``concurrency`` connections; stop early after ``deadline`` seconds."""
    host, port = _split(gateway_url)
    data = request_bytes("GET", target, headers or [])
    results: list[Result] = []
    remaining = [n]
    stop_at = time.monotonic() + deadline

    async def worker() -> None:
        conn = None
        while remaining[0] > 0 and time.monotonic() < stop_at:
            remaining[0] -= 1
            try:
                if conn is None:
                    conn = await asyncio.open_connection(host, port)
                conn[1].write(data)
                resp = await asyncio.wait_for(read_response(conn[0]), 30)
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                results.append(Result(0, "", ""))
                conn = None
                continue
            if resp is None:
                results.append(Result(0, "", ""))
                conn = None
                continue
            results.append(
                Result(
                    resp.status,
                    (resp.header(b"x-lms-version") or b"").decode(),
                    (resp.header(b"x-lms-instance") or b"").decode(),
                )
            )
            if not resp.keep_alive:
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def fire_sync(gateway_url: str, n: int, **kw: object) -> list[Result]:
    """``fire`` from synchronous code."""
    return asyncio.run(fire(gateway_url, n, **kw))  # type: ignore[arg-type]
