"""The ``rollout`` command line: parses arguments and hands off to one command module.

Each subcommand lives in ``console/commands/<name>.py`` with ``run(args) -> int`` and is
imported only when used, so ``rollout auto`` never loads Textual and ``rollout --help``
starts instantly. Exit codes (docs/ci-cd.md): 0 ok, 1 rolled back / would fail,
2 bad input, 3 timed out or left paused, 4 a backend could not be reached,
5 a rollout is unguarded (``status --check``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from console import __version__
from console.commands.exits import (
    EXIT_OK,
    EXIT_STOPPED,
)

SERVICE_HELP = "the service, as listed by `rollout status` (e.g. courses)"

EPILOG = """\
examples:
  rollout demo                         start the demo LMS on loopback and open the console
  rollout validate examples/canary.yaml
  rollout auto examples/canary.yaml --json --timeout 10m
  rollout start examples/canary.yaml   record it and return; `rollout controller` drives it
  rollout controller                   drive every rollout of the environment (headless)
  rollout status --json
  rollout promote courses --full
  rollout drill bad-canary             rehearse an incident on the demo (--list shows them)
  rollout flags set new-gradebook on --percent 20

exit codes (auto): 0 completed, 1 rolled back or aborted, 2 bad input,
                   3 timed out or left paused, 4 a backend could not be reached
exit codes (status --check): 0 every rollout guarded, 5 one is unguarded
"""


def _add_env(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    # A subcommand's own default would overwrite `rollout --env NAME status` with None:
    # only the top-level parser sets the default.
    p.add_argument(
        "--env",
        metavar="NAME",
        default=None if top else argparse.SUPPRESS,
        help="environment from the config file (default: the config's default, else demo)",
    )
    _add_kube(p, top=top)


def _add_kube(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    """kubectl's flags on every command that talks to a cluster: they override the
    environment's cluster entry (console/config/kubeflags.py)."""
    default = None if top else argparse.SUPPRESS
    p.add_argument(
        "--kubeconfig",
        metavar="PATH",
        default=default,
        help="kubeconfig file (default: the environment's, else $KUBECONFIG or ~/.kube/config)",
    )
    p.add_argument(
        "--context",
        metavar="NAME",
        default=default,
        help="kubeconfig context (default: the environment's, else the current-context)",
    )
    p.add_argument(
        "-n",
        "--namespace",
        metavar="NS",
        default=default,
        help="namespace (default: the environment's, else the context's)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rollout",
        description="A terminal console for progressive delivery: canary, blue/green and "
        "rolling releases, watched live and rolled back automatically.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rollout {__version__}")
    _add_env(parser, top=True)
    parser.add_argument(
        "--read-only", action="store_true", help="hide and refuse keys that change a rollout"
    )
    parser.add_argument(
        "--standby",
        action="store_true",
        help="the console drives any rollout left unguarded (no live driver) by itself",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="run the embedded demo LMS environment (and the console)")
    p.add_argument(
        "--headless",
        action="store_true",
        help="no UI: keep the environment running until Ctrl-C or SIGTERM",
    )
    p.add_argument(
        "--rps",
        type=float,
        default=200.0,
        help="load generator rate, requests per second (default 200)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="VERSION:errors=R,latency=MS",
        help=(
            "inject a fault at start, e.g. v2:errors=0.3,latency=300ms or "
            "courses/v2:crash=true (fields: errors, latency, slow_start, crash, unready; "
            "repeatable; SERVICE/VERSION targets one service)"
        ),
    )
    p.add_argument(
        "--metrics",
        choices=["local", "prometheus"],
        default="local",
        help="where the console reads metrics (default: in-process)",
    )
    p.add_argument("--instances", type=int, default=3, help="instances per version (default 3)")
    p.add_argument(
        "--gateway",
        choices=["embedded", "haproxy"],
        default="embedded",
        help="the LMS's gateway: the embedded one (default) or Debian's HAProxy, driven "
        "through its Runtime API (metrics then through Prometheus)",
    )
    p.add_argument(
        "--no-controller",
        action="store_true",
        help="run no rollout controller: a rollout is then guarded only while `rollout auto` "
        "or a console drives it",
    )
    p.add_argument(
        "--read-only",
        action="store_true",
        default=argparse.SUPPRESS,
        help="hide and refuse keys that change a rollout",
    )

    p = sub.add_parser("auto", help="drive a rollout to its end with no UI (for CI/CD and tmux)")
    p.add_argument("plan", help="plan file (YAML)")
    _add_env(p)
    p.add_argument("--json", action="store_true", help="one JSON object per event on stdout")
    p.add_argument(
        "--timeout", default="30m", help="give up (exit 3) after this long, e.g. 30m (default 30m)"
    )

    p = sub.add_parser(
        "start", help="begin a rollout and return at once; the running controller drives it"
    )
    p.add_argument("plan", help="plan file (YAML)")
    _add_env(p)

    p = sub.add_parser(
        "controller",
        help="drive every unfinished rollout of the environment (headless, long-running)",
    )
    _add_env(p)
    p.add_argument(
        "--port",
        type=int,
        default=9470,
        help="port for /healthz and /metrics (default 9470; 0 picks a free one and logs it)",
    )
    p.add_argument(
        "--listen",
        default="127.0.0.1",
        metavar="ADDR",
        help="address for /healthz and /metrics (default 127.0.0.1)",
    )
    p.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop (handing the leases back) when stdin closes; the demo runs its controller so",
    )

    p = sub.add_parser(
        "gate",
        help="serve Flagger's gate webhooks (confirm-rollout, confirm-traffic-increase, "
        "confirm-promotion, rollback) so promote/pause/abort steer its Canaries",
    )
    _add_env(p)
    p.add_argument(
        "--port",
        type=int,
        default=9471,
        help="port for the webhooks (default 9471; 0 picks a free one and logs it)",
    )
    p.add_argument(
        "--listen",
        default="127.0.0.1",
        metavar="ADDR",
        help="address for the webhooks (default 127.0.0.1; 0.0.0.0 in a pod)",
    )

    p = sub.add_parser("validate", help="check a plan file and summarize it")
    p.add_argument("plan", nargs="+", help="plan file(s) (YAML)")
    p.add_argument(
        "--env",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="also check each plan against this environment (service, candidate, routing)",
    )
    _add_kube(p)
    p.add_argument(
        "--rps",
        type=float,
        metavar="N",
        default=None,
        help="advice: with N requests a second, what each canary step's sequential test "
        "can detect and how fast",
    )
    p.add_argument(
        "--error-rate",
        type=float,
        metavar="R",
        default=0.01,
        help="advice: the usual error rate (default 0.01)",
    )
    p.add_argument(
        "--since",
        metavar="DURATION",
        default=None,
        help="advice from real traffic: with --env, the service's request rate and error "
        "rate over this long (e.g. 1h) instead of --rps and --error-rate",
    )

    p = sub.add_parser(
        "analyze", help="what-if: would this plan's analysis have passed over a past window?"
    )
    p.add_argument("plan", help="plan file (YAML)")
    _add_env(p)
    p.add_argument("--since", default="30m", help="how far back to look (default 30m)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("status", help="show rollouts")
    p.add_argument("service", nargs="?", help="one service (default: all)")
    _add_env(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 5 when a rollout is unguarded (no live driver), and send its webhook once",
    )

    for name, text in [
        ("promote", "leave the current pause or step (--full: go straight to 100%%)"),
        ("pause", "hold the rollout where it is"),
        ("resume", "continue a paused rollout"),
        ("abort", "roll back now: 100%% to stable, skipping analysis"),
        ("retry", "restart an aborted or rolled-back rollout"),
        ("undo", "Argo Rollouts: go back to the previous revision (as kubectl argo rollouts undo)"),
    ]:
        p = sub.add_parser(name, help=text)
        p.add_argument("service", help=SERVICE_HELP)
        _add_env(p)
        if name == "promote":
            p.add_argument("--full", action="store_true", help="skip the remaining steps")
        p.add_argument("--reason", default="", help="recorded in the audit log")

    p = sub.add_parser("history", help="the audit log of a service's rollouts")
    p.add_argument("service", help=SERVICE_HELP)
    _add_env(p)
    p.add_argument("--json", action="store_true", help="print JSON lines")
    p.add_argument("--limit", type=int, default=None, help="show only the last N entries")

    p = sub.add_parser(
        "drill", help="rehearse an incident on the demo (console, or --headless with --respond)"
    )
    p.add_argument("name", nargs="?", help="a built-in scenario (see --list)")
    p.add_argument("--list", action="store_true", help="list the built-in scenarios")
    p.add_argument("--report", action="store_true", help="list past drills and their verdicts")
    p.add_argument("--file", metavar="PATH", help="run a scenario file of your own")
    p.add_argument("--headless", action="store_true", help="no console: play and print the report")
    p.add_argument(
        "--respond",
        metavar="ACTION@SECONDS",
        help="headless: act at this time from the drill's start (rollback, abort, pause, "
        "resume, promote, flag-off), e.g. rollback@12; without it nobody acts",
    )
    p.add_argument("--seed", type=int, default=None, help="seed the demo's load generator")
    p.add_argument("--hints", action="store_true", help="show the scenario's hint in the console")

    from console.commands.flags import add_parser as add_flags_parser

    add_flags_parser(sub, _add_env)

    # `rollout promote --help` should say what promote does, not only list its options.
    for action in sub._choices_actions:
        child = sub.choices[action.dest]
        if child.description is None and action.help:
            child.description = action.help.replace("%%", "%")
    return parser


_DURATION_FLAGS = ("--timeout", "--since")


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """parse_args, but a stray flag after a subcommand gets that subcommand's usage."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # argparse reads "--timeout -5m" as a flag with no value ("expected one argument");
    # joined, the duration check can say what is wrong with it.
    for i in range(len(argv) - 2, -1, -1):
        value = argv[i + 1]
        if argv[i] in _DURATION_FLAGS and value[:1] == "-" and value[1:2].isdigit():
            argv[i : i + 2] = [f"{argv[i]}={value}"]
    args, extra = parser.parse_known_args(argv)
    if extra:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        choices = subparsers[0].choices if subparsers else {}
        target = choices.get(args.command) if args.command else None
        (target or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


# subcommand -> module under console.commands
_MODULES = {
    None: "tui",
    "demo": "demo",
    "auto": "auto",
    "start": "start",
    "controller": "controller",
    "gate": "gate",
    "validate": "validate",
    "analyze": "analyze",
    "status": "status",
    "promote": "verbs",
    "pause": "verbs",
    "resume": "verbs",
    "abort": "verbs",
    "retry": "verbs",
    "undo": "verbs",
    "history": "history",
    "drill": "drill",
    "flags": "flags",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rollout`` console script."""
    args = _parse(build_parser(), argv)
    from console.config import kubeflags

    kubeflags.use(kubeflags.from_args(args))
    module_name = _MODULES[args.command]
    module = importlib.import_module(f"console.commands.{module_name}")
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        print("rollout: interrupted", file=sys.stderr)
        return EXIT_STOPPED
    except BrokenPipeError:
        # A closed pipe (``rollout status | head``) is not an error worth a traceback. The
        # SIGPIPE disposition is left alone: main() also runs inside test processes.
        _silence_stdout()
        return EXIT_OK


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
