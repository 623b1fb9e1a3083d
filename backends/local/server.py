"""An HTTP/1.1 keep-alive server as an asyncio Protocol: the gateway's client-facing side.

``serve_connection`` (StreamReader based) is simpler and serves the instances and the control
API; the gateway takes every request of the demo, so its front parses requests straight
from ``data_received`` and runs one task per request, without a StreamReader per connection.
Requests on one connection are answered in order, one at a time (no pipelining in flight;
pipelined bytes wait in the buffer).
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable

from backends.local.http11 import (
    MAX_BODY,
    MAX_HEAD,
    HttpError,
    Request,
    RequestFramer,
    error_response,
)

Handler = Callable[[Request], Awaitable[bytes]]


class HttpServerProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, handle: Handler, conns: set[HttpServerProtocol]) -> None:
        self.handle = handle
        self.conns = conns
        self.transport: asyncio.Transport | None = None
        self.framer = RequestFramer()
        self.busy = False
        self.closed = False
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.conns.discard(self)

    def data_received(self, data: bytes) -> None:
        self.framer.feed(data)
        if not self.busy:
            self._next()
        elif self.framer.buffered > MAX_HEAD + MAX_BODY:
            self._fail(413, "too much pipelined data")

    @property
    def idle(self) -> bool:
        return not self.busy

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _fail(self, status: int, message: str) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(error_response(status, message, keep_alive=False))
            self.transport.close()
        self.framer.clear()

    def _next(self) -> None:
        """Start the next complete request in the buffer, if there is one."""
        try:
            req = self.framer.pop()
        except HttpError as exc:
            self._fail(exc.status, exc.message)
            return
        if req is None:
            return  # incomplete: more bytes will come
        self.busy = True
        self.task = asyncio.get_running_loop().create_task(self._serve(req))

    async def _serve(self, req: Request) -> None:
        try:
            out = await self.handle(req)
        except Exception as exc:  # a bug must cost one request, never the server
            traceback.print_exc()
            out = error_response(500, f"internal error: {type(exc).__name__}: {exc}")
        if self.closed or self.transport is None:
            return
        close = not req.keep_alive or b"connection: close\r\n" in out[: out.find(b"\r\n\r\n")]
        if close and not req.keep_alive:
            out = out.replace(b"connection: keep-alive\r\n", b"connection: close\r\n", 1)
        self.transport.write(out)
        if close:
            self.transport.close()
            return
        self.busy = False
        if self.framer.buffered:
            self._next()


async def start_http_server(
    handle: Handler, port: int = 0, backlog: int = 2048
) -> tuple[asyncio.Server, set[HttpServerProtocol]]:
    """Listen on 127.0.0.1:``port``; returns the server and its live connections."""
    conns: set[HttpServerProtocol] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: HttpServerProtocol(handle, conns), "127.0.0.1", port, backlog=backlog
    )
    return server, conns
