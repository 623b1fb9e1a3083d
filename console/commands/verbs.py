"""``rollout promote|pause|resume|abort|retry SERVICE``: one module for the five commands.

The command is posted to the environment's store; a running driver applies it within about
a second, and with no driver running it is applied here at once (console/driver/send.py).
Exit codes: 0 posted or applied, 2 unknown service or no rollout to act on, 4 a backend
could not be reached.
"""

from __future__ import annotations

import argparse
import sys

from backends.base import BackendError, CommandKind
from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT, EXIT_OK
from console.config.settings import ConfigError, cluster_hint
from console.view.text import one_line


def run(args: argparse.Namespace) -> int:
    """Post (and, with no driver running, apply) one operator command."""
    from console.config.environments import open_environment
    from console.driver.send import ControlError, NoRolloutsHere, send_command

    kind = CommandKind(args.command)
    if kind == CommandKind.PROMOTE and getattr(args, "full", False):
        kind = CommandKind.PROMOTE_FULL
    prog = f"rollout {args.command}"
    try:
        env = open_environment(args.env)
        # A newline or escape in --reason would forge lines in the audit log and history.
        reason = one_line(getattr(args, "reason", "") or "")
        message = send_command(env, args.service, kind, reason=reason)
    except (ConfigError, ControlError) as exc:
        hint = cluster_hint() if isinstance(exc, NoRolloutsHere) else ""
        print(one_line(f"{prog}: {exc}{hint}"), file=sys.stderr)  # may quote the --reason
        return EXIT_BAD_INPUT
    except ValueError as exc:  # an invalid service name (path characters)
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BackendError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_BACKEND
    print(message)
    return EXIT_OK
