"""``rollout controller [--env NAME] [--port N] [--listen ADDR]``: guard every rollout.

A long-running headless process that drives every unfinished rollout of the environment's
store (``console.driver.controller``), so a rollout stays guarded when the terminal that
started it goes away. Logs JSON lines on stdout (time, level, service, kind, message) and
serves ``/healthz`` and ``/metrics`` on ``--listen``:``--port`` (default 127.0.0.1:9470;
``--port 0`` picks a free port, logged in the ``listening`` line).

SIGTERM or SIGINT hands every lease back at once (a standby controller, a console or
``rollout auto`` takes over on its next tick), then exits 0. Exit codes: 0 stopped; 2 bad
input (config, an environment with no cluster, the port in use); 4 the environment could
not be reached at start.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from backends.base import BackendError
from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT, EXIT_OK
from console.config.settings import ConfigError, cluster_hint, environment_name

DEFAULT_PORT = 9470


class JsonLog:
    """One JSON object per line on stdout, whole lines only (ticks run on several threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, default=str)
        with self.lock:
            try:
                print(line, flush=True)
            except (BrokenPipeError, ValueError):
                pass  # nobody reads our log any more; keep guarding all the same


def _watch_stdin(stop: threading.Event) -> None:
    """Set ``stop`` when stdin reaches end of file (the process that started us is gone)."""
    # The raw descriptor, not sys.stdin: a daemon thread blocked in a buffered read holds
    # its lock, and the interpreter cannot shut down past it.
    try:
        fd = sys.stdin.fileno()
        while os.read(fd, 1024):
            pass
    except (OSError, ValueError):
        pass
    stop.set()


def run(args: argparse.Namespace) -> int:
    """Open the environment, serve health and metrics, drive until a signal."""
    from console.config.environments import open_environment
    from console.driver.controller import Controller, log_record
    from console.driver.controller_metrics import ControllerMetrics, StatusServer
    from console.driver.notify import close_plan_notifiers

    log = JsonLog()

    def fail(code: int, msg: str) -> int:
        print(f"rollout controller: {msg}", file=sys.stderr, flush=True)
        log(log_record("error", "controller", msg))
        return code

    try:
        env = open_environment(args.env)
    except ConfigError as exc:
        return fail(EXIT_BAD_INPUT, str(exc))
    except BackendError as exc:
        return fail(EXIT_BACKEND, f"cannot reach environment '{environment_name(args.env)}': {exc}")
    if env.traffic is None or env.store is None:
        return fail(
            EXIT_BAD_INPUT,
            f"environment '{env.name}' has no traffic backend; there is nothing to drive"
            + cluster_hint(),
        )
    metrics = ControllerMetrics()
    controller = Controller(env, log=log, metrics=metrics)
    try:
        server = StatusServer(metrics, controller.health, args.listen, args.port)
    except OSError as exc:
        return fail(
            EXIT_BAD_INPUT,
            f"cannot serve /healthz and /metrics on {args.listen}:{args.port}: "
            f"{exc.strerror or exc}",
        )
    stop = threading.Event()
    caught: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        caught.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    if args.exit_on_stdin_eof:
        threading.Thread(target=_watch_stdin, args=(stop,), daemon=True).start()
    log(
        log_record(
            "info",
            "listening",
            f"serving /healthz and /metrics on {server.url}",
            url=server.url,
            port=server.port,
        )
    )
    log(
        log_record(
            "info",
            "controller",
            f"controller {controller.holder} on environment '{env.name}' ({env.description})",
            holder=controller.holder,
            environment=env.name,
        )
    )
    try:
        controller.run(stop)
    finally:
        why = caught[0] if caught else "stdin closed"
        controller.close(reason=why)
        log(log_record("info", "controller", f"stopped ({why}); every lease handed back"))
        server.close()
        for e in close_plan_notifiers(wait=5.0):
            log(log_record("warning", e.kind, e.message, e.service))
        for s, h in previous.items():
            signal.signal(s, h)
    return EXIT_OK
