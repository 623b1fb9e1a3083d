"""A client of HAProxy's Runtime API (the stats socket, ``level admin``).

One command line per connection (HAProxy's non-interactive mode): the client connects,
writes the line, reads until HAProxy closes the connection. Several commands joined with
``;`` on one line run one after another inside HAProxy before it reads anything else from
that socket, which is how a blue/green switch is sent "in one batch". No prompt mode: a
connection per call keeps the client stateless and thread-safe.

The address is a UNIX socket path (``/run/haproxy/admin.sock``) or ``host:port`` of a
``stats socket ipv4@host:port`` line. Errors name the address: ``BackendUnavailable`` when
HAProxy cannot be reached, ``Forbidden`` when the socket's level is below ``admin``.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

from backends.base import BackendError, BackendUnavailable, Forbidden, NotFound

TIMEOUT = 5.0
# HAProxy reads one command line into a buffer of tune.bufsize (16 kB by default); longer
# batches are cut into lines below this many bytes (each still one connection).
MAX_LINE = 8000


@dataclass(frozen=True)
class Address:
    """Where the Runtime API listens: a UNIX socket path, or a TCP host and port."""

    path: str | None = None
    host: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        return self.path if self.path is not None else f"{self.host}:{self.port}"


def parse_address(text: str) -> Address:
    """``/path/to.sock`` (or a relative path), ``unix@/path``, ``host:port`` or
    ``ipv4@host:port``. ValueError for an empty value or a port that is not one."""
    value = str(text or "").strip()
    for prefix in ("unix@", "ipv4@", "ipv6@", "tcp@"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
            if prefix == "unix@":
                return Address(path=value) if value else _bad(text)
    if not value:
        return _bad(text)
    if "/" in value or ":" not in value:  # a socket path, absolute or relative
        return Address(path=value)
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return _bad(text)
    return Address(host=host, port=int(port))


def _bad(text: str) -> Address:
    raise ValueError(
        f"runtime: {text!r} is not a Runtime API address; use the stats socket's path "
        "(/run/haproxy/admin.sock) or host:port"
    )


class RuntimeClient:
    """Runs Runtime API commands; thread-safe (one connection per call)."""

    def __init__(self, address: Address | str, timeout: float = TIMEOUT) -> None:
        self.address = address if isinstance(address, Address) else parse_address(address)
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        addr = self.address
        try:
            if addr.path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(addr.path)
                except BaseException:
                    sock.close()
                    raise
                return sock
            assert addr.host is not None and addr.port is not None
            return socket.create_connection((addr.host, addr.port), timeout=self.timeout)
        except OSError as exc:
            raise BackendUnavailable(
                f"HAProxy Runtime API at {addr} unreachable: {exc.strerror or exc}"
            ) from None

    def execute(self, line: str) -> str:
        """Send one command line, return HAProxy's whole answer (text)."""
        if "\n" in line:
            raise ValueError("one command line at a time")
        sock = self._connect()
        chunks: list[bytes] = []
        try:
            sock.sendall(line.encode() + b"\n")
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except OSError as exc:
            raise BackendUnavailable(
                f"HAProxy Runtime API at {self.address}: {exc.strerror or exc} "
                f"(while running '{line[:60]}')"
            ) from None
        finally:
            sock.close()
        return b"".join(chunks).decode("utf-8", errors="replace")

    def run(self, commands: Sequence[str]) -> None:
        """Run commands that answer nothing on success (``set server ...``), as few lines as
        possible, in order. Raises on the first answer that is not empty."""
        for line in batch_lines(commands):
            answer = self.execute(line)
            problem = answer.strip()
            if problem:
                raise refusal(str(self.address), line, problem)


def batch_lines(commands: Sequence[str]) -> list[str]:
    """Commands joined with ``;`` into lines shorter than MAX_LINE, order kept."""
    lines: list[str] = []
    current = ""
    for cmd in commands:
        if ";" in cmd or "\n" in cmd:
            raise ValueError(f"not a single command: {cmd!r}")
        joined = f"{current}; {cmd}" if current else cmd
        if current and len(joined) > MAX_LINE:
            lines.append(current)
            joined = cmd
        current = joined
    if current:
        lines.append(current)
    return lines


def refusal(address: str, line: str, answer: str) -> BackendError:
    """The contract's error for HAProxy's answer to a command that should have said nothing."""
    first = answer.splitlines()[0] if answer else answer
    shown = line if len(line) <= 120 else line[:117] + "..."
    if "Permission denied" in answer or "privilege" in answer.lower():
        return Forbidden(
            f"HAProxy at {address} refused '{shown}': {first} (the stats socket needs "
            "'level admin')"
        )
    if "No such" in answer:
        return NotFound(f"HAProxy at {address}: {first} ('{shown}')")
    return BackendError(f"HAProxy at {address} refused '{shown}': {first}")
