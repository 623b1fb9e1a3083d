"""The gateway's side of a connection to an instance: an asyncio Protocol, no StreamReader.

This is the hottest path of the demo (every proxied request crosses it twice), so responses
are parsed straight from ``data_received`` into a future: no reader task, no ``wait_for``
task. Responses need a Content-Length (the demo's services always send one) or end at
connection close.
"""

from __future__ import annotations

import asyncio

from backends.local.http11 import (
    MAX_BODY,
    HttpError,
    Response,
    head_end,
    parse_response_head,
)

# Requests in flight -> their deadline (loop time). One sweeper task per gateway expires
# them, which is cheaper than a timer per request on the hottest path.
IN_FLIGHT: dict[UpstreamConn, float] = {}


async def sweep_timeouts(interval: float = 0.5) -> None:
    """Fail requests past their deadline with TimeoutError (and close their connection)."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        now = loop.time()
        for conn, deadline in list(IN_FLIGHT.items()):
            if now > deadline:
                conn.expire()


class UpstreamConn(asyncio.Protocol):
    """One keep-alive connection to an instance, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buf = bytearray()
        self._waiter: asyncio.Future[Response | None] | None = None
        self._got_bytes = False
        self._head: tuple[int, list[tuple[bytes, bytes]], bool, int] | None = None
        self._head_len = 0
        self._method = "GET"

    # -- protocol callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        self._buf += data
        if self._waiter is not None and not self._waiter.done():
            try:
                self._parse()
            except HttpError as exc:
                self._waiter.set_exception(exc)
                self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        w = self._waiter
        if w is None or w.done():
            return
        if not self._got_bytes:
            w.set_result(None)  # closed before answering: the caller may retry elsewhere
        elif self._head is not None and self._head[3] < 0:
            status, headers, _, _ = self._head
            w.set_result(Response(status, headers, bytes(self._buf[self._head_len :]), False))
        else:
            w.set_exception(asyncio.IncompleteReadError(bytes(self._buf), None))

    # -- parsing
    def _parse(self) -> None:
        if self._head is None:
            end = head_end(self._buf, 502)
            if end < 0:
                return
            self._head = _parse_head(bytes(self._buf[:end]), self._method)
            self._head_len = end + 4
        status, headers, keep_alive, length = self._head
        if length < 0:
            if len(self._buf) - self._head_len > MAX_BODY * 8:
                raise HttpError(502, "upstream response too large")
            return  # read until close
        total = self._head_len + length
        if len(self._buf) < total:
            return
        body = bytes(self._buf[self._head_len : total])
        del self._buf[:total]
        self._head = None
        assert self._waiter is not None
        self._waiter.set_result(Response(status, headers, body, keep_alive))

    # -- API
    async def request(self, data: bytes, method: str, timeout: float) -> Response | None:
        """Send one request; the response, or None if the connection closed before a byte.

        Raises TimeoutError after ``timeout`` seconds (give or take the sweeper's interval).
        """
        if self.closed or self.transport is None:
            return None
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._got_bytes = bool(self._buf)
        self._method = method
        IN_FLIGHT[self] = loop.time() + timeout
        try:
            self.transport.write(data)
            if self._buf:
                self._parse()
            return await self._waiter
        finally:
            IN_FLIGHT.pop(self, None)

    def expire(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(TimeoutError())
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _parse_head(head: bytes, method: str) -> tuple[int, list[tuple[bytes, bytes]], bool, int]:
    """(status, headers, keep_alive, body length or -1 for read-until-close)."""
    status, headers, keep_alive, n, codings = parse_response_head(head)
    if codings is not None:
        raise HttpError(502, "the demo gateway takes no Transfer-Encoding from upstreams")
    length = -1 if n is None else n
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        length = 0
    if length < 0:
        keep_alive = False
    return status, headers, keep_alive, length


async def open_upstream(port: int) -> UpstreamConn:
    """Connect to an instance on 127.0.0.1; raises OSError if it refuses."""
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(UpstreamConn, "127.0.0.1", port)
    return proto
