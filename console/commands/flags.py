"""``rollout flags``: list an environment's feature flags, change one, or turn it off.

    rollout flags [--env NAME] [--json]
    rollout flags set FLAG VARIANT [--percent N] [--env NAME] [--reason TEXT]
    rollout flags off FLAG [--env NAME] [--reason TEXT]      (the kill switch; --all: every flag)

``set`` makes VARIANT the default for everyone outside the cohort rules (the split is
removed); with ``--percent N`` it gives VARIANT to N % of users instead (fractional by user,
the rest to the off variant). Every change is audited (``rollout history flags``).
Exit codes: 0 done, 2 unknown flag or variant (naming the known ones), a malformed flag
file, targeting the console does not edit or no flags configured, 4 the flag source could
not be reached.
"""

from __future__ import annotations

import argparse
import json
import sys

from backends.base import (
    BackendError,
    FlagFileError,
    NotFound,
    Unsupported,
)
from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT, EXIT_OK
from console.config.settings import ConfigError
from console.view import flags as view
from console.view.text import one_line


def add_parser(sub: argparse._SubParsersAction, add_env: object) -> None:
    """The ``flags`` subcommand and its ``set``/``off`` actions (cli.py calls this)."""
    assert callable(add_env)
    p = sub.add_parser("flags", help="list feature flags (flagd), set a variant, kill switch")
    add_env(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    acts = p.add_subparsers(dest="flags_action", metavar="ACTION")
    s = acts.add_parser(
        "set",
        help="make VARIANT the default (or give it --percent N of users)",
        description="Make VARIANT the default for everyone outside the cohort rules, or "
        "with --percent N give it to N%% of users (sticky per user), the rest to the off "
        "variant.",
    )
    s.add_argument("flag", help="the flag's key, as `rollout flags` lists it")
    s.add_argument("variant", help="one of the flag's variants")
    s.add_argument("--percent", type=int, default=None, metavar="N", help="0..100")
    add_env(s)
    s.add_argument("--reason", default="", help="recorded in the audit log")
    o = acts.add_parser(
        "off",
        help="kill switch: back to the off variant for everyone",
        description="The kill switch: the flag serves its off variant to everyone (cohort "
        "rules and split removed). --all does it for every flag at once.",
    )
    o.add_argument("flag", nargs="?", help="the flag's key")
    o.add_argument("--all", action="store_true", help="every flag at once")
    add_env(o)
    o.add_argument("--reason", default="", help="recorded in the audit log")


def run(args: argparse.Namespace) -> int:
    from console.config.environments import open_flags
    from console.driver.flag_ops import FlagChange, NoFlags, apply, backend_of

    action = getattr(args, "flags_action", None)
    prog = f"rollout flags {action}" if action else "rollout flags"
    change: FlagChange | None = None
    if action == "set":
        if args.percent is not None and not 0 <= args.percent <= 100:
            print(f"{prog}: --percent must be 0..100, got {args.percent}", file=sys.stderr)
            return EXIT_BAD_INPUT
        kind = "flag-set" if args.percent is None else "flag-percent"
        change = FlagChange(kind, args.flag, args.variant, args.percent)
    elif action == "off":
        if args.all == bool(args.flag):
            print(f"{prog}: name one FLAG, or --all for every flag", file=sys.stderr)
            return EXIT_BAD_INPUT
        change = FlagChange("flag-kill-all") if args.all else FlagChange("flag-off", args.flag)
    try:
        env = open_flags(args.env)
        if change is None:
            flags = backend_of(env).flags()
            if getattr(args, "json", False):
                print(view.flags_json(flags))
            else:
                print(f"# {backend_of(env).name}")
                for line in view.flag_lines(flags):
                    print(line)
            return EXIT_OK
        done = apply(env, change, reason=one_line(args.reason or ""))
    except (ConfigError, NoFlags, FlagFileError, NotFound, Unsupported, ValueError) as exc:
        # NotFound: UnknownFlag / UnknownVariant, which name the known ones.
        print(one_line(f"{prog}: {exc}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except BackendError as exc:
        print(one_line(f"{prog}: {exc}"), file=sys.stderr)
        return EXIT_BACKEND
    if done.warning:
        print(f"{prog}: warning: {done.warning}", file=sys.stderr)
    if getattr(args, "json", False):
        print(
            json.dumps({"audit": done.audit.to_dict(), **json.loads(view.flags_json(done.flags))})
        )
    else:
        before = {f.key: f for f in done.before}
        for f in done.flags:
            print(view.change_text(before.get(f.key), f))
    return EXIT_OK
