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
accept them; this one answers 400 instead, as llhttp does), and an HTTP/1.1 request with no
Host header, more than one, or one that is not host[:port] (RFC 9112 3.2) are all answered
with 400 and the connection is closed; a head over ``MAX_HEAD`` bytes gets 431.
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


# The strict grammar of a head (RFC 9112 2.2, 3, 5; RFC 9110 5.5, 5.6.2): lines end with
# CRLF and hold visible characters, obs-text, spaces and tabs; a field name (and a method) is
# a token, followed at once by the colon. A head that keeps to it has no bare CR or LF, no
# other control character, no whitespace before a colon and no obsolete line folding (a
# line that starts with whitespace): the things two parsers may read differently. The checks
# use bytes.translate (delete the allowed bytes, see what is left), which costs a fraction of
# a regular expression on this path.
_T = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LINE_CHARS = b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100))
_CTL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # control characters but HTAB, CR, LF
_HTTP1 = (b"HTTP/1.1", b"HTTP/1.0")
# Host = uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): an IP literal or a reg-name.
_HOST = re.compile(rb"(\[[0-9A-Fa-f:.vV]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(:[0-9]*)?")


def _head_lines(head: bytes, status: int, request: bool) -> list[bytes]:
    """The lines of a head (without its blank line) that has nothing but CRLF line ends and
    allowed characters; else the HttpError that says what is wrong."""
    lines = head.split(b"\r\n")
    if head.translate(None, _LINE_CHARS) != b"\r\n" * (len(lines) - 1):
        raise _head_error(head, status, request)
    return lines


def _head_error(head: bytes, status: int, request: bool) -> HttpError:
    """What is wrong with a head that does not match the grammar (the slow path: it only
    runs for a message that is refused anyway), as the HttpError to answer with."""
    lines = head.split(b"\r\n")
    if head.count(b"\n") != len(lines) - 1:
        return HttpError(status, "bare LF line ending (lines must end with CRLF)")
    if head.count(b"\r") != len(lines) - 1:
        return HttpError(status, "bare CR in the message head")
    if _CTL.search(head) is not None:
        return HttpError(status, "control character in the message head")
    first = lines[0]
    if request:
        parts = first.split(b" ")
        if len(parts) == 3 and re.fullmatch(rb"HTTP/[02-9]\.[0-9]", parts[2]):
            return HttpError(505, "only HTTP/1.x is served here")
        if not re.fullmatch(_T + rb" [!-~]+ HTTP/1\.[0-9]", first):
            return HttpError(status, f"malformed request line {first[:80]!r}")
    elif not re.fullmatch(rb"HTTP/1\.[0-9] [0-9]{3}( .*)?", first, re.S):
        return HttpError(status, f"malformed status line {first[:80]!r}")
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            return HttpError(status, f"obsolete line folding is not accepted: {line[:60]!r}")
        if not re.fullmatch(_T + rb":.*", line, re.S):
            return HttpError(status, f"malformed header line {line[:60]!r}")
    return HttpError(status, "malformed message head")


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


def _one_length(found: bytes | None, value: bytes, status: int) -> bytes:
    """A Content-Length value checked against RFC 9112 6.3 and the one seen before it."""
    if not value.isdigit():  # ASCII digits only: no sign, space, underscore or list
        raise HttpError(status, f"invalid Content-Length {value[:20]!r}")
    if found is not None and value.lstrip(b"0") != found.lstrip(b"0"):
        raise HttpError(status, "conflicting Content-Length headers")
    return value


def _length(value: bytes) -> int:
    if len(value) > 12:
        return MAX_BODY * 1024  # larger than any limit here; int() of a huge string is slow
    return int(value)


def parse_request_head(head: bytes) -> tuple[str, str, list[tuple[bytes, bytes]], bool, int]:
    """(method, target, headers, keep_alive, content_length) from a head without its blank
    line; HttpError (400, 411, 413, 505) if the request is malformed or refused.

    One pass over the header lines checks each and notes what frames the body."""
    lines = _head_lines(head, 400, True)
    parts = lines[0].split(b" ")
    if (
        len(parts) != 3
        or not parts[0]
        or parts[0].translate(None, _TCHAR)
        or not parts[1]
        or not parts[1].isascii()
        or (parts[2] not in _HTTP1 and not re.fullmatch(rb"HTTP/1\.[0-9]", parts[2]))
    ):
        raise _head_error(head, 400, True)
    version = parts[2]
    headers = []
    length: bytes | None = None
    codings: bytes | None = None
    conn = b""
    hosts = 0
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name.translate(None, _TCHAR):
            raise _head_error(head, 400, True)
        name = name.lower()
        value = value.strip(b" \t")
        headers.append((name, value))
        if name == b"content-length":
            length = _one_length(length, value, 400)
        elif name == b"transfer-encoding":
            codings = value if codings is None else codings + b"," + value
        elif name == b"connection":
            conn = value.lower()
        elif name == b"host":
            hosts += 1
            if hosts > 1:
                raise HttpError(400, "more than one Host header")
            if not _HOST.fullmatch(value):
                raise HttpError(400, "a Host header that is not host[:port]")
    keep_alive = b"keep-alive" in conn if version == b"HTTP/1.0" else b"close" not in conn
    # RFC 9112 6.1 and 6.3: how long the body is, or why that cannot be known.
    if codings is not None:
        if version == b"HTTP/1.0":
            raise HttpError(400, "Transfer-Encoding in an HTTP/1.0 request")
        if length is not None:
            raise HttpError(400, "both Transfer-Encoding and Content-Length")
        if codings.rsplit(b",", 1)[-1].strip(b" \t").lower() == b"chunked":
            raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
        raise HttpError(400, "Transfer-Encoding whose final coding is not chunked")
    n = 0 if length is None else _length(length)
    if n > MAX_BODY:
        raise HttpError(413, f"request body larger than {MAX_BODY} bytes")
    if not hosts and version != b"HTTP/1.0":
        raise HttpError(400, "a request without a Host header (RFC 9112, 3.2)")
    return parts[0].decode(), parts[1].decode(), headers, keep_alive, n


def parse_response_head(
    head: bytes, status: int = 502
) -> tuple[int, list[tuple[bytes, bytes]], bool, int | None, bytes | None]:
    """(status, headers, keep_alive, Content-Length or None, Transfer-Encoding or None) from
    a response head without its blank line; HttpError(``status``) if it is malformed or its
    Content-Length is invalid or conflicting."""
    lines = _head_lines(head, status, False)
    parts = lines[0].split(b" ", 2)
    version = parts[0]
    if (
        len(parts) < 2
        or (version not in _HTTP1 and not re.fullmatch(rb"HTTP/1\.[0-9]", version))
        or len(parts[1]) != 3
        or not parts[1].isdigit()
    ):
        raise _head_error(head, status, False)
    headers = []
    length: bytes | None = None
    codings: bytes | None = None
    conn = b""
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name.translate(None, _TCHAR):
            raise _head_error(head, status, False)
        name = name.lower()
        value = value.strip(b" \t")
        headers.append((name, value))
        if name == b"content-length":
            length = _one_length(length, value, status)
        elif name == b"transfer-encoding":
            codings = value if codings is None else codings + b"," + value
        elif name == b"connection":
            conn = value.lower()
    keep_alive = b"keep-alive" in conn if version == b"HTTP/1.0" else b"close" not in conn
    n = None if length is None else _length(length)
    return int(parts[1]), headers, keep_alive, n, codings


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


async def read_response(reader: asyncio.StreamReader, method: str = "GET") -> Response | None:
    """Read one response; None if the connection closed before a single byte arrived."""
    head = await _read_head(reader)
    if head is None:
        return None
    status, headers, keep_alive, n, codings = parse_response_head(head[:-4])
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return Response(status, headers, b"", keep_alive)
    if codings is not None and b"chunked" in codings.lower():
        body = await _read_chunked(reader)
    elif n is not None:
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
