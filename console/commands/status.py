"""``rollout status [SERVICE] [--json] [--check]``: every service's rollout at a glance.

Columns: service, phase, strategy, step k/n, weights, driver (lease holder, none, or
``UNGUARDED since HH:MM:SS``) and the message. A rollout is unguarded when it is not
finished, its candidate takes traffic and no driver has held its lease for longer than the
lease TTL (``console.driver.guard``); ``--json`` rows carry ``"guarded"`` and
``"unguarded_since"``, and the top level ``"controller"`` (the running controller or null).
``--check`` exits 5 when any rollout is unguarded, for cron and CI probes, and sends the
plan's ``unguarded`` webhook unless someone already reported that stretch. The weights are
the record's; when the backend's live split differs (the demo was restarted, someone changed
traffic by hand) the cell adds ``(live: ...)``. ``--json`` prints ``{"environment": ..., "services": [...]}`` for scripts.
Exit codes: 0, 2 unknown service, bad config or an environment with no cluster (metrics
only), 4 a backend could not be reached, 5 (``--check`` only) a rollout is unguarded.

A record that cannot be read (torn or hand-edited file) does not hide the others: its row
says "unreadable", a warning naming the file goes to stderr, and the exit code stays 0
(like ``kubectl get`` with one bad object); ``--json`` rows carry it as ``"error"``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from backends.base import BackendError, CorruptRecord, Environment, TrafficSplit
from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT, EXIT_OK, EXIT_UNGUARDED
from console.config.settings import ConfigError, cluster_hint
from console.driver import unguarded
from console.driver.loop import holder_display
from console.view import text as output


def collect(
    env: Environment, only: str | None = None, now: float | None = None
) -> list[dict[str, Any]]:
    """One dict per service: its record (if any), lease holder, actual split and guard."""
    from console.driver.foreign import foreign_rollouts
    from console.view.foreign import status_row

    now = time.time() if now is None else now
    names: set[str] = set()
    if env.traffic is not None:
        names.update(env.traffic.services())
    if env.store is not None:
        names.update(env.store.services())
    foreign = foreign_rollouts(env)  # rollouts another controller drives (Argo Rollouts)
    names.update(foreign)
    if only is not None:
        if only not in names:
            raise LookupError(
                f"unknown service '{only}' in environment '{env.name}'; "
                f"known: {', '.join(sorted(names)) or 'none'}"
            )
        names = {only}
    rows = []
    for name in sorted(names):
        if name in foreign:
            rows.append(status_row(foreign[name]))
            continue
        error = ""
        try:
            rec = env.store.load(name) if env.store is not None else None
        except CorruptRecord as exc:
            rec, error = None, str(exc)
        lease = env.store.lease(name) if env.store is not None else None
        actual: dict[str, int] | None = None
        split: TrafficSplit | None = None
        traffic = _traffic_of(env, rec)
        if traffic is not None:
            try:
                split = traffic.get_split(name)
                actual = dict(split.weights)
            except BackendError:
                actual = None
        guard = (
            unguarded.check(env.store, rec, now, split=split)
            if env.store is not None and rec is not None
            else None
        )
        row: dict[str, Any] = {
            "service": name,
            "phase": str(rec.phase) if rec else ("unreadable" if error else None),
            "strategy": str(rec.strategy) if rec else None,
            "stable": rec.stable if rec else None,
            "candidate": rec.candidate if rec else None,
            "step": output.step_label(rec) if rec else None,
            "weights": dict(rec.weights) if rec else actual,
            "actual_weights": actual,
            "message": rec.message if rec else ("record unreadable" if error else ""),
            "driver": holder_display(lease.holder) if lease else None,
            "guarded": guard.guarded if guard is not None else True,
            "unguarded_since": guard.since if guard is not None else None,
            "updated_at": rec.updated_at if rec else None,
            "revision": rec.revision if rec else None,
        }
        if rec is not None and rec.plan.get("flag"):
            row["flag"] = rec.plan["flag"]  # weights are percents of users per variant
        report = (rec.engine.get("experiment") or {}).get("report") if rec is not None else None
        if report is not None:
            row["report"] = report  # an experiment's report (console/analysis/experiment.py)
        if error:
            row["error"] = error
        rows.append(row)
    return rows


def _traffic_of(env: Any, rec: Any) -> Any:
    """Where the live split comes from: a running flag rollout's flag (its variants'
    percents, console/driver/flags.py), else the environment's traffic backend."""
    if rec is None or rec.phase.terminal or not rec.plan.get("flag"):
        return env.traffic
    from console.driver.flags import for_plan
    from console.plan.model import Plan

    try:
        return for_plan(env, Plan.from_dict(rec.plan)).traffic
    except (KeyError, TypeError, ValueError):
        return env.traffic


def _weights_cell(row: dict[str, Any]) -> str:
    """The recorded split, plus the live one when the backend disagrees with the record.

    They differ after the demo was restarted (it starts at v1 100% again), when someone
    changed the traffic by hand, or for a moment while a driver applies a step.
    """
    recorded = output.weights_percent(row["weights"] or {})
    actual = row.get("actual_weights")
    if row["phase"] is None or actual is None:
        return recorded
    live = output.weights_percent(actual)
    if _positive(row["weights"] or {}) == _positive(actual):
        return recorded
    return f"{recorded} (live: {live})"


def _positive(weights: dict[str, int]) -> dict[str, int]:
    return {v: w for v, w in weights.items() if w > 0}


def _driver_cell(row: dict[str, Any]) -> str:
    if not row.get("guarded", True) and row.get("unguarded_since") is not None:
        return f"UNGUARDED since {output.clock_time(row['unguarded_since'])}"
    return str(row["driver"] or "none")


def _report(env: Environment, rows: list[dict[str, Any]], now: float) -> None:
    """``--check``: send each unguarded rollout's ``unguarded`` webhook, unless someone
    reported that stretch already (the record's marker, saved with compare-and-swap)."""
    from console.driver.loop import make_holder
    from console.driver.notify import close_plan_notifiers

    if env.store is None:
        return
    reporter = make_holder()
    for row in rows:
        if row.get("guarded", True):
            continue
        try:
            rec = env.store.load(row["service"])
            guard = unguarded.check(env.store, rec, now)
            if rec is not None and unguarded.report(env.store, rec, guard, now, reporter=reporter):
                print(f"rollout status: reported {row['service']} as unguarded", file=sys.stderr)
        except BackendError as exc:
            print(f"rollout status: {row['service']}: not reported: {exc}", file=sys.stderr)
    for e in close_plan_notifiers(wait=5.0):
        print(f"rollout status: {e.message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Print the status table (or JSON); with ``--check``, exit 5 if a rollout is unguarded."""
    from console.config.environments import open_for_reading
    from console.driver.presence import controller_running

    now = time.time()
    try:
        env, note = open_for_reading(args.env)
        if env.traffic is None and env.store is None and env.foreign is None:
            print(
                f"rollout status: environment '{env.name}' has no cluster (metrics only): "
                f"status needs an environment with a cluster, or the demo{cluster_hint()}",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        rows = collect(env, args.service, now)
    except (ConfigError, LookupError, ValueError) as exc:
        print(f"rollout status: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BackendError as exc:
        print(f"rollout status: {exc}", file=sys.stderr)
        return EXIT_BACKEND
    controller = controller_running(env.store, now) if env.store is not None else None
    if note:
        print(f"rollout status: {note}", file=sys.stderr)
    for r in rows:
        if r.get("error"):
            print(f"rollout status: warning: {r['error']}", file=sys.stderr)
    unguarded_names = [r["service"] for r in rows if not r.get("guarded", True)]
    if args.json:
        body = {
            "environment": env.name,
            "controller": holder_display(controller) if controller else None,
            "services": rows,
        }
        print(json.dumps(body, indent=2))
    else:
        header = ["SERVICE", "PHASE", "STRATEGY", "STEP", "WEIGHTS", "DRIVER", "MESSAGE"]
        table_rows = [
            [
                r["service"],
                r["phase"] or "-",
                r["strategy"] or "-",
                r["step"] or "-",
                _weights_cell(r),
                _driver_cell(r),
                r["message"] or "",
            ]
            for r in rows
        ]
        print(output.table(table_rows, header))
    if unguarded_names:
        print(
            f"rollout status: UNGUARDED: {', '.join(unguarded_names)}: no driver holds the lease and "
            "the candidate takes traffic, so nothing reverts it on a breach; run "
            "`rollout controller` (or `rollout auto PLAN`)",
            file=sys.stderr,
        )
    if getattr(args, "check", False) and unguarded_names:
        _report(env, rows, now)
        return EXIT_UNGUARDED
    return EXIT_OK
