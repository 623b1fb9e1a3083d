"""`rollout` with no subcommand: open the console on the configured environment.

``open_console`` is also what ``rollout demo`` calls once the demo environment runs.
Textual is imported only here and in the app, so other commands never pay for it.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from backends.base import BackendError, Environment
from console.config.settings import Config, ConfigError, load_config

EXIT_OK, EXIT_BAD_INPUT, EXIT_BACKEND = 0, 2, 4


def open_console(
    env: Environment,
    config: Config | None = None,
    read_only: bool = False,
    standby: bool = False,
) -> int:
    """Run the console on ``env`` until the user quits; returns the exit code."""
    from console.tui.app import RolloutApp

    app = RolloutApp(env, config or Config(), read_only=read_only, standby=standby)
    with _quit_on_signals(app):
        result = app.run()
    return int(result or EXIT_OK)


@contextmanager
def _quit_on_signals(app: Any) -> Iterator[None]:
    """SIGTERM and SIGHUP (an SSH session dropped) quit like `q`: drivers release their
    leases at once and the terminal is restored. Before, the process died on the spot and
    the lease blocked every other console until it expired. Only signals nobody else
    handles: `rollout demo` stops its environment on SIGTERM itself."""

    def quit_app(signum: int, frame: Any) -> None:
        loop = getattr(app, "_loop", None)
        if loop is not None:
            loop.call_soon_threadsafe(app.exit)  # safe to call from a signal handler
        else:
            app.exit()

    previous: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            previous[sig] = signal.signal(sig, quit_app)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def has_terminal() -> bool:
    """True when stdin and stdout are a terminal, which the console needs to draw and read keys."""
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def run(args: argparse.Namespace) -> int:
    """Entry point for bare ``rollout``: config, environment, console."""
    if not has_terminal():
        # Otherwise the console starts anyway and writes escape codes into a pipe or a CI log.
        print(
            "rollout: the console needs a terminal (stdin and stdout are not one); without one "
            "use rollout status, rollout auto PLAN or rollout demo --headless",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from console.config.environments import open_environment

    try:
        env = open_environment(getattr(args, "env", None), config)
    except ConfigError as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BackendError as exc:
        hint = ""
        if (getattr(args, "env", None) or config.default) == "demo" and "rollout demo" not in str(
            exc
        ):
            hint = "\n  start the demo first: rollout demo (or: rollout demo --headless &)"
        print(f"rollout: cannot reach the environment: {exc}{hint}", file=sys.stderr)
        return EXIT_BACKEND
    return open_console(
        env,
        config,
        read_only=bool(getattr(args, "read_only", False)),
        standby=bool(getattr(args, "standby", False)),
    )
