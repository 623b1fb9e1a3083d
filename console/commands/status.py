"""``rollout status [SERVICE] [--json]``: every service's rollout at a glance.

Columns: service, phase, strategy, step k/n, weights, driver (lease holder or none) and the
message. The weights are the record's; when the backend's live split differs (the demo was
restarted, someone changed traffic by hand) the cell adds ``(live: ...)``. ``--json`` prints ``{"environment": ..., "services": [...]}`` for scripts.
Exit codes: 0, 2 unknown service, bad config or an environment with no cluster (metrics
only), 4 a backend could not be reached.

A record that cannot be read (torn or hand-edited file) does not hide the others: its row
says "unreadable", a warning naming the file goes to stderr, and the exit code stays 0
(like ``kubectl get`` with one bad object); ``--json`` rows carry it as ``"error"``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from backends.base import BackendError, CorruptRecord, Environment
from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT, EXIT_OK
from console.config.settings import ConfigError, cluster_hint
from console.driver.loop import holder_display
from console.view import text as output


def collect(env: Environment, only: str | None = None) -> list[dict[str, Any]]:
    """One dict per service: its record (if any), lease holder and actual split."""
    names: set[str] = set()
    if env.traffic is not None:
        names.update(env.traffic.services())
    if env.store is not None:
        names.update(env.store.services())
    if only is not None:
        if only not in names:
            raise LookupError(
                f"unknown service '{only}' in environment '{env.name}'; "
                f"known: {', '.join(sorted(names)) or 'none'}"
            )
        names = {only}
    rows = []
    for name in sorted(names):
        error = ""
        try:
            rec = env.store.load(name) if env.store is not None else None
        except CorruptRecord as exc:
            rec, error = None, str(exc)
        lease = env.store.lease(name) if env.store is not None else None
        actual: dict[str, int] | None = None
        if env.traffic is not None:
            try:
                actual = dict(env.traffic.get_split(name).weights)
            except BackendError:
                actual = None
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
            "updated_at": rec.updated_at if rec else None,
            "revision": rec.revision if rec else None,
        }
        if error:
            row["error"] = error
        rows.append(row)
    return rows


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


def run(args: argparse.Namespace) -> int:
    """Print the status table (or JSON)."""
    from console.config.environments import open_for_reading

    try:
        env, note = open_for_reading(args.env)
        if env.traffic is None and env.store is None:
            print(
                f"rollout status: environment '{env.name}' has no cluster (metrics only): "
                f"status needs an environment with a cluster, or the demo{cluster_hint()}",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        rows = collect(env, args.service)
    except (ConfigError, LookupError, ValueError) as exc:
        print(f"rollout status: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BackendError as exc:
        print(f"rollout status: {exc}", file=sys.stderr)
        return EXIT_BACKEND
    if note:
        print(f"rollout status: {note}", file=sys.stderr)
    for r in rows:
        if r.get("error"):
            print(f"rollout status: warning: {r['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps({"environment": env.name, "services": rows}, indent=2))
        return EXIT_OK
    header = ["SERVICE", "PHASE", "STRATEGY", "STEP", "WEIGHTS", "DRIVER", "MESSAGE"]
    table_rows = [
        [
            r["service"],
            r["phase"] or "-",
            r["strategy"] or "-",
            r["step"] or "-",
            _weights_cell(r),
            r["driver"] or "none",
            r["message"] or "",
        ]
        for r in rows
    ]
    print(output.table(table_rows, header))
    return EXIT_OK
