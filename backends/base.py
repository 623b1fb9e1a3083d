"""Contracts between the console and the world, and the plain data that crosses them.

Everything here is plain Python: frozen dataclasses, enums and typing Protocols. Backends
(``backends/local``, ``backends/prometheus``, ``backends/kubernetes``) implement the
Protocols; the engine, driver and UI only ever see these types. Nothing in this module does
I/O, and it imports nothing from ``console`` or ``widgets``.

Units: times are POSIX seconds (float), durations and latencies are seconds (float), ratios
are 0..1, weights are integer percents. Missing data is ``None``, never 0.

It is the one shared vocabulary: every type that crosses a boundary is in this file, most
of its length ``to_dict``/``from_dict`` pairs.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

# --------------------------------------------------------------------------- errors


class BackendError(Exception):
    """A backend could not do what was asked (unreachable, refused, timed out).

    ``rollout auto`` exits 4 on these. Messages must be safe to show: no secrets.
    """


class BackendUnavailable(BackendError):
    """The backend could not be reached at all (connection refused, DNS, timeout)."""


class NotFound(BackendError):
    """A named service, version or object does not exist."""


class Forbidden(BackendError):
    """The backend refused for lack of permission; the message names what is missing."""


class Unsupported(BackendError):
    """The backend cannot do this at all (e.g. a latency metric from HAProxy counters)."""


class ConflictError(BackendError):
    """A compare-and-swap write lost: someone else wrote first. Reload and retry."""


class CorruptRecord(BackendError):
    """A service's stored record exists but cannot be read (torn or hand-edited file).

    Not an outage: retrying will not help, so commands exit 2 and name the file to move.
    """

    def __init__(self, service: str, where: str, reason: str) -> None:
        self.service = service
        self.where = where
        self.reason = reason
        super().__init__(
            f"the record of {service} at {where} cannot be read: {reason}; "
            "move it aside to start over"
        )


# --------------------------------------------------------------------------- enums


class Strategy(StrEnum):
    CANARY = "canary"
    BLUEGREEN = "bluegreen"
    ROLLING = "rolling"
    # Issue 15 (additive): a flag's variant rolled out to a growing percent of users, and an
    # A/B experiment between arms (flag variants or versions). See docs/plan-reference.md.
    FLAG = "flag"
    EXPERIMENT = "experiment"


class Phase(StrEnum):
    PENDING = "Pending"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    COMPLETED = "Completed"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"

    @property
    def terminal(self) -> bool:
        return self in (Phase.COMPLETED, Phase.ROLLED_BACK, Phase.ABORTED)


class CommandKind(StrEnum):
    PROMOTE = "promote"
    PROMOTE_FULL = "promote-full"
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    RETRY = "retry"


# --------------------------------------------------------------------------- version names


def is_image(version: str) -> bool:
    """A candidate like ``ghcr.io/lms/courses:2.0`` names an image, not a version label."""
    return "/" in version or ":" in version or "@" in version


def version_label(version: str) -> str:
    """A label- and DNS-safe form of a version (an image's tag for an image reference).

    Every backend that names objects or labels metrics after a version uses this, so a plan
    whose candidate is an image finds the same version in the cluster and in Prometheus.
    """
    if is_image(version):
        tail = version.rsplit("@", 1)[0]
        version = tail.rsplit(":", 1)[1] if ":" in tail.rsplit("/", 1)[-1] else "latest"
    label = re.sub(r"[^a-z0-9-]+", "-", version.lower()).strip("-")
    return (label or "v")[:40]


# --------------------------------------------------------------------------- traffic


@dataclass(frozen=True)
class MatchRule:
    """Requests matching every given header and cookie go to the rule's version.

    ``headers`` and ``cookies`` map a name to an exact value (header names are
    case-insensitive).
    """

    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"headers": dict(self.headers), "cookies": dict(self.cookies)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MatchRule:
        return cls(headers=dict(d.get("headers", {})), cookies=dict(d.get("cookies", {})))


@dataclass(frozen=True)
class TrafficSplit:
    """How a service's traffic is routed right now.

    ``weights`` maps version -> integer percent, summing to 100 over the versions that take
    traffic. ``match_version`` receives requests matching any of ``match`` regardless of the
    weights. ``mirror_version`` gets a copy of ``mirror_percent`` % of requests, answers
    dropped. ``approximate`` is true where the backend can only split by replica ratio.
    """

    weights: Mapping[str, int]
    match: tuple[MatchRule, ...] = ()
    match_version: str | None = None
    mirror_version: str | None = None
    mirror_percent: int = 0
    approximate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": dict(self.weights),
            "match": [m.to_dict() for m in self.match],
            "match_version": self.match_version,
            "mirror_version": self.mirror_version,
            "mirror_percent": self.mirror_percent,
            "approximate": self.approximate,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrafficSplit:
        return cls(
            weights={str(k): int(v) for k, v in d.get("weights", {}).items()},
            match=tuple(MatchRule.from_dict(m) for m in d.get("match", [])),
            match_version=d.get("match_version"),
            mirror_version=d.get("mirror_version"),
            mirror_percent=int(d.get("mirror_percent", 0)),
            approximate=bool(d.get("approximate", False)),
        )


@dataclass(frozen=True)
class VersionHealth:
    """Instances (processes or pods) of one version: how many exist and how many are ready."""

    version: str
    ready: int
    total: int
    restarts: int = 0
    reasons: tuple[str, ...] = ()  # e.g. ("CrashLoopBackOff: courses-v2-7f9 exit 1",)
    desired: int | None = None  # what the backend was asked for, when it knows

    @property
    def all_ready(self) -> bool:
        return self.total > 0 and self.ready >= self.total


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class MetricSample:
    """One version's traffic over a window ending at ``at``.

    ``error_ratio`` is 5xx / all; it is 0.0 for a version with traffic and no errors and
    ``None`` for a version with no traffic. Latencies are seconds.

    The counts the sequential test needs (console/analysis/sequential.py), where the source
    has them (``None`` otherwise): ``failures``, the 5xx answers in the window, and
    ``latency_buckets``, the window's latency histogram as cumulative ``(le, count)`` pairs,
    ``le`` in seconds and ``math.inf`` for the bucket that holds every request.
    """

    version: str
    at: float
    window: float
    requests: float | None  # requests counted in the window
    request_rate: float | None  # per second
    error_ratio: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    failures: float | None = None  # 5xx answers counted in the window
    latency_buckets: tuple[tuple[float, float], ...] | None = None


# --------------------------------------------------------------------------- commands, events, audit


@dataclass(frozen=True)
class Command:
    """An operator's wish, posted to the store and applied by the driver on its next tick."""

    kind: CommandKind
    service: str
    user: str = ""
    host: str = ""
    at: float = 0.0
    id: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["kind"] = str(self.kind)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Command:
        return cls(
            kind=CommandKind(d["kind"]),
            service=str(d["service"]),
            user=str(d.get("user", "")),
            host=str(d.get("host", "")),
            at=float(d.get("at", 0.0)),
            id=str(d.get("id", "")),
            reason=str(d.get("reason", "")),
        )


@dataclass(frozen=True)
class Event:
    """Something that happened to a rollout, with a reason a person can read.

    ``kind`` is one of: started, step, weight, pause, resume, analysis, breach, inconclusive,
    metrics-error, health, rollback, aborted, completed, promoted, command, notify-failed,
    driver, lease, unguarded. ``data`` holds the numbers behind ``message`` (JSON-serializable).
    """

    at: float
    service: str
    kind: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "service": self.service,
            "kind": self.kind,
            "message": self.message,
            "data": dict(self.data),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Event:
        return cls(
            at=float(d["at"]),
            service=str(d["service"]),
            kind=str(d["kind"]),
            message=str(d["message"]),
            data=dict(d.get("data", {})),
        )


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which rollout, and why. Operator commands and automatic decisions."""

    at: float
    service: str
    actor: str  # "alice@laptop" for an operator, "engine" for an automatic decision
    action: str  # the command or rule, e.g. "promote", "rollback", "set-split"
    reason: str
    user: str = ""
    host: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["data"] = dict(self.data)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AuditEntry:
        return cls(
            at=float(d["at"]),
            service=str(d["service"]),
            actor=str(d.get("actor", "")),
            action=str(d.get("action", "")),
            reason=str(d.get("reason", "")),
            user=str(d.get("user", "")),
            host=str(d.get("host", "")),
            data=dict(d.get("data", {})),
        )


# --------------------------------------------------------------------------- engine I/O


@dataclass(frozen=True)
class RolloutStatus:
    """A service run as ONE workload that does its own rolling update (a Kubernetes
    Deployment named after the service): the controller's progress, as
    ``kubectl rollout status`` reads it. ``version`` is what the template runs now."""

    version: str
    revision: int
    desired: int
    updated: int
    ready: int
    paused: bool
    reason: str = ""  # the Progressing condition's reason, e.g. ProgressDeadlineExceeded


@dataclass(frozen=True)
class Observation:
    """What the driver saw this tick; the engine's only view of the world.

    ``metrics`` is ``None`` when the metrics source could not be reached (``metrics_error``
    says why); a version missing from the mapping has no data. ``custom`` holds custom
    query results: metric name -> version -> value (``None`` for no data).
    """

    at: float
    health: Mapping[str, VersionHealth]
    split: TrafficSplit | None = None
    metrics: Mapping[str, MetricSample] | None = None
    custom: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    metrics_error: str | None = None
    traffic_error: str | None = None
    rollout: RolloutStatus | None = None  # set when the backend rolls the service natively


# Actions the engine asks the driver to apply to the TrafficBackend, in order.


@dataclass(frozen=True)
class SetSplit:
    weights: Mapping[str, int]


@dataclass(frozen=True)
class SetMatch:
    rules: tuple[MatchRule, ...]
    version: str | None  # None clears the routes


@dataclass(frozen=True)
class SetMirror:
    version: str | None
    percent: int


@dataclass(frozen=True)
class Deploy:
    version: str
    instances: int


@dataclass(frozen=True)
class Scale:
    version: str
    instances: int


@dataclass(frozen=True)
class Retire:
    version: str


# Native rolling (the workload's own controller does the batching; see RolloutStatus).


@dataclass(frozen=True)
class RollingUpdate:
    """Start the workload's own rolling update to ``version``, sized to ``instances``."""

    version: str
    instances: int
    max_surge: int
    max_unavailable: int
    min_ready: float


@dataclass(frozen=True)
class HoldRollout:
    """Pause (``hold=True``) or resume the controller's rolling update."""

    hold: bool


@dataclass(frozen=True)
class UndoRollout:
    """Put the workload back on ``version`` (its last revision running it), unpaused."""

    version: str


Action = (
    SetSplit
    | SetMatch
    | SetMirror
    | Deploy
    | Scale
    | Retire
    | RollingUpdate
    | HoldRollout
    | UndoRollout
)


def action_to_dict(action: Action) -> dict[str, Any]:
    """A JSON-friendly form of an action, for logs and the record."""
    d: dict[str, Any] = {"action": type(action).__name__}
    for f in dataclasses.fields(action):
        v = getattr(action, f.name)
        if isinstance(v, Mapping):
            v = dict(v)
        elif isinstance(v, tuple):
            v = [m.to_dict() if isinstance(m, MatchRule) else m for m in v]
        d[f.name] = v
    return d


# --------------------------------------------------------------------------- the persisted record


@dataclass(frozen=True)
class RolloutRecord:
    """The durable state of one rollout: everything needed to resume it after a crash.

    ``plan`` is the validated plan in its plain-dict form (``Plan.to_dict()``), so a
    resumed driver runs exactly the plan that was started. ``engine`` is engine-owned,
    JSON-serializable bookkeeping (analysis counters, blue/green and rolling progress).
    ``revision`` is bumped by the store on every successful save (compare-and-swap).
    """

    service: str
    strategy: Strategy
    stable: str
    candidate: str
    phase: Phase
    plan: Mapping[str, Any]
    step_index: int = 0  # index into the plan's steps (canary) or batches (rolling)
    step_started_at: float = 0.0
    weights: Mapping[str, int] = field(default_factory=dict)  # what the engine last set
    message: str = ""  # the reason for the current phase, in words and numbers
    started_at: float = 0.0
    updated_at: float = 0.0
    revision: int = 0
    engine: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[Event, ...] = ()  # the most recent events (bounded by the engine)
    commands_done: tuple[str, ...] = ()  # keys of the last commands applied (driver-owned)

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "strategy": str(self.strategy),
            "stable": self.stable,
            "candidate": self.candidate,
            "phase": str(self.phase),
            "plan": dict(self.plan),
            "step_index": self.step_index,
            "step_started_at": self.step_started_at,
            "weights": dict(self.weights),
            "message": self.message,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "revision": self.revision,
            "engine": dict(self.engine),
            "events": [e.to_dict() for e in self.events],
            "commands_done": list(self.commands_done),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RolloutRecord:
        return cls(
            service=str(d["service"]),
            strategy=Strategy(d["strategy"]),
            stable=str(d["stable"]),
            candidate=str(d["candidate"]),
            phase=Phase(d["phase"]),
            plan=dict(d.get("plan", {})),
            step_index=int(d.get("step_index", 0)),
            step_started_at=float(d.get("step_started_at", 0.0)),
            weights={str(k): int(v) for k, v in d.get("weights", {}).items()},
            message=str(d.get("message", "")),
            started_at=float(d.get("started_at", 0.0)),
            updated_at=float(d.get("updated_at", 0.0)),
            revision=int(d.get("revision", 0)),
            engine=dict(d.get("engine", {})),
            events=tuple(Event.from_dict(e) for e in d.get("events", [])),
            commands_done=tuple(str(k) for k in d.get("commands_done", [])),
        )


@dataclass(frozen=True)
class Lease:
    service: str
    holder: str
    expires_at: float


# --------------------------------------------------------------------------- protocols


@runtime_checkable
class TrafficBackend(Protocol):
    """Routes a service's traffic between versions and manages their instances."""

    name: str  # "demo", "kubernetes prod-eu/lms", shown in the header

    def services(self) -> list[str]: ...

    def versions(self, service: str) -> list[str]: ...

    def get_split(self, service: str) -> TrafficSplit: ...

    def set_split(self, service: str, weights: Mapping[str, int]) -> None:
        """Weights are integers summing to 100. Raises NotFound, BackendError."""
        ...

    def set_match(self, service: str, rules: Sequence[MatchRule], version: str | None) -> None: ...

    def set_mirror(self, service: str, version: str | None, percent: int) -> None: ...

    def health(self, service: str) -> dict[str, VersionHealth]: ...

    def deploy(self, service: str, version: str, instances: int) -> None: ...

    def scale(self, service: str, version: str, instances: int) -> None: ...

    def retire(self, service: str, version: str) -> None: ...


@runtime_checkable
class NativeRollingBackend(Protocol):
    """Optional, beside TrafficBackend: services whose own controller rolls them.

    ``native_rollout`` returns None for a service laid out one workload per version (then
    the engine batches with Deploy/Scale); otherwise the engine drives the controller with
    RollingUpdate, HoldRollout and UndoRollout, applied through the methods below.
    """

    def native_rollout(self, service: str) -> RolloutStatus | None: ...

    def start_rolling(
        self,
        service: str,
        version: str,
        *,
        instances: int,
        max_surge: int,
        max_unavailable: int,
        min_ready: float,
    ) -> None: ...

    def hold_rolling(self, service: str, hold: bool) -> None: ...

    def undo_rolling(self, service: str, version: str) -> None: ...


@dataclass(frozen=True)
class Routing:
    """What a traffic backend can do for one service as it is laid out now.

    ``weighted``: any integer split (else only all-or-nothing switches); ``switch``: all
    traffic moved between two running pools at once (blue/green); ``match``: header and
    cookie routes; ``mirror``: mirroring a percent of requests. ``reason`` says what is
    missing and how to get it, in words for the user.
    """

    weighted: bool = True
    switch: bool = True
    match: bool = True
    mirror: bool = True
    reason: str = ""
    # Added for fixed fleets (HAProxy): ``rolling``: a rolling update can start new
    # instances; ``fixed_fleet``: versions are servers already there (a candidate must exist).
    rolling: bool = True
    fixed_fleet: bool = False


@runtime_checkable
class RoutingInfo(Protocol):
    """Optional, beside TrafficBackend: say up front what routing a service supports, so a
    plan that needs more is refused before it starts. Backends without it support all."""

    def routing(self, service: str) -> Routing: ...


@runtime_checkable
class UserRouting(Protocol):
    """Optional, beside TrafficBackend (issue 15, additive): split a service by user, so the
    same user (``x-lms-user`` header, else ``lms_user`` cookie) always gets the same version
    under the same weights; experiments between versions need it (sticky arms)."""

    def set_user_routing(self, service: str, by_user: bool) -> None: ...


@runtime_checkable
class MetricsBackend(Protocol):
    """Per-version traffic metrics. Raises BackendUnavailable when the source is down."""

    def sample(
        self, service: str, versions: Sequence[str], window: float
    ) -> dict[str, MetricSample]: ...

    def history(
        self, service: str, versions: Sequence[str], since: float, step: float
    ) -> dict[str, list[MetricSample]]: ...

    def query(
        self, service: str, versions: Sequence[str], template: str, window: float
    ) -> dict[str, float | None]:
        """Evaluate a custom query per version. Raises Unsupported where there is no
        query language (the in-process demo metrics)."""
        ...


@runtime_checkable
class StateStore(Protocol):
    """Durable rollout records, the audit log, the driver lease and the command queue."""

    def services(self) -> list[str]:
        """Services that have a record."""
        ...

    def load(self, service: str) -> RolloutRecord | None: ...

    def save(self, record: RolloutRecord, expected_revision: int) -> RolloutRecord:
        """Write if the stored revision equals ``expected_revision`` (0: no record yet).
        Returns the record with its new revision. Raises ConflictError otherwise."""
        ...

    def append_audit(self, entry: AuditEntry) -> None: ...

    def read_audit(self, service: str, limit: int | None = None) -> list[AuditEntry]: ...

    def acquire_lease(self, service: str, holder: str, ttl: float) -> bool: ...

    def renew(self, service: str, holder: str, ttl: float) -> bool: ...

    def release(self, service: str, holder: str) -> None: ...

    def lease(self, service: str) -> Lease | None:
        """The current unexpired lease, if any."""
        ...

    def post_command(self, command: Command) -> None: ...

    def take_commands(self, service: str) -> list[Command]:
        """Remove and return the pending commands, oldest first."""
        ...


def command_key(command: Command) -> str:
    """What identifies a posted command (its id; older posts without one: time, kind, who)."""
    return command.id or f"{command.at!r}:{command.kind}:{command.user}@{command.host}"


@runtime_checkable
class CommandInbox(Protocol):
    """Optional, beside StateStore: read commands without removing them, and remove them
    only once the record that applied them is saved (so a driver killed in between loses
    none; ``RolloutRecord.commands_done`` keeps one from being applied twice)."""

    def peek_commands(self, service: str) -> list[Command]: ...

    def ack_commands(self, service: str, keys: Collection[str]) -> None: ...


# --------------------------------------------------------------------------- feature flags
#
# Flags follow flagd's flag definitions (https://flagd.dev/schema/v0/flags.json): a flag has a
# state (ENABLED/DISABLED), named variants, a default variant and JsonLogic targeting. The
# console edits the targeting only in one shape, which ``Flag`` describes: cohort rules
# first (a context field equal to / in values -> a variant), then a fractional split of
# users, then the default variant. Targeting of any other shape is shown raw and left alone
# (``Flag.editable`` is False; the setters raise ``Unsupported`` for it, except the kill
# switch, which replaces it).

FLAG_AUDIT_SERVICE = "flags"  # the audit stream (StateStore service key) of flag changes


class UnknownFlag(NotFound):
    """No flag of that key; the message names the known ones (exit 2)."""

    def __init__(self, flag: str, known: Sequence[str]) -> None:
        self.flag = flag
        self.known = tuple(known)
        super().__init__(f"unknown flag '{flag}'; known: {', '.join(known) or 'none'}")


class UnknownVariant(NotFound):
    """The flag has no variant of that name; the message names its variants (exit 2)."""

    def __init__(self, flag: str, variant: str, known: Sequence[str]) -> None:
        self.flag = flag
        self.variant = variant
        self.known = tuple(known)
        super().__init__(
            f"flag '{flag}' has no variant '{variant}'; its variants: {', '.join(known)}"
        )


class FlagFileError(BackendError):
    """A flag definition is malformed: ``where`` (the file), ``field`` (a path such as
    ``flags.new-gradebook.defaultVariant``) and what is wrong. Nothing was written."""

    def __init__(self, where: str, field: str, reason: str) -> None:
        self.where = where
        self.field = field
        self.reason = reason
        super().__init__(f"{where}: {field}: {reason}" if field else f"{where}: {reason}")


@dataclass(frozen=True)
class CohortRule:
    """Requests whose evaluation-context field ``field`` (a header such as ``x-lms-beta``, or
    ``user``) equals one of ``values`` get ``variant``. flagd: ``{"==": [{"var": field},
    value]}`` for one value, ``{"in": [{"var": field}, [values...]]}`` for several."""

    field: str
    values: tuple[str, ...]
    variant: str

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "values": list(self.values), "variant": self.variant}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CohortRule:
        return cls(
            field=str(d["field"]),
            values=tuple(str(v) for v in d.get("values", [])),
            variant=str(d["variant"]),
        )


@dataclass(frozen=True)
class Flag:
    """One flag as its source defines it now.

    ``variants`` maps a variant name to its value (all booleans, strings, numbers or
    objects). ``cohorts`` are checked in order, first match wins; then ``fractional``
    (variant -> percent of users, summing to 100; empty for none) hashes ``bucket_by``
    (a context field; "" is flagd's default, the flag key with the targeting key, i.e. the
    user); then ``default_variant``. A disabled flag is as if absent: callers get their
    code default. ``off_variant`` is where the kill switch puts the flag: the variant named
    in the flag's ``metadata.offVariant``, else one named ``off``, else the one whose value
    is ``false``, else the default.
    """

    key: str
    enabled: bool
    variants: Mapping[str, Any]
    default_variant: str | None
    cohorts: tuple[CohortRule, ...] = ()
    fractional: Mapping[str, int] = field(default_factory=dict)
    bucket_by: str = ""
    targeting: Mapping[str, Any] = field(default_factory=dict)  # the JsonLogic as stored
    editable: bool = True
    off_variant: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def variant_names(self) -> list[str]:
        return list(self.variants)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "enabled": self.enabled,
            "variants": dict(self.variants),
            "default_variant": self.default_variant,
            "cohorts": [c.to_dict() for c in self.cohorts],
            "fractional": dict(self.fractional),
            "bucket_by": self.bucket_by,
            "targeting": dict(self.targeting),
            "editable": self.editable,
            "off_variant": self.off_variant,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Flag:
        return cls(
            key=str(d["key"]),
            enabled=bool(d.get("enabled", True)),
            variants=dict(d.get("variants", {})),
            default_variant=d.get("default_variant"),
            cohorts=tuple(CohortRule.from_dict(c) for c in d.get("cohorts", [])),
            fractional={str(k): int(v) for k, v in d.get("fractional", {}).items()},
            bucket_by=str(d.get("bucket_by", "")),
            targeting=dict(d.get("targeting", {})),
            editable=bool(d.get("editable", True)),
            off_variant=d.get("off_variant"),
            metadata=dict(d.get("metadata", {})),
        )


def percent_split(flag: Flag, variant: str, percent: int) -> dict[str, int]:
    """``variant`` for ``percent`` % of users, the rest for the flag's off variant (or its
    default, or its first other variant): ``{"on": 20, "off": 80}``, for ``set_fractional``.
    Raises UnknownVariant, ValueError (percent outside 0..100, no other variant)."""
    if variant not in flag.variants:
        raise UnknownVariant(flag.key, variant, list(flag.variants))
    if isinstance(percent, bool) or not 0 <= percent <= 100:
        raise ValueError(f"percent must be 0..100, got {percent}")
    others = [
        v for v in (flag.off_variant, flag.default_variant, *flag.variants) if v and v != variant
    ]
    if not others:
        raise ValueError(f"flag '{flag.key}' has no other variant to give the rest to")
    return {variant: percent, others[0]: 100 - percent}


@runtime_checkable
class FlagBackend(Protocol):
    """Feature flags of an environment, in flagd's flag definitions.

    Reads raise ``BackendUnavailable`` when the source cannot be reached and
    ``FlagFileError`` when what it holds is malformed. Every setter reads, changes one flag
    and writes the whole definition back atomically (readers see the old or the new file,
    never a torn one), and returns the flag as written. Setters raise ``UnknownFlag`` /
    ``UnknownVariant`` (nothing written), ``Unsupported`` for targeting of a shape the
    console does not edit, ``FlagFileError`` when the change would make the file invalid.
    Auditing is the caller's job (``FLAG_AUDIT_SERVICE`` in the environment's store).
    """

    name: str  # "flagd file /home/me/.local/state/rollout/demo/flags.json"

    def flags(self) -> list[Flag]:
        """Every flag, in the file's order."""
        ...

    def flag(self, key: str) -> Flag:
        """One flag; UnknownFlag if absent."""
        ...

    def set_default(self, key: str, variant: str) -> Flag:
        """Serve ``variant`` to everyone outside the cohorts: it becomes the default
        variant, the fractional split is removed, the flag is enabled."""
        ...

    def set_fractional(self, key: str, weights: Mapping[str, int]) -> Flag:
        """Split users by percent (``{"on": 20, "off": 80}``, summing to 100, sticky per
        user); an empty mapping removes the split. Cohorts and default are kept."""
        ...

    def set_cohort(self, key: str, rule: CohortRule) -> Flag:
        """Add the cohort rule, or replace the flag's rule on the same field."""
        ...

    def clear_cohort(self, key: str, field: str) -> Flag:
        """Remove the flag's cohort rule on ``field`` (no-op when there is none)."""
        ...

    def set_enabled(self, key: str, enabled: bool) -> Flag:
        """flagd's state: ENABLED, or DISABLED (the flag is as if absent)."""
        ...

    def kill(self, key: str) -> Flag:
        """The kill switch for one flag: enabled, default = ``off_variant``, targeting
        removed (any shape), so everyone gets the off variant."""
        ...

    def kill_all(self) -> list[Flag]:
        """The kill switch for every flag at once, in one write."""
        ...


@runtime_checkable
class FlagMetrics(Protocol):
    """Optional, beside MetricsBackend: traffic per variant of a flag, over every service
    that evaluated it (the demo's ``lms_flag_request_duration_seconds{service,flag,variant,
    code}``). Each ``MetricSample``'s ``version`` field holds the variant's name; a variant
    with no traffic in the window has ``requests`` 0 and ``None`` ratios, as a version has."""

    def flag_sample(
        self, flag: str, variants: Sequence[str], window: float
    ) -> dict[str, MetricSample]: ...


@dataclass
class Environment:
    """What one environment gives the console: where traffic, metrics and state live."""

    name: str
    traffic: TrafficBackend | None
    metrics: MetricsBackend | None
    store: StateStore | None
    description: str = ""  # "demo", "kube prod-eu / lms"
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. the demo control client
    # rollouts another controller drives (Argo Rollouts, Flagger); see ForeignController
    foreign: ForeignController | None = None
    flags: FlagBackend | None = None  # feature flags (flagd definitions), where configured


# --------------------------------------------------------------------------- foreign controllers
# Rollouts that another controller drives (Argo Rollouts, Flagger): the console reads their
# custom resources and sends their verbs, it never drives them. Additive to the contracts
# above: an Environment without ``foreign`` behaves exactly as before. docs/internals.md,
# "Foreign controllers".

FOREIGN_VERBS = ("promote", "promote-full", "pause", "resume", "abort", "retry", "undo")


@dataclass(frozen=True)
class ForeignMeasurement:
    """One measurement of one metric, as the controller recorded it (value as text)."""

    value: str
    phase: str  # Successful, Failed, Inconclusive, Error, Running
    at: float | None = None
    message: str = ""


@dataclass(frozen=True)
class ForeignMetric:
    """One metric of an analysis: its conditions as written and its counts against limits.

    Argo: ``successCondition``/``failureCondition`` and ``failureLimit``/``inconclusiveLimit``;
    Flagger: ``thresholdRange`` written as a condition, and the Canary's ``threshold`` as
    the failure limit. ``query`` is the provider's query with the analysis' args filled in.
    """

    name: str
    phase: str = ""
    success_condition: str = ""
    failure_condition: str = ""
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    successful: int = 0
    count: int = 0
    failure_limit: int | None = None
    inconclusive_limit: int | None = None
    error_limit: int | None = None
    interval: str = ""
    provider: str = ""  # "prometheus", "web", ...
    address: str = ""  # the provider's address (Prometheus URL), when it has one
    query: str = ""
    message: str = ""
    measurements: tuple[ForeignMeasurement, ...] = ()
    no_chart: str = ""  # why a metric that would be charted has no query (its analysis row says)


@dataclass(frozen=True)
class ForeignAnalysis:
    """One analysis run (Argo AnalysisRun) or a Canary's analysis (Flagger)."""

    name: str
    phase: str  # Pending, Running, Successful, Failed, Inconclusive, Error
    kind: str = ""  # "step", "background", "pre-promotion", "post-promotion", "canary"
    message: str = ""
    metrics: tuple[ForeignMetric, ...] = ()
    args: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ForeignStep:
    """One step of the controller's plan in words (``setWeight 20``, ``pause 30s``)."""

    text: str
    weight: int | None = None  # the weight the step sets, when it sets one


@dataclass(frozen=True)
class ForeignRollout:
    """A rollout another controller drives, mapped onto what the console shows.

    ``phase`` is the console's word (for colours, alerts, exit codes); ``status`` the
    controller's own (Argo: Healthy, Progressing, Paused, Degraded; Flagger: Initialized,
    Progressing, Promoting, Succeeded, Failed, ...). ``step`` counts from 1 (``None`` when
    the strategy has no steps); ``set_weight`` is what the controller asked for and
    ``actual_weight`` what the traffic router reports. ``failed_checks``/``threshold`` and
    ``iterations`` are Flagger's counters (``None`` for Argo).
    """

    controller: str  # "argo-rollouts", "flagger"
    kind: str  # the custom resource's kind: "Rollout", "Canary"
    name: str
    phase: Phase
    status: str
    strategy: Strategy
    message: str = ""
    step: int | None = None
    steps_total: int | None = None
    steps: tuple[ForeignStep, ...] = ()
    set_weight: int | None = None
    actual_weight: int | None = None
    stable: str = ""  # the stable version: an image, or a revision hash
    canary: str = ""  # the candidate, "" when nothing is rolling out
    ready: int = 0
    desired: int = 0
    updated: int = 0
    pause_reasons: tuple[str, ...] = ()
    aborted: bool = False
    active: str = ""  # blue/green: the active and preview selectors
    preview: str = ""
    revision: int | None = None
    analyses: tuple[ForeignAnalysis, ...] = ()
    failed_checks: int | None = None
    threshold: int | None = None
    iterations: int | None = None
    updated_at: float | None = None  # the last transition the controller recorded

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``rollout status --json`` (enums as their words)."""
        d = dataclasses.asdict(self)
        d["phase"], d["strategy"] = str(self.phase), str(self.strategy)
        return d


@runtime_checkable
class ForeignController(Protocol):
    """Reads the rollouts another controller drives and sends that controller's verbs.

    ``verbs`` are the FOREIGN_VERBS this controller has an API for; ``act`` raises
    Unsupported for any other, NotFound for an unknown rollout, ConflictError when the
    rollout cannot take the verb now (its message says why), Forbidden, BackendError.
    ``act`` records who did it (``user``, ``reason``) where the controller keeps history;
    ``history`` reads it back as audit entries, oldest first.
    """

    name: str  # "argo-rollouts"
    verbs: frozenset[str]

    def rollouts(self) -> list[ForeignRollout]: ...

    def rollout(self, name: str) -> ForeignRollout: ...

    def act(self, name: str, verb: str, *, user: str, reason: str = "") -> str: ...

    def history(self, name: str, limit: int | None = None) -> list[AuditEntry]: ...
