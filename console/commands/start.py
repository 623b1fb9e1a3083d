"""``rollout start PLAN [--env NAME]``: begin a rollout and return; a controller drives it.

Validates the plan and the environment exactly as ``rollout auto`` does, then begins the
rollout with a driver (the first tick: ``engine.start``, the record saved with its plan, the
first actions applied) and hands the lease back at once, so the running ``rollout
controller`` picks the rollout up on its next pass. A rollout of the same candidate already
in progress is left to whoever drives it (or resumed and handed over when nobody does).

When no controller is running it says loudly that the rollout is UNGUARDED until one runs
(nothing reverts it on a breach) and still exits 0: the rollout is recorded and started.
Exit codes: 0 started (or already in progress); 2 bad input (plan, config, unknown
service, another rollout in progress); 4 a backend could not be reached.
"""

from __future__ import annotations

import argparse
import sys

from backends.base import BackendError, CorruptRecord, Event
from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT, EXIT_OK
from console.view import text as output


def _err(msg: str, plan_path: str = "") -> None:
    text = msg if plan_path and msg.startswith(plan_path) else f"rollout start: {msg}"
    print(text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Begin (or find) the rollout, hand it to the controller, say how to follow it."""
    from console.commands.plan_target import Refused, open_target, read_plan
    from console.driver.loop import Driver, DriverError, holder_display, make_holder
    from console.driver.presence import controller_running

    path = str(args.plan)
    try:
        plan = read_plan(path)
        env = open_target(plan, path, args.env)
    except Refused as exc:
        _err(str(exc), path)
        return exc.code
    assert env.store is not None
    service = plan.service

    def show(e: Event) -> None:
        print(output.event_line(e), flush=True)

    try:
        before = env.store.load(service)
    except CorruptRecord as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except BackendError as exc:
        _err(f"{env.name}: cannot read the rollout record: {exc}")
        return EXIT_BACKEND
    driver = Driver(env, service, holder=make_holder(), on_event=show)
    try:
        rec = driver.begin(plan)
        drove = driver.driving
    except DriverError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except BackendError as exc:
        _err(str(exc))
        return EXIT_BACKEND
    finally:
        driver.close()
    controller = controller_running(env.store)
    in_progress = before is not None and not before.phase.terminal
    what = f"{rec.strategy} of {service} to {rec.candidate}"
    if not drove:
        lease = env.store.lease(service)
        who = holder_display(lease.holder) if lease else "another driver"
        print(f"rollout start: {what} is already in progress ({rec.phase}), driven by {who}")
    elif in_progress:
        print(f"rollout start: {what} was in progress ({rec.phase}): resumed")
    else:
        print(f"rollout start: {what} started: {rec.message or rec.phase}")
    if controller is not None:
        print(f"rollout start: the controller ({holder_display(controller)}) drives it")
    elif drove:
        _err(
            f"WARNING: no controller is running: {service} is UNGUARDED until one runs "
            "(nothing reverts it on a breach). Run `rollout controller"
            + (f" --env {env.name}" if args.env else "")
            + f"`, or `rollout auto {path}` to drive it from this terminal."
        )
    print(
        f"follow it:  rollout status {service}  |  rollout auto {path}  "
        "(follows it, exits with its result)  |  rollout  (the console)",
        flush=True,
    )
    return EXIT_OK
