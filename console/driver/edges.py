"""The driver's edges: what it observes of the world each tick, and how it applies actions.

``observe`` turns backend calls into an ``Observation``; every failure becomes an error
field (``traffic_error``, ``metrics_error``) for the engine to judge, never an exception.
``apply_action`` maps an engine action onto the ``TrafficBackend``. ``make_holder`` names
this process as a lease holder (``user@host:pid:random``).
"""

from __future__ import annotations

import getpass
import os
import secrets
import socket
from collections.abc import Mapping

from backends.base import (
    Action,
    BackendError,
    Deploy,
    Environment,
    HoldRollout,
    MetricSample,
    NativeRollingBackend,
    Observation,
    Retire,
    RollingUpdate,
    RolloutRecord,
    RolloutStatus,
    Scale,
    SetMatch,
    SetMirror,
    SetSplit,
    Strategy,
    TrafficBackend,
    TrafficSplit,
    UndoRollout,
    Unsupported,
    VersionHealth,
)
from console.engine import experiment as engine_experiment
from console.engine.state import EngineState
from console.plan.model import AnalysisSpec, Plan


def whoami() -> tuple[str, str]:
    """The OS user and host name, for audit entries and the lease holder."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return user, socket.gethostname()


def make_holder() -> str:
    """A lease holder id unique to this process: ``user@host:pid:random``."""
    user, host = whoami()
    return f"{user}@{host}:{os.getpid()}:{secrets.token_hex(3)}"


def holder_display(holder: str) -> str:
    """``alice@laptop`` from ``alice@laptop:1234:ab12cd``."""
    return holder.split(":", 1)[0]


def holder_gone(holder: str, owner: str | None = None) -> bool:
    """True when ``holder`` (``make_holder``'s form) names a process of ``owner`` (default:
    this user ``user@host``) that no longer exists on this host: its lease can be freed
    without waiting out the TTL. Any other holder (another host, another form, a live or
    foreign process) is not gone."""
    if owner is None:
        user, host = whoami()
        owner = f"{user}@{host}"
    parts = holder.split(":")
    if len(parts) != 3 or parts[0] != owner or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False  # alive: a real holder


DEFAULT_WINDOW = 30.0  # metrics window when the plan has no analysis at all (charts only)


def describe(exc: BaseException) -> str:
    """A backend error's message; other exceptions get their type name in front."""
    text = str(exc) or type(exc).__name__
    if not isinstance(exc, BackendError):
        text = f"{type(exc).__name__}: {text}"
    return text


def analysis_spec(plan: Plan, record: RolloutRecord | None) -> AnalysisSpec | None:
    """The analysis block in force: the plan's, or blue/green preview vs post-promotion."""
    if plan.analysis is not None:
        return plan.analysis
    bg = plan.bluegreen
    if bg is None:
        return None
    stage = EngineState.of_record(record).stage if record is not None else None
    if stage is not None:
        return bg.preview_analysis if stage == "preview" else bg.post_promotion_analysis
    promoted = record is not None and record.weights.get(record.candidate, 0) >= 100
    if promoted and bg.post_promotion_analysis is not None:
        return bg.post_promotion_analysis
    return bg.preview_analysis or bg.post_promotion_analysis


def watched_versions(
    record: RolloutRecord | None, plan: Plan, split: TrafficSplit | None
) -> list[str]:
    """Stable and candidate; before the rollout starts, whatever serves now plus the candidate.
    An experiment: every arm."""
    if plan.experiment is not None:
        return [a.name for a in plan.experiment.arms]
    if record is not None:
        return [record.stable, record.candidate]
    out: list[str] = []
    if plan.stable:
        out.append(plan.stable)
    for v, w in (split.weights if split else {}).items():
        if w > 0 and v not in out:
            out.append(v)
    if plan.candidate not in out:
        out.append(plan.candidate)
    return out


def observe(
    env: Environment, service: str, record: RolloutRecord | None, plan: Plan, now: float
) -> Observation:
    """Health, split, metrics over the analysis window and custom queries, for one tick."""
    assert env.traffic is not None
    traffic: TrafficBackend = env.traffic
    health: dict[str, VersionHealth] = {}
    split: TrafficSplit | None = None
    traffic_error: str | None = None
    try:
        health = dict(traffic.health(service))
    except Exception as exc:  # any backend failure is data for the engine, not a crash
        traffic_error = f"health: {describe(exc)}"
    try:
        split = traffic.get_split(service)
    except Exception as exc:
        traffic_error = traffic_error or f"split: {describe(exc)}"
    rollout: RolloutStatus | None = None
    if plan.strategy is Strategy.ROLLING and isinstance(traffic, NativeRollingBackend):
        try:
            rollout = traffic.native_rollout(service)
        except Exception as exc:
            traffic_error = traffic_error or f"rollout status: {describe(exc)}"
    versions = watched_versions(record, plan, split)
    metrics: Mapping[str, MetricSample] | None = None
    custom: dict[str, Mapping[str, float | None]] = {}
    metrics_error: str | None = None
    spec = analysis_spec(plan, record)
    window = spec.effective_window if spec else DEFAULT_WINDOW
    if plan.experiment is not None and record is not None:
        window = engine_experiment.window(record.engine, record.started_at, now) or window
    if env.metrics is None:
        metrics_error = f"environment '{env.name}' has no metrics source"
    else:
        try:
            metrics = env.metrics.sample(service, versions, window)
        except Exception as exc:
            metrics_error = describe(exc)
        for m in spec.metrics if spec else ():
            if m.query is None:
                continue
            try:
                custom[m.name] = env.metrics.query(service, versions, m.query, window)
            except Exception as exc:
                metrics_error = metrics_error or f"{m.name}: {describe(exc)}"
        if plan.experiment is not None:
            extra, problem = experiment_numbers(env.metrics, service, plan, versions, window)
            custom.update(extra)
            metrics_error = metrics_error or problem
    return Observation(
        at=now,
        health=health,
        split=split,
        metrics=metrics,
        custom=custom,
        metrics_error=metrics_error,
        traffic_error=traffic_error,
        rollout=rollout,
    )


# A business counter's growth per version arm, as PromQL (flag arms go through the flag's
# VariantMetrics.counter_increase instead, console/driver/flags.py).
COUNTER_QUERY = 'sum(increase({counter}{{service="{{{{service}}}}",version="{{{{version}}}}"}}[{{{{window}}}}]))'


def experiment_numbers(
    metrics: object, service: str, plan: Plan, arms: list[str], window: float
) -> tuple[dict[str, Mapping[str, float | None]], str | None]:
    """An experiment's numbers beside the samples: its business counter per arm, and
    distinct users per arm where the source counts them (``arm_users``)."""
    x = plan.experiment
    out: dict[str, Mapping[str, float | None]] = {}
    problem: str | None = None
    if x is None:
        return out, None
    counter = x.metric.counter
    if counter is not None:
        try:
            direct = getattr(metrics, "counter_increase", None)
            if direct is not None:
                out[engine_experiment.COUNTER_KEY] = direct(service, counter, arms, window)
            else:
                query = getattr(metrics, "query")  # noqa: B009 -- MetricsBackend's own
                out[engine_experiment.COUNTER_KEY] = query(
                    service, arms, COUNTER_QUERY.format(counter=counter), window
                )
        except Exception as exc:
            problem = f"{counter}: {describe(exc)}"
    users = getattr(metrics, "arm_users", None)
    if users is not None:
        try:
            out[engine_experiment.USERS_KEY] = users(service, arms, window)
        except Exception:  # users are a nicety of the report: never an error
            pass
    return out, problem


def apply_action(traffic: TrafficBackend, service: str, action: Action) -> None:
    """Apply one engine action ("set to" operations: applying twice is harmless)."""
    if isinstance(action, SetSplit):
        traffic.set_split(service, dict(action.weights))
    elif isinstance(action, SetMatch):
        traffic.set_match(service, list(action.rules), action.version)
    elif isinstance(action, SetMirror):
        traffic.set_mirror(service, action.version, action.percent)
    elif isinstance(action, Deploy):
        traffic.deploy(service, action.version, action.instances)
    elif isinstance(action, Scale):
        traffic.scale(service, action.version, action.instances)
    elif isinstance(action, Retire):
        traffic.retire(service, action.version)
    elif not isinstance(traffic, NativeRollingBackend):
        raise Unsupported(f"{traffic.name} cannot run a rolling update of its own for {service}")
    elif isinstance(action, RollingUpdate):
        traffic.start_rolling(
            service,
            action.version,
            instances=action.instances,
            max_surge=action.max_surge,
            max_unavailable=action.max_unavailable,
            min_ready=action.min_ready,
        )
    elif isinstance(action, HoldRollout):
        traffic.hold_rolling(service, action.hold)
    elif isinstance(action, UndoRollout):
        traffic.undo_rolling(service, action.version)


def unsupported_metrics(metrics: object, plan: Plan) -> str:
    """Why the metrics source cannot measure one of the plan's built-in metrics (e.g.
    latency from HAProxy's counters), or "" when it can. Without this check such a metric
    would only ever read "no data" and pause the rollout as inconclusive."""
    require = getattr(metrics, "require", None)
    if require is None:
        return ""
    specs = [plan.analysis]
    if plan.bluegreen is not None:
        specs += [plan.bluegreen.preview_analysis, plan.bluegreen.post_promotion_analysis]
    names = {m.name for spec in specs if spec is not None for m in spec.metrics if m.builtin}
    try:
        require(sorted(names))
    except Unsupported as exc:
        return str(exc)
    return ""
