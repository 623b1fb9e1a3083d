"""``rollout drill``: rehearse an incident on the demo, in the console or headless.

``rollout drill NAME`` opens the console with the drill in a corner of its header and plays
the scenario while the operator responds; ``--headless --respond ACTION@SECONDS`` plays it
with a scripted response (nobody acts without ``--respond``). Either way the report is
printed and appended to ``<state_dir>/drills.jsonl``; ``--report`` lists past drills,
``--list`` the built-in scenarios, ``--file PATH`` runs a team's own. A running demo is
used as it is; otherwise the drill starts one for itself and stops it at the end.
Exit codes: 0 the response was correct (and for --list/--report), 1 late or wrong,
2 bad input, 4 the demo could not start or be reached.
"""

from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path
from typing import Any

from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK


def _err(message: str) -> None:
    print(f"rollout drill: {message}", file=sys.stderr)


def run(args: Namespace) -> int:
    from console.config.paths import state_dir
    from console.drills import catalog
    from console.drills.load import ScenarioError
    from console.drills.report import render_list

    if args.list:
        for name in catalog.builtin_names():
            print(f"{name:<22} {catalog.builtin(name).title}")
        return EXIT_OK
    if args.report:
        reports, bad = catalog.read_reports(state_dir())
        print(render_list(reports))
        if bad:
            _err(f"{bad} line(s) of {state_dir() / catalog.LOG_NAME} could not be read")
        return EXIT_OK
    if args.name is None and args.file is None:
        _err("name a scenario (rollout drill --list shows them) or give --file PATH")
        return EXIT_BAD_INPUT
    if args.name is not None and args.file is not None:
        _err("give a scenario name or --file PATH, not both")
        return EXIT_BAD_INPUT
    try:
        scenario = catalog.load(args.name, args.file)
    except KeyError:
        known = ", ".join(catalog.builtin_names())
        _err(f"no scenario named {args.name!r}; built in: {known} (or --file PATH)")
        return EXIT_BAD_INPUT
    except ScenarioError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    respond = None
    if args.respond is not None:
        if not args.headless:
            _err("--respond scripts a headless drill; add --headless")
            return EXIT_BAD_INPUT
        from console.drills.play import Response
        from console.drills.timeline import parse_respond

        try:
            respond = Response(*parse_respond(args.respond))
        except ValueError as exc:
            _err(str(exc))
            return EXIT_BAD_INPUT
    if not args.headless:
        from console.commands.tui import has_terminal

        if not has_terminal():
            _err("the interactive drill needs a terminal; use --headless --respond ACTION@S")
            return EXIT_BAD_INPUT
    return _with_demo(args, scenario, respond)


def _with_demo(args: Namespace, scenario: Any, respond: Any) -> int:
    from backends.base import BackendError, BackendUnavailable
    from console.config.environments import open_demo
    from console.config.paths import demo_dir

    handle = None
    try:
        try:
            env = open_demo(demo_dir())
        except BackendUnavailable:
            handle = _start_demo(scenario, args.seed)
            if handle is None:
                return EXIT_BACKEND
            env = open_demo(demo_dir())
        return _play(args, scenario, respond, env)
    except BackendError as exc:
        _err(str(exc))
        return EXIT_BACKEND
    finally:
        if handle is not None:
            handle.stop()


def _start_demo(scenario: Any, seed: int | None) -> Any:
    """A demo for this drill alone: the scenario's load and instances, with a controller
    unless the scenario needs its rollout left unguarded."""
    from backends.local import DemoError, start_demo
    from console.commands.demo import controller_argv
    from console.config.paths import demo_dir

    settings = scenario.demo
    print(f"rollout drill: starting the demo for {scenario.name} …", file=sys.stderr, flush=True)
    try:
        return start_demo(
            demo_dir(),
            rps=settings.rps,
            instances=settings.instances,
            seed=seed,
            companions={"controller": controller_argv()} if settings.controller else None,
        )
    except DemoError as exc:
        _err(str(exc))
        return None


def driver_argv(plan: Path) -> list[str]:
    """The drill's driving terminal: ``rollout auto PLAN`` on the demo."""
    return [sys.executable, "-m", "console.cli", "auto", str(plan), "--env", "demo"]


def _play(args: Namespace, scenario: Any, respond: Any, env: Any) -> int:
    from console.config.environments import open_demo
    from console.config.paths import demo_dir, state_dir
    from console.drills import catalog
    from console.drills.play import Drill, DrillError
    from console.drills.report import render

    drill = Drill(
        scenario,
        env,
        driver_argv=driver_argv,
        workdir=demo_dir() / "drills",
        mode="headless" if args.headless else "interactive",
        respond=respond,
        seed=args.seed,
        reopen=lambda: open_demo(demo_dir()),
    )
    if args.headless:
        print(f"rollout drill: {scenario.name}: {scenario.goal}", flush=True)
        try:
            drill.run()
        except DrillError as exc:
            _err(str(exc))
            return EXIT_BAD_INPUT
    else:
        try:
            drill.check()
        except DrillError as exc:
            _err(str(exc))
            return EXIT_BAD_INPUT
        _open_console(args, env, drill)
        if drill.error is not None:
            _err(drill.error)
            return EXIT_BAD_INPUT
    report = drill.report
    if report is None:
        _err("the drill was left before it ended: no report saved")
        return EXIT_FAILED
    path = catalog.save_report(state_dir(), report)
    print(render(report))
    print(f"(saved in {path})")
    return EXIT_OK if report.verdict == "correct" else EXIT_FAILED


def _open_console(args: Namespace, env: Any, drill: Any) -> None:
    from console.commands.tui import _quit_on_signals
    from console.config.settings import ConfigError, load_config
    from console.tui.drill import DrillApp

    try:
        config = load_config()
    except ConfigError:
        config = None
    app = DrillApp(env, config, drill=drill, hints=args.hints)
    try:
        with _quit_on_signals(app):
            app.run()
    finally:
        app.join()  # the drill stops its driver and clears its faults before the demo stops
