"""``rollout auto PLAN``: drive a rollout to its end with no terminal UI (CI/CD, tmux).

Prints one line per event (``--json``: one JSON object per event and a final summary
object). Exit codes: 0 completed; 1 rolled back or aborted; 2 bad input (plan, config,
unknown service, another rollout in progress); 3 timed out, left paused, or stopped by
SIGINT/SIGTERM; 4 a backend could not be reached (at start, persistently while driving, or
the metrics source while the rollout sits paused for it).

A paused rollout (a manual gate, an operator's pause, or a rule with ``onFailure: pause``
or the inconclusive/error limits) is not given up on early: ``auto`` keeps driving, so
``rollout resume``/``promote`` from anywhere lets it continue, until ``--timeout``; then it
exits 3 ("left paused"), leaving traffic where it is. When another driver holds the lease,
``auto`` watches that rollout's events and takes over if the lease expires.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from types import FrameType

from backends.base import BackendError, Event, Phase, RolloutRecord
from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_STOPPED
from console.config.settings import ConfigError, cluster_hint, environment_name
from console.driver.loop import Driver, DriverError, make_holder
from console.driver.notify import Notifier
from console.plan.model import Plan
from console.view import text as output


class _Printer:
    """Writes events and the final summary to stdout, human or JSON lines."""

    def __init__(self, as_json: bool, plan_path: str = "PLAN") -> None:
        self.as_json = as_json
        self.plan_path = plan_path
        self.lock = threading.Lock()

    def event(self, e: Event) -> None:
        line = output.event_json(e) if self.as_json else output.event_line(e)
        if not self.as_json and e.kind == "pause":
            # The person watching needs the command that lets the rollout go on.
            line += f" (next: {output.pause_hint(e)})"
        with self.lock:
            print(line, flush=True)

    def summary(
        self, service: str, code: int, reason: str, record: RolloutRecord | None = None
    ) -> None:
        hint = output.next_steps(service, self.plan_path, code, record)
        if self.as_json:
            d = {
                "type": "summary",
                "time": output.iso_time(time.time()),
                "service": service,
                "phase": str(record.phase) if record else None,
                "exit_code": code,
                "reason": reason,
                "weights": dict(record.weights) if record else None,
                "step": output.step_label(record) if record else None,
            }
            if hint:
                d["next"] = hint
            line = json.dumps(d)
        else:
            phase = f"{record.phase}: " if record else ""
            line = output.one_line(
                f"{output.clock_time(time.time())} {service}  result  {phase}{reason} (exit {code})"
            )
        with self.lock:
            print(line, flush=True)
            if hint and not self.as_json:
                print(f"rollout auto: next: {hint}", file=sys.stderr, flush=True)


def _error(msg: str) -> None:
    print(f"rollout auto: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Load the plan, open the environment, begin or resume, drive to the end."""
    from console.config.environments import open_environment
    from console.driver.preflight import preflight
    from console.plan.load import PlanError, load_plan, parse_duration

    printer = _Printer(bool(getattr(args, "json", False)), str(args.plan))

    def fail(code: int, msg: str, service: str = "") -> int:
        # Humans read stderr; scripts using --json still get their summary object.
        print(msg if msg.startswith(str(args.plan)) else f"rollout auto: {msg}", file=sys.stderr)
        if printer.as_json:
            printer.summary(service, code, msg)
        return code

    try:
        plan = load_plan(args.plan)
    except PlanError as exc:
        return fail(EXIT_BAD_INPUT, str(exc))
    except OSError as exc:
        return fail(EXIT_BAD_INPUT, f"{args.plan}: cannot read: {exc.strerror or exc}")
    service = plan.service
    try:
        timeout = parse_duration(str(args.timeout))
    except (PlanError, ValueError) as exc:
        return fail(EXIT_BAD_INPUT, f"--timeout {args.timeout!r}: {exc}", service)
    if not timeout > 0:  # also NaN; checked before anything changes
        return fail(EXIT_BAD_INPUT, f"--timeout {args.timeout!r}: must be positive", service)
    try:
        env = open_environment(args.env)
    except ConfigError as exc:
        return fail(EXIT_BAD_INPUT, str(exc), service)
    except BackendError as exc:
        where = environment_name(args.env)
        return fail(EXIT_BACKEND, f"cannot reach environment '{where}': {exc}", service)
    refusal = preflight(env, plan)
    if refusal is not None:
        hint = cluster_hint() if env.traffic is None else ""
        return fail(refusal.code, refusal.message + hint, service)
    notifier = Notifier(plan.webhooks) if plan.webhooks else None
    driver = Driver(env, service, holder=make_holder(), notifier=notifier, on_event=printer.event)
    stop = threading.Event()
    caught: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        caught.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code, reason = _drive(driver, plan, timeout, stop, caught, printer)
    except DriverError as exc:
        _error(str(exc))
        code, reason = EXIT_BAD_INPUT, str(exc)
    except BackendError as exc:
        _error(str(exc))
        driver.record_stop(f"backend unreachable: {exc}")
        code, reason = EXIT_BACKEND, str(exc)
    finally:
        driver.close()
        if notifier is not None:
            notifier.close(wait=5.0)
        for s, h in previous.items():
            signal.signal(s, h)
    if notifier is not None:
        for e in notifier.drain_failures():
            printer.event(e)
    printer.summary(service, code, reason, driver.record)
    return code


def _drive(
    driver: Driver,
    plan: Plan,
    timeout: float,
    stop: threading.Event,
    caught: list[str],
    printer: _Printer,
) -> tuple[int, str]:
    """Begin or resume, run, and turn the outcome into (exit code, reason)."""
    rec = driver.begin(plan)
    started = str(rec.plan.get("source") or "another file")
    other_file = plan.source is not None and started != plan.source
    if _plan_differs(rec, plan) and (not driver.driving or other_file):
        # A viewer watches a rollout that runs the plan it was started with, not ours; a
        # driver resuming it does too (the driver's "the plan file changed" reads as if this
        # file had been edited, when it may be another file altogether).
        printer.event(
            Event(
                at=time.time(),
                service=plan.service,
                kind="driver",
                message=(
                    f"{plan.source or 'this plan'} differs from the plan this rollout was "
                    f"started with ({started}); the recorded plan is what runs"
                ),
            )
        )
    rec = driver.run(timeout=timeout, stop=stop)
    if caught:
        driver.record_stop(caught[0])
        return (
            EXIT_STOPPED,
            f"stopped by {caught[0]}; traffic left at {output.weights_percent(rec.weights)}",
        )
    if rec.phase == Phase.COMPLETED:
        return EXIT_OK, rec.message or "completed"
    if rec.phase in (Phase.ROLLED_BACK, Phase.ABORTED):
        return EXIT_FAILED, rec.message or str(rec.phase)
    obs = driver.last_observation
    if rec.phase == Phase.PAUSED:
        driver.record_stop("timeout while paused")
        if driver.driving and obs is not None and obs.metrics_error:
            return EXIT_BACKEND, f"left paused; metrics unreachable: {obs.metrics_error}"
        return EXIT_STOPPED, f"left paused after {timeout:g} s: {rec.message}"
    driver.record_stop("timeout")
    return EXIT_STOPPED, f"timed out after {timeout:g} s at step {output.step_label(rec)}"


def _plan_differs(rec: RolloutRecord, plan: Plan) -> bool:
    """True when the record's plan is not ``plan`` (the file it came from aside)."""
    recorded = {k: v for k, v in dict(rec.plan).items() if k != "source"}
    return recorded != {k: v for k, v in plan.to_dict().items() if k != "source"}
