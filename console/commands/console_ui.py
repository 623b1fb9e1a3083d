"""`rollout` with no subcommand: open the console on the configured environment.

``open_console`` is also what ``rollout demo`` calls once the demo environment runs.
Textual is imported only here and in the app, so other commands never pay for it.
"""

from __future__ import annotations

import argparse
import sys

from backends.base import BackendError, Environment
from console.config import Config, ConfigError, load_config

EXIT_OK, EXIT_BAD_INPUT, EXIT_BACKEND = 0, 2, 4


def open_console(env: Environment, config: Config | None = None, read_only: bool = False) -> int:
    """Run the console on ``env`` until the user quits; returns the exit code."""
    from console.app import RolloutApp

    app = RolloutApp(env, config or Config(), read_only=read_only)
    result = app.run()
    return int(result or EXIT_OK)


def run(args: argparse.Namespace) -> int:
    """Entry point for bare ``rollout``: config, environment, console."""
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from console.environments import open_environment

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
    return open_console(env, config, read_only=bool(getattr(args, "read_only", False)))
