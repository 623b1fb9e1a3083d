"""``rollout promote|pause|resume|abort|retry|undo SERVICE``: one module for the verbs.

The command is posted to the environment's store; a running driver applies it within about
a second, and with no driver running it is applied here at once (console/driver/send.py).
A rollout another controller drives (Argo Rollouts) gets the verb through that controller's
API instead (console/driver/foreign.py); ``undo`` exists only there.
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

    prog = f"rollout {args.command}"
    if args.command == "undo":
        return _undo(args, prog)
    kind = CommandKind(args.command)
    if kind == CommandKind.PROMOTE and getattr(args, "full", False):
        kind = CommandKind.PROMOTE_FULL
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


def _undo(args: argparse.Namespace, prog: str) -> int:
    """``rollout undo``: a foreign controller's rollback to the previous revision."""
    from console.config.environments import open_environment
    from console.driver import foreign

    try:
        env = open_environment(args.env)
        if foreign.lookup(env, args.service) is None:
            print(
                f"{prog}: {args.service} is not a rollout that Argo Rollouts drives in "
                f"'{env.name}'; undo is its verb (`rollout abort` rolls back one of ours)",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        reason = one_line(getattr(args, "reason", "") or "")
        message = foreign.act(env, args.service, "undo", reason=reason)
    except (ConfigError, foreign.ForeignRefused) as exc:
        print(one_line(f"{prog}: {exc}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except BackendError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_BACKEND
    print(message)
    return EXIT_OK
