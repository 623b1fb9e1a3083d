"""Just enough HTTP/1.1 for the demo: read and write requests and responses on asyncio streams.

The demo's services, gateway, control API and load generator all speak through this module so
that each instance process imports nothing but the standard library (they must start fast and
stay small on a two-core laptop). Bodies need a Content-Length (or chunked encoding in
responses); requests with a chunked body are refused with 411.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

MAX_HEAD = 16 * 1024
MAX_BODY = 1024 * 1024

# Reason phrases as bytes, built once: responses are written on the demo's hottest path.
REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}

# Headers that describe one connection, never forwarded by a proxy (RFC 9110, 7.6.1).
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
    }
)


class HttpError(Exception):
    """A malformed message; ``status`` is the 4xx to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Message:
    """What requests and responses share: headers as (lower-case name, raw value) bytes."""

    __slots__ = ()
    headers: list[tuple[bytes, bytes]]

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower-case), or None."""
        for k, v in self.headers:
            if k == name:
                return v
        return None


class Request(_Message):
    """A parsed request. Header names are lower-case bytes; values are raw bytes."""

    __slots__ = ("body", "headers", "keep_alive", "method", "path", "query", "target")

    def __init__(
        self,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        self.method = method
        self.target = target
        path, _, query = target.partition("?")
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive

    def json(self) -> Any:
        """The body as JSON; raises HttpError(400) naming the problem."""
        if not self.body:
            raise HttpError(400, "a JSON body is required")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(400, f"the body is not valid JSON: {exc}") from None

    def params(self) -> dict[str, str]:
        """Query parameters (last one wins), percent-decoded."""
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.query, keep_blank_values=True))


class Response(_Message):
    """A parsed response from an upstream."""

    __slots__ = ("body", "headers", "keep_alive", "status")

    def __init__(
        self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, keep_alive: bool
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


def _parse_headers(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    headers = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, f"malformed header line {line[:60]!r}")
        headers.append((name.lower(), value.strip()))
    return headers


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HttpError(400, "connection closed in the middle of a message head") from None
    except asyncio.LimitOverrunError:
        raise HttpError(431, f"message head larger than {MAX_HEAD} bytes") from None


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    for k, v in headers:
        if k == b"content-length":
            try:
                n = int(v)
            except ValueError:
                raise HttpError(400, f"bad Content-Length {v[:20]!r}") from None
            if n < 0:
                raise HttpError(400, "negative Content-Length")
            return n
    return 0


def _wants_keep_alive(version: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    conn = b""
    for k, v in headers:
        if k == b"connection":
            conn = v.lower()
    if version == b"HTTP/1.0":
        return b"keep-alive" in conn
    return b"close" not in conn


def parse_request_head(head: bytes) -> tuple[str, str, list[tuple[bytes, bytes]], bool, int]:
    """(method, target, headers, keep_alive, content_length) from a head without its blank line."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise HttpError(400, f"malformed request line {lines[0][:80]!r}")
    headers = _parse_headers(lines[1:])
    for k, v in headers:
        if k == b"transfer-encoding" and v.lower() != b"identity":
            raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
    n = _content_length(headers)
    if n > MAX_BODY:
        raise HttpError(413, f"request body larger than {MAX_BODY} bytes")
    try:
        method, target = parts[0].decode("ascii"), parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise HttpError(400, "request line is not ASCII") from None
    return method, target, headers, _wants_keep_alive(parts[2], headers), n


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """Read one request; None when the peer closed the connection between requests."""
    head = await _read_head(reader)
    if head is None:
        return None
    method, target, headers, keep_alive, n = parse_request_head(head[:-4])
    try:
        body = await reader.readexactly(n) if n else b""
    except asyncio.IncompleteReadError:
        raise HttpError(400, "connection closed in the middle of the request body") from None
    return Request(method, target, headers, body, keep_alive)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            # Trailers end with an empty line.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readexactly(2)
        if len(out) > MAX_BODY * 8:
            raise HttpError(502, "upstream response too large")


def parse_status_line(line: bytes) -> tuple[bytes, int]:
    """(HTTP version, status) from a response's first line; HttpError(502) if malformed."""
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HttpError(502, f"malformed status line {line[:80]!r}")
    try:
        return parts[0], int(parts[1])
    except ValueError:
        raise HttpError(502, f"malformed status line {line[:80]!r}") from None


async def read_response(reader: asyncio.StreamReader, method: str = "GET") -> Response | None:
    """Read one response; None if the connection closed before a single byte arrived."""
    head = await _read_head(reader)
    if head is None:
        return None
    lines = head[:-4].split(b"\r\n")
    version, status = parse_status_line(lines[0])
    headers = _parse_headers(lines[1:])
    keep_alive = _wants_keep_alive(version, headers)
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return Response(status, headers, b"", keep_alive)
    chunked = any(k == b"transfer-encoding" and b"chunked" in v.lower() for k, v in headers)
    if chunked:
        body = await _read_chunked(reader)
    elif any(k == b"content-length" for k, _ in headers):
        body = await reader.readexactly(_content_length(headers))
    else:
        body = await reader.read(MAX_BODY * 8)
        keep_alive = False
    return Response(status, headers, body, keep_alive)


def response_bytes(
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...] = (),
    *,
    content_type: bytes | None = b"application/json",
    keep_alive: bool = True,
) -> bytes:
    """Serialize a response with Content-Length and the Connection header."""
    reason = REASONS.get(status, b"Status")
    out = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
    if content_type is not None:
        out.append(b"content-type: " + content_type + b"\r\n")
    for k, v in headers:
        out.append(k + b": " + v + b"\r\n")
    out.append(b"content-length: %d\r\n" % len(body))
    out.append(b"connection: keep-alive\r\n\r\n" if keep_alive else b"connection: close\r\n\r\n")
    out.append(body)
    return b"".join(out)


def json_response(status: int, obj: Any, *, keep_alive: bool = True) -> bytes:
    """A JSON response."""
    return response_bytes(status, json.dumps(obj).encode(), keep_alive=keep_alive)


def error_response(status: int, message: str, *, keep_alive: bool = True) -> bytes:
    """A JSON error: ``{"error": message}``."""
    return json_response(status, {"error": message}, keep_alive=keep_alive)


def request_bytes(
    method: str,
    target: str,
    headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...] = (),
    body: bytes = b"",
    host: bytes = b"127.0.0.1",
) -> bytes:
    """Serialize a keep-alive request."""
    out = [f"{method} {target} HTTP/1.1\r\n".encode(), b"host: " + host + b"\r\n"]
    for k, v in headers:
        out.append(k + b": " + v + b"\r\n")
    if body or method in ("POST", "PUT", "PATCH"):
        out.append(b"content-length: %d\r\n" % len(body))
    out.append(b"\r\n")
    out.append(body)
    return b"".join(out)


async def serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handle: Any,
    idle: set[asyncio.StreamWriter] | None = None,
) -> None:
    """Serve keep-alive requests on one connection with ``await handle(request) -> bytes``.

    ``idle`` (optional) holds the writer while it waits for the next request, so that a
    shutting-down server can close idle connections without cutting a request short.
    """
    try:
        while True:
            if idle is not None:
                idle.add(writer)
            try:
                req = await read_request(reader)
            except HttpError as exc:
                writer.write(error_response(exc.status, exc.message, keep_alive=False))
                await writer.drain()
                return
            finally:
                if idle is not None:
                    idle.discard(writer)
            if req is None:
                return
            try:
                out = await handle(req)
            except Exception as exc:  # a bug must cost one request, never the server
                import traceback

                traceback.print_exc()
                out = error_response(500, f"internal error: {type(exc).__name__}: {exc}")
            if not req.keep_alive:
                out = out.replace(b"connection: keep-alive\r\n", b"connection: close\r\n", 1)
            writer.write(out)
            await writer.drain()
            if not req.keep_alive or b"connection: close\r\n" in out[: out.find(b"\r\n\r\n")]:
                return
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
        return
    finally:
        writer.close()
