"""``rollout history SERVICE [--json] [--limit N]``: the audit log, oldest first.

Every operator command and automatic decision: time, who (OS user and host), the command
or rule, and the reason. Exit codes: 0, 2 unknown service, 4 a backend could not be reached.
"""

from __future__ import annotations

import argparse
import sys

from backends.base import BackendError, CorruptRecord
from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT, EXIT_OK
from console.config.settings import ConfigError, cluster_hint
from console.view import text as output


def run(args: argparse.Namespace) -> int:
    """Print the service's audit entries (human lines or JSON lines)."""
    from console.config.environments import open_for_reading

    if args.limit is not None and args.limit < 0:
        print("rollout history: --limit must be 0 or more", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        env, note = open_for_reading(args.env)
        if note:
            print(f"rollout history: {note}", file=sys.stderr)
        from console.driver.foreign import lookup

        theirs = lookup(env, args.service) is not None
        if theirs:  # a rollout another controller drives: its Events
            assert env.foreign is not None
            entries = env.foreign.history(args.service, args.limit)
        elif env.store is None and env.foreign is not None:
            listed = ", ".join(r.name for r in env.foreign.rollouts()) or "none"
            print(
                f"rollout history: unknown rollout '{args.service}' in environment "
                f"'{env.name}' ({env.foreign.name}); known: {listed}",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        elif env.store is None:
            print(
                f"rollout history: environment '{env.name}' keeps no rollout state"
                + cluster_hint(),
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        else:
            entries = env.store.read_audit(args.service, args.limit)
        if (
            not theirs
            and env.store is not None
            and not entries
            and env.store.load(args.service) is None
        ):
            known = set(env.store.services())
            if env.traffic is not None:
                known.update(env.traffic.services())
            if args.service not in known:
                print(
                    f"rollout history: unknown service '{args.service}'; "
                    f"known: {', '.join(sorted(known)) or 'none'}",
                    file=sys.stderr,
                )
                return EXIT_BAD_INPUT
    except (ConfigError, ValueError) as exc:
        print(f"rollout history: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CorruptRecord as exc:  # bad state to fix by hand, not an outage
        print(f"rollout history: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BackendError as exc:
        print(f"rollout history: {exc}", file=sys.stderr)
        return EXIT_BACKEND
    for a in entries:
        print(output.audit_json(a) if args.json else output.audit_line(a))
        if not args.json and a.action == "experiment-report" and "report" in a.data:
            # An experiment's report, kept in its audit entry: the table under its line.
            from console.view.experiment import report_lines

            print("\n".join(report_lines(a.data["report"])))
    if not entries and not args.json:
        print(f"no audit entries for {args.service}")
    return EXIT_OK
