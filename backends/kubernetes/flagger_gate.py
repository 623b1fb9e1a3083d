"""The HTTP endpoints Flagger's gate webhooks call (``rollout gate``).

Flagger POSTs its ``CanaryWebhookPayload`` (JSON: ``name``, ``namespace``, ``phase``,
``checksum``, ``metadata``) to each webhook's URL and treats 200-202 as yes, anything else
(or no answer) as no (pkg/controller/webhook.go). Endpoints, one per webhook type:

    POST /gate/confirm-rollout           200 open, 403 closed
    POST /gate/confirm-traffic-increase  200 open, 403 closed
    POST /gate/confirm-promotion         200 open, 403 closed
    POST /gate/rollback                  200 roll back now, 403 not requested
    GET  /healthz                        200 while the gate store answers
    GET  /gates                          every Canary's gate state, JSON

The answer comes from the Canary's ``GateState`` (flagger_gates.py) in the namespace's
ConfigMap; an answer that uses up a one-time approval writes the state back (CAS) and
records an Event on the Canary. When the state cannot be read the answer is 503: Flagger
then holds (confirm-*) and does not roll back, and asks again at its next interval.
A Canary of another namespace gets 403: a gate serves the namespace of its environment.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from backends.base import BackendError
from backends.kubernetes.flagger import GateStore, KubeCalls, record_event
from backends.kubernetes.flagger_gates import Answer, GateState, answer, parse_payload
from backends.kubernetes.flagger_parse import GATE_TYPES, ROLLBACK

ACTOR = "rollout-gate"
MAX_BODY = 64 * 1024  # Flagger's payload is a few hundred bytes


class GateServer:
    """Serve the gate endpoints for one namespace until ``close()``."""

    def __init__(
        self,
        calls: KubeCalls,
        *,
        listen: str = "127.0.0.1",
        port: int = 0,
        log: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.calls = calls
        self.store = GateStore(calls)
        self.log = log or (lambda _record: None)
        self.calls_answered = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one JSON log line per call instead (GateServer.log)

            def _send(self, code: int, body: Any) -> None:
                data = (json.dumps(body) + "\n").encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                code, body = server.get(self.path)
                self._send(code, body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._send(413, {"error": "body too large"})
                    return
                raw = self.rfile.read(length) if length > 0 else b""
                try:
                    code, body = server.post(self.path, raw)
                except Exception as exc:  # any failure answers "closed", never a dropped call
                    code, body = 500, {"open": False, "error": f"{type(exc).__name__}: {exc}"}
                self._send(code, body)

        self._httpd = ThreadingHTTPServer((listen, port), Handler)
        self._httpd.daemon_threads = True
        self.address = f"http://{listen}:{self._httpd.server_address[1]}"
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> GateServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # ------------------------------------------------------------------ handlers (testable)

    def get(self, path: str) -> tuple[int, Any]:
        if path == "/healthz":
            try:
                self.store.read()
            except BackendError as exc:
                return 503, {"ok": False, "error": str(exc)}
            return 200, {"ok": True}
        if path == "/gates":
            try:
                cm = self.store.read()
            except BackendError as exc:
                return 503, {"error": str(exc)}
            data = (cm or {}).get("data") or {}
            states = {
                name: json.loads(GateState.from_json(v).to_json()) for name, v in data.items()
            }
            return 200, {"namespace": self.calls.namespace, "canaries": states}
        return 404, {"error": f"no such endpoint {path}; POST /gate/<type>, GET /healthz"}

    def post(self, path: str, raw: bytes) -> tuple[int, Any]:
        gate = path.removeprefix("/gate/").split("?", 1)[0]
        if not path.startswith("/gate/") or gate not in GATE_TYPES:
            return 404, {"error": f"no gate {path}; gates: /gate/{', /gate/'.join(GATE_TYPES)}"}
        try:
            name, namespace, phase, _meta = parse_payload(raw)
        except ValueError as exc:
            return 400, {"error": str(exc)}
        if namespace != self.calls.namespace:
            self._log(gate, name, namespace, phase, 403, "namespace not served")
            return 403, {
                "open": False,
                "message": f"this gate serves namespace '{self.calls.namespace}', "
                f"not '{namespace}'",
            }
        got: list[Answer] = []

        def change(state: GateState) -> GateState | None:
            result = answer(state, gate)
            got[:] = [result]
            return result.state

        try:
            self.store.update(name, change)
        except BackendError as exc:
            self._log(gate, name, namespace, phase, 503, str(exc))
            return 503, {"open": False, "message": f"gate state unreadable: {exc}"}
        result = got[0]
        self.calls_answered += 1
        if result.state is not None:  # a one-time approval (or the rollback) used up
            what = "rolled back" if gate == ROLLBACK else f"{gate} approved"
            record_event(self.calls, name, f"gate-{gate}", ACTOR, f"{what} ({phase or 'no phase'})")
        code = 200 if result.open else 403
        self._log(gate, name, namespace, phase, code, result.text)
        return code, {"open": result.open, "message": result.text}

    def _log(self, gate: str, name: str, ns: str, phase: str, code: int, text: str) -> None:
        self.log(
            {
                "gate": gate,
                "canary": name,
                "namespace": ns,
                "phase": phase,
                "code": code,
                "message": text,
            }
        )
