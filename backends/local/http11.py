"""Just enough HTTP/1.1 for the demo: read and write requests and responses on asyncio streams.

The demo's services, gateway, control API and load generator all speak through this module so
that each instance process imports nothing but the standard library (they must start fast and
stay small on a two-core laptop). Bodies need a Content-Length (or chunked encoding in
responses); requests with a chunked body are refused with 411.

Requests are framed strictly (RFC 9112), because the gateway is a proxy and a request that
two parsers would frame differently is a request-smuggling vector: conflicting or invalid
Content-Length, Transfer-Encoding with Content-Length (or in HTTP/1.0, or without chunked
last), obsolete line folding, a header line without a colon or with whitespace before it,
control characters, bare CR, and bare LF line endings (RFC 9112 2.2 allows a recipient to
accept them; this one answers 400 instead, as llhttp does) are all answered with 400 and
the connection is closed; a head over ``MAX_HEAD`` bytes gets 431.
"""

from __future__ import annotations

import asyncio
import json
import re
from http import HTTPStatus
from typing import Any

MAX_HEAD = 16 * 1024
MAX_BODY = 1024 * 1024
READ_SIZE = 64 * 1024  # bytes asked of a connection at a time

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


# RFC 9110 5.6.2: a field name (and a method) is a token.
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
# Control characters other than HTAB, CR and LF (CR and LF are checked by counting lines).
_CTL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_VERSION = re.compile(rb"HTTP/1\.[0-9]")


def parse_headers(lines: list[bytes], status: int = 400) -> list[tuple[bytes, bytes]]:
    """Header lines as (lower-case name, value without surrounding whitespace); ``status``
    is the HttpError to raise for a malformed line (400 for requests, 502 for upstreams)."""
    headers = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            if line[:1] in (b" ", b"\t"):
                raise HttpError(status, f"obsolete line folding is not accepted: {line[:60]!r}")
            raise HttpError(status, f"malformed header line {line[:60]!r}")
        headers.append((name.lower(), value.strip(b" \t")))
    return headers


def split_head(head: bytes, status: int = 400) -> list[bytes]:
    """The lines of a head (without its blank line); HttpError on bare CR, bare LF or
    control characters, which other parsers may read differently."""
    lines = head.split(b"\r\n")
    crlf = len(lines) - 1
    if head.count(b"\n") != crlf:
        raise HttpError(status, "bare LF line ending (lines must end with CRLF)")
    if head.count(b"\r") != crlf:
        raise HttpError(status, "bare CR in the message head")
    if _CTL.search(head) is not None:
        raise HttpError(status, "control character in the message head")
    return lines


def head_end(buf: bytes | bytearray, status: int = 400) -> int:
    """Where the head in ``buf`` ends (the index of its blank line's CRLF CRLF), or -1 while
    it is incomplete. HttpError as soon as the head uses bare LF line endings (such a head
    never ends with CRLF CRLF: waiting would leave the client without an answer) and 431
    (``status`` for upstreams) when it is larger than ``MAX_HEAD``."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if buf.count(b"\n") != buf.count(b"\r\n"):
            raise HttpError(status, "bare LF line ending (lines must end with CRLF)")
        if len(buf) > MAX_HEAD:
            raise HttpError(
                431 if status == 400 else status, f"message head larger than {MAX_HEAD} bytes"
            )
        return -1
    if end > MAX_HEAD:
        raise HttpError(
            431 if status == 400 else status, f"message head larger than {MAX_HEAD} bytes"
        )
    return end


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HttpError(400, "connection closed in the middle of a message head") from None
    except asyncio.LimitOverrunError:
        raise HttpError(431, f"message head larger than {MAX_HEAD} bytes") from None


def content_length(headers: list[tuple[bytes, bytes]], status: int = 400) -> int | None:
    """The body length the Content-Length headers give, or None without one.

    RFC 9112 6.3: a value that is not a plain decimal number, or several headers (or a list)
    with different values, make the framing invalid: HttpError(``status``). Identical
    repeated values are one length (RFC 9110 8.6 allows either)."""
    found: bytes | None = None
    for k, v in headers:
        if k != b"content-length":
            continue
        if not v.isdigit():  # ASCII digits only: no sign, space, underscore or list
            raise HttpError(status, f"invalid Content-Length {v[:20]!r}")
        if found is not None and v.lstrip(b"0") != found.lstrip(b"0"):
            raise HttpError(status, "conflicting Content-Length headers")
        found = v
    if found is None:
        return None
    if len(found) > 12:
        return MAX_BODY * 1024  # larger than any limit here; int() of a huge string is slow
    return int(found)


def _wants_keep_alive(version: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    conn = b""
    for k, v in headers:
        if k == b"connection":
            conn = v.lower()
    if version == b"HTTP/1.0":
        return b"keep-alive" in conn
    return b"close" not in conn


def _request_body_length(version: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """RFC 9112 6.1 and 6.3 for a request: the body length, or HttpError."""
    codings = [v for k, v in headers if k == b"transfer-encoding"]
    if codings:
        if version == b"HTTP/1.0":
            raise HttpError(400, "Transfer-Encoding in an HTTP/1.0 request")
        if any(k == b"content-length" for k, _ in headers):
            raise HttpError(400, "both Transfer-Encoding and Content-Length")
        last = b",".join(codings).rsplit(b",", 1)[-1].strip(b" \t").lower()
        if last == b"chunked":
            raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
        raise HttpError(400, "Transfer-Encoding whose final coding is not chunked")
    n = content_length(headers)
    if n is None:
        return 0
    if n > MAX_BODY:
        raise HttpError(413, f"request body larger than {MAX_BODY} bytes")
    return n


def parse_request_head(head: bytes) -> tuple[str, str, list[tuple[bytes, bytes]], bool, int]:
    """(method, target, headers, keep_alive, content_length) from a head without its blank line."""
    lines = split_head(head)
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise HttpError(400, f"malformed request line {lines[0][:80]!r}")
    version = parts[2]
    if not _VERSION.fullmatch(version):
        if re.fullmatch(rb"HTTP/[0-9]\.[0-9]", version):
            raise HttpError(505, "only HTTP/1.x is served here")
        raise HttpError(400, f"malformed request line {lines[0][:80]!r}")
    headers = parse_headers(lines[1:])
    n = _request_body_length(version, headers)
    try:
        method, target = parts[0].decode("ascii"), parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise HttpError(400, "request line is not ASCII") from None
    return method, target, headers, _wants_keep_alive(version, headers), n


class RequestFramer:
    """Cuts the bytes of one client connection into requests.

    ``feed`` what arrives, then ``pop`` requests until it returns None (incomplete: feed
    more). Pipelined requests wait in ``buf``. ``pop`` raises HttpError for a malformed
    request; the connection must then be answered and closed (its framing is lost).
    """

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data

    @property
    def buffered(self) -> int:
        """Bytes received and not yet taken as a request."""
        return len(self.buf)

    def clear(self) -> None:
        """Drop what is buffered (the connection is being closed)."""
        self.buf.clear()

    def pop(self) -> Request | None:
        buf = self.buf
        end = head_end(buf)
        if end < 0:
            return None
        method, target, headers, keep_alive, n = parse_request_head(bytes(buf[:end]))
        total = end + 4 + n
        if len(buf) < total:
            return None  # the body is still arriving
        body = bytes(buf[end + 4 : total])
        del buf[:total]
        return Request(method, target, headers, body, keep_alive)

    def at_eof(self) -> None:
        """The peer closed its side: HttpError(400) if it left a request unfinished."""
        if self.buf.strip():
            raise HttpError(400, "connection closed in the middle of a request")


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
    headers = parse_headers(lines[1:], 502)
    keep_alive = _wants_keep_alive(version, headers)
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return Response(status, headers, b"", keep_alive)
    chunked = any(k == b"transfer-encoding" and b"chunked" in v.lower() for k, v in headers)
    if chunked:
        body = await _read_chunked(reader)
    elif (n := content_length(headers, 502)) is not None:
        body = await reader.readexactly(n)
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
    A malformed request is answered with its 4xx and the connection closed.
    """
    framer = RequestFramer()
    try:
        while True:
            if idle is not None:
                idle.add(writer)
            try:
                req = framer.pop()
                while req is None:
                    data = await reader.read(READ_SIZE)
                    if not data:
                        framer.at_eof()
                        return
                    framer.feed(data)
                    req = framer.pop()
            except HttpError as exc:
                writer.write(error_response(exc.status, exc.message, keep_alive=False))
                await writer.drain()
                return
            finally:
                if idle is not None:
                    idle.discard(writer)
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
