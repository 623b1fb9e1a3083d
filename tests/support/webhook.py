"""A webhook receiver on 127.0.0.1 for notification tests (Slack-style JSON bodies)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """A webhook receiver on 127.0.0.1: records bodies; behaviour set per test."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.attempts = 0
        self.status = 200
        self.release = threading.Event()  # set: a hanging receiver lets requests go
        self.hang = False
        self.entered = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length))
                outer.attempts += 1
                outer.entered.set()
                if outer.hang:
                    outer.release.wait(10)
                outer.bodies.append(body)
                self.send_response(outer.status)
                self.send_header("content-length", "2")
                self.end_headers()
                try:
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the client gave up on a hanging request

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/SECRET"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def kinds(self) -> list[str]:
        return [b["attachments"][0]["fields"][1]["value"] for b in self.bodies]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
