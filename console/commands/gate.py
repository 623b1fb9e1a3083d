"""``rollout gate [--env NAME] [--listen ADDR] [--port N]``: Flagger's gate webhooks.

Serves ``POST /gate/confirm-rollout``, ``/gate/confirm-traffic-increase``,
``/gate/confirm-promotion`` and ``/gate/rollback`` for the Canaries of the environment's
namespace (backends/kubernetes/flagger_gate.py): a Canary whose ``analysis.webhooks`` point
there is held, promoted or rolled back by ``rollout promote|pause|resume|abort CANARY`` and
the console's keys, which change the gate state this process answers from. Logs one JSON
line per call on stdout. SIGTERM or SIGINT stops it (exit 0); Flagger then gets no answer,
which it reads as "closed": nothing advances and nothing rolls back until a gate answers.
Exit codes: 0 stopped; 2 bad input (no Kubernetes cluster, bad context, address in use);
4 the cluster could not be reached at start.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from backends.base import BackendError
from console.commands.controller import JsonLog
from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT, EXIT_OK
from console.config.settings import ConfigError

DEFAULT_PORT = 9471


def run(args: argparse.Namespace) -> int:
    """Serve the gate endpoints until a signal."""
    from console.config.environments import open_gate
    from console.driver.controller import log_record

    log = JsonLog()

    def on_call(call: dict[str, object]) -> None:
        level = "info" if call.get("code") in (200, 403) else "warning"
        text = f"{call.get('gate')} {call.get('canary')}: {call.get('code')} {call.get('message')}"
        extra = {k: v for k, v in call.items() if k != "message"}  # the line's own message
        log(log_record(level, "gate", text, str(call.get("canary") or "") or None, **extra))

    try:
        server = open_gate(args.env, listen=args.listen, port=args.port, log=on_call)
        server.store.read()  # reach the cluster now: a wrong context fails here, not at a call
    except ConfigError as exc:
        print(f"rollout gate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"rollout gate: cannot listen on {args.listen}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BackendError as exc:
        print(f"rollout gate: cannot reach the cluster: {exc}", file=sys.stderr)
        return EXIT_BACKEND
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    namespace = server.calls.namespace
    log(
        log_record(
            "info",
            "listening",
            f"gate for Flagger canaries in namespace '{namespace}' on {server.address}",
            address=server.address,
            port=server.port,
            namespace=namespace,
        )
    )
    while not stop.wait(1.0):
        pass
    server.close()
    log(log_record("info", "stopped", "gate stopped"))
    return EXIT_OK
