"""Poll an environment's backends into one ``Snapshot`` for the console (blocking I/O).

The console runs ``collect_snapshot`` in a worker thread, never on the UI thread. Every
backend error is caught and recorded in words on the snapshot, so a dead backend shows as
missing data and a message, never as an exception in the UI.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from backends.base import (
    BackendError,
    Environment,
    ForeignRollout,
    MetricSample,
    RolloutRecord,
    TrafficSplit,
)
from console.driver import foreign as foreign_driver
from console.driver import presence, unguarded
from console.driver.flags import for_plan
from console.driver.guard import Guard
from console.plan.model import Plan
from console.view.overview import ServiceState, Snapshot

SAMPLE_WINDOW = 10.0  # seconds of traffic behind each live sample
AUDIT_LIMIT = 50


def _try(errors: list[str], what: str, fn: Callable[[], object]) -> object | None:
    try:
        return fn()
    except BackendError as exc:
        errors.append(f"{what}: {exc}")
    except Exception as exc:  # a backend bug must not take the console down
        errors.append(f"{what}: {type(exc).__name__}: {exc}")
    return None


def service_names(env: Environment) -> tuple[list[str], str | None]:
    """Services from the router and from the store (a record may outlive its route)."""
    names: list[str] = []
    errors: list[str] = []
    if env.traffic is not None:
        got = _try(errors, "traffic", env.traffic.services)
        names.extend(got if isinstance(got, list) else [])
    if env.store is not None:
        got = _try(errors, "state store", env.store.services)
        names.extend(got if isinstance(got, list) else [])
    return list(dict.fromkeys(names)), ("; ".join(errors) or None)


def collect_service(
    env: Environment,
    service: str,
    *,
    with_audit: bool = False,
    window: float = SAMPLE_WINDOW,
    now: float | None = None,
) -> ServiceState:
    """Read one service's record, split, health, samples and lease, and whether a live
    driver guards it; errors become text."""
    errors: list[str] = []
    record = lease = split = None
    versions: list[str] = []
    health: dict = {}
    samples: dict = {}
    audit: list = []
    if env.store is not None:
        record = _try(errors, "record", lambda: env.store.load(service))  # type: ignore[union-attr]
        lease = _try(errors, "lease", lambda: env.store.lease(service))  # type: ignore[union-attr]
        if with_audit:
            got = _try(errors, "audit", lambda: env.store.read_audit(service, AUDIT_LIMIT))  # type: ignore[union-attr]
            audit = got if isinstance(got, list) else []
    env = _as_seen(env, record)
    if env.traffic is not None:
        t = env.traffic
        got = _try(errors, "versions", lambda: t.versions(service))
        versions = got if isinstance(got, list) else []
        split = _try(errors, "split", lambda: t.get_split(service))
        got = _try(errors, "health", lambda: t.health(service))
        health = got if isinstance(got, dict) else {}
    if not versions and record is not None:
        versions = [record.stable, record.candidate]  # type: ignore[attr-defined]
    if env.metrics is not None and versions:
        m = env.metrics
        got = _try(errors, "metrics", lambda: m.sample(service, versions, window))
        samples = got if isinstance(got, dict) else {}
    guard = None
    if env.store is not None and isinstance(record, RolloutRecord):
        store, when = env.store, time.time() if now is None else now
        live = split if isinstance(split, TrafficSplit) else None
        got = _try(errors, "lease", lambda: unguarded.check(store, record, when, split=live))
        guard = got if isinstance(got, Guard) else None
    return ServiceState(
        service=service,
        versions=tuple(versions),
        record=record,  # type: ignore[arg-type]
        split=split,  # type: ignore[arg-type]
        health=health,
        samples=samples,
        lease=lease,  # type: ignore[arg-type]
        audit=tuple(audit),
        errors=tuple(errors),
        guard=guard,
    )


def collect_foreign(
    env: Environment, fr: ForeignRollout, *, with_audit: bool = False, window: float = SAMPLE_WINDOW
) -> ServiceState:
    """A rollout another controller drives: its object as read, the environment's metrics
    for its stable and canary versions (image tags), and its history when asked."""
    from console.view.foreign import tag

    errors: list[str] = []
    versions = [tag(v) for v in (fr.stable, fr.canary) if v]
    samples: dict = {}
    audit: list = []
    if env.metrics is not None and versions:
        m = env.metrics
        got = _try(errors, "metrics", lambda: m.sample(fr.name, versions, window))
        samples = got if isinstance(got, dict) else {}
    if with_audit and env.foreign is not None:
        f = env.foreign
        got = _try(errors, "history", lambda: f.history(fr.name, AUDIT_LIMIT))
        audit = got if isinstance(got, list) else []
    series = analysis_series(env, fr) if with_audit else {}
    return ServiceState(
        service=fr.name,
        versions=tuple(versions),
        samples=samples,
        audit=tuple(audit),
        errors=tuple(errors),
        foreign=fr,
        query_series=series,
    )


QUERY_SECONDS = 900.0  # the longest chart window
QUERY_STEP = 15.0


def analysis_series(
    env: Environment, fr: ForeignRollout, *, now: float | None = None
) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    """Each Prometheus metric of the rollout's analysis over the last 15 minutes: its query
    (args filled in) asked of the environment's Prometheus, else of the address the analysis
    names (``env.extras["prometheus_range"]``, made by the composition root). A source that
    does not answer is no error of the rollout's: the chart shows the measurements instead."""
    from console.view.foreign_detail import queries

    factory = env.extras.get("prometheus_range")
    if factory is None:
        return {}
    end = time.time() if now is None else now
    out: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
    for metric, address, query in queries(fr):
        if metric in out:
            continue
        ranger = factory(address)
        if ranger is None:
            continue
        # not the rollout's error when it fails: the chart falls back to the measurements
        ask = partial(ranger, query, end - QUERY_SECONDS, end, QUERY_STEP)
        got = _try([], f"analysis query {metric}", ask)
        points = [(t, v) for t, v in (got if isinstance(got, list) else []) if v is not None]
        if points:
            out[metric] = (tuple(t for t, _ in points), tuple(float(v) for _, v in points))
    return out


def _as_seen(env: Environment, record: object) -> Environment:
    """The environment as a running flag rollout sees it: its flag's variants, split and
    per-variant metrics (console/driver/flags.py); otherwise unchanged."""
    if not isinstance(record, RolloutRecord) or record.phase.terminal:
        return env
    if not record.plan.get("flag"):
        return env
    try:
        return for_plan(env, Plan.from_dict(record.plan))
    except (KeyError, TypeError, ValueError):  # a hand-edited plan: show the service as is
        return env


def collect_snapshot(
    env: Environment,
    *,
    detail: str | None = None,
    clock: Callable[[], float] = time.time,
) -> Snapshot:
    """Poll every service once. ``detail`` names the service whose audit log is read too."""
    names, error = service_names(env)
    now = clock()
    errors: list[str] = [error] if error else []
    got = _try(
        errors,
        env.foreign.name if env.foreign else "",
        lambda: foreign_driver.foreign_rollouts(env),
    )
    foreign: dict[str, ForeignRollout] = got if isinstance(got, dict) else {}
    error = "; ".join(errors) or None
    names = list(dict.fromkeys([*names, *sorted(foreign)]))
    services = {
        n: (
            collect_foreign(env, foreign[n], with_audit=(n == detail))
            if n in foreign
            else collect_service(env, n, with_audit=(n == detail), now=now)
        )
        for n in names
    }
    if error is None and services and all(s.errors for s in services.values()):
        error = services[names[0]].errors[0]
    controller = None
    if env.store is not None:
        store = env.store
        got = _try([], "controller", lambda: presence.controller_running(store, now))
        controller = got if isinstance(got, str) else None
    return Snapshot(taken_at=now, services=services, error=error, controller=controller)


def fetch_history(
    env: Environment, service: str, versions: list[str], *, now: float, seconds: float = 900.0
) -> dict[str, list[MetricSample]]:
    """Past samples for the charts; empty when the metrics source cannot give them."""
    if env.metrics is None or not versions:
        return {}
    try:
        return env.metrics.history(service, versions, now - seconds, 5.0)
    except Exception:  # history is a nicety; live samples fill the charts anyway
        return {}
