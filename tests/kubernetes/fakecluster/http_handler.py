"""The HTTP side of the API emulator (emulator.py)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .patch import ApiError


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 front of the emulator: JSON bodies, chunked watch streams."""

    emu: Any  # the Emulator, set by Emulator.start() on a subclass
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        del format, args

    def _send(self, code: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            if method == "GET" and query.get("watch") in ("true", "1", "True"):
                self._watch(path, query)
                return
            body = json.loads(raw) if raw else None
            code, payload = self.emu.handle(
                method, path, query, body, self.headers.get("Content-Type", "")
            )
            self._send(code, payload)
        except ApiError as exc:
            self._send(exc.code, exc.status())

    def _watch(self, path: str, query: dict[str, str]) -> None:
        res, ns = self.emu.authorize_watch(path)
        timeout = min(float(query.get("timeoutSeconds") or 30), 60.0)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in self.emu.watch_events(
                res, ns, query.get("labelSelector", ""), query.get("resourceVersion"), timeout
            ):
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client went away (a reset, or an SSL EOF over HTTPS)
            pass
        self.close_connection = True

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")
