"""What the engine keeps between two steps of a rollout (``record.engine``), with types.

The stored form is unchanged: ``RolloutRecord.engine`` stays a plain JSON dict under the
short keys written since the first version (``sub``, ``s``, ``c_next``, ...). ``from_dict``
reads exactly those keys and ``to_dict`` writes exactly them back, so a record saved by an
earlier version loads unchanged, one saved now loads in an earlier version, and
``EngineState.from_dict(d).to_dict() == d`` for every dict the engine writes
(tests/core/test_engine_saved_records.py holds records saved before these types existed).
Keys this version does not know are kept in ``extra`` and written back as they were.

The classes are mutable on purpose. ``Ctx`` builds one ``EngineState`` from the record at
the start of each engine call, the strategies update it in place while they decide, and
``Ctx.build`` writes it back with ``to_dict``; the record itself stays frozen and the state
never outlives the call, so an update cannot leak into a saved record. Frozen classes would
turn each of the engine's many small updates into a ``replace`` of the enclosing objects.

A key the engine has not written yet is absent from the stored dict; here it is ``None``
(or ``False``/``0`` for flags and counts, which are written only when set). The few keys the
engine writes as an explicit ``null`` keep that in a field of their own
(``ready_since_kept``) or in the rule of their container (``AnalysisState.last`` is written
with ``stage``; ``RollingProgress.candidate_scaled_to`` is always written).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backends.base import Phase, RolloutRecord
from console.analysis.sequential import SequentialTest
from console.analysis.verdicts import Counters, Measurement

__all__ = [
    "AnalysisState",
    "BlueGreenProgress",
    "CanaryProgress",
    "EngineState",
    "Notice",
    "Pause",
    "Rollback",
    "RollingProgress",
    "Sizing",
]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _put(d: dict[str, Any], key: str, value: Any) -> None:
    """Write ``key`` only when it holds something (absent keys stay absent)."""
    if value is not None and value is not False:
        d[key] = value


@dataclass
class Notice:
    """The last time a persisting condition was announced (``notices[key]``)."""

    message: str
    at: float

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Notice:
        return cls(message=str(d.get("message", "")), at=float(d.get("at", 0.0)))

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "at": self.at}


@dataclass
class Pause:
    """Why the rollout is Paused (``pause``): ``kind`` is ``gate`` (a manual gate), ``user``,
    ``breach``, ``inconclusive`` or ``metrics-error``; ``at`` starts the frozen time."""

    kind: str
    reason: str = ""
    at: float | None = None
    by: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Pause:
        return cls(
            kind=str(d.get("kind", "")),
            reason=str(d.get("reason", "")),
            at=_float(d.get("at")),
            by=str(d.get("by", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "reason": self.reason}
        _put(d, "at", self.at)
        d["by"] = self.by
        return d


@dataclass
class Rollback:
    """A rollback in progress (``rollback``): why, and the phase it ends in (``phase``)."""

    reason: str
    target: Phase
    at: float | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rollback:
        return cls(
            reason=str(d.get("reason", "")),
            target=Phase(d.get("phase", str(Phase.ROLLED_BACK))),
            at=_float(d.get("at")),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"reason": self.reason, "phase": str(self.target)}
        _put(d, "at", self.at)
        return d


@dataclass
class Sizing:
    """What a version was last sized to, and by which action (``sizes[version]``, stored as
    ``[instances, "Deploy" | "Scale" | "Retire"]``)."""

    instances: int
    action: str

    @classmethod
    def from_list(cls, value: Any) -> Sizing:
        instances, action = value
        return cls(int(instances), str(action))

    def to_list(self) -> list[Any]:
        return [self.instances, self.action]


@dataclass
class AnalysisState:
    """The analysis of the current stage (``analysis``).

    ``interval_start`` (``last_at``) is when the current measurement interval began: the
    last measurement, or the candidate's first exposure; the next measurement is due one
    ``interval`` later. ``last`` is the latest measurement of this stage (written, as null
    until there is one, whenever ``stage`` is); ``prev_status`` its status, to report a
    change of status once.

    ``tests`` holds the state of each ``test: sequential`` metric of this stage (since the
    candidate's exposure began) and ``counted_until`` the end of the last window counted
    into them (console/analysis/feed.py); stored under ``seq`` only once a test exists, so
    records of plans without one are stored as before.
    """

    stage: str | None = None
    interval_start: float | None = None
    last: Measurement | None = None
    prev_status: str | None = None
    tests: dict[str, SequentialTest] = field(default_factory=dict)
    counted_until: float | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AnalysisState:
        last = d.get("last")
        seq = d.get("seq")
        tests: dict[str, SequentialTest] = {}
        until = None
        if isinstance(seq, Mapping):
            until = _float(seq.get("until"))
            for name, raw in (seq.get("tests") or {}).items():
                if isinstance(raw, Mapping):
                    try:
                        tests[str(name)] = SequentialTest.from_dict(raw)
                    except ValueError:
                        continue  # unreadable (a later format): that test starts again
        return cls(
            stage=None if d.get("stage") is None else str(d["stage"]),
            interval_start=_float(d.get("last_at")),
            last=Measurement.from_dict(last) if isinstance(last, Mapping) else None,
            prev_status=None if d.get("prev_status") is None else str(d["prev_status"]),
            tests=tests,
            counted_until=until,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        _put(d, "stage", self.stage)
        _put(d, "last_at", self.interval_start)
        if self.stage is not None or self.last is not None:
            d["last"] = self.last.to_dict() if self.last is not None else None
        _put(d, "prev_status", self.prev_status)
        if self.tests:
            seq: dict[str, Any] = {"tests": {k: t.to_dict() for k, t in self.tests.items()}}
            _put(seq, "until", self.counted_until)
            d["seq"] = seq
        return d


@dataclass
class CanaryProgress:
    """Canary's own keys: ``applied`` (the current setWeight step's split is set),
    ``waive`` (the index of the step a ``promote`` let go) and ``deployed`` (instances the
    engine deployed the candidate with, when nothing ran it)."""

    step_applied: bool = False
    waived_step: int | None = None
    deployed: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CanaryProgress:
        waive = d.get("waive")
        return cls(
            step_applied=bool(d.get("applied")),
            # Rolling stores ``waive: true`` under the same key (EngineState.gate_waived).
            waived_step=int(waive) if waive is not None and not isinstance(waive, bool) else None,
            deployed=_int(d.get("deployed")),
        )

    def write(self, d: dict[str, Any]) -> None:
        _put(d, "applied", self.step_applied)
        if self.waived_step is not None:
            d["waive"] = self.waived_step
        _put(d, "deployed", self.deployed)


@dataclass
class BlueGreenProgress:
    """Blue/green's own keys: ``pool`` (the preview pool's size), ``promoted`` (traffic
    switched to the candidate), ``promote_requested`` (switch once the pool is ready) and
    ``waive_post`` (retire the stable pool without waiting for ``scaleDownDelay``)."""

    pool: int | None = None
    switched: bool = False
    promote_requested: bool = False
    retire_now: bool = False

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BlueGreenProgress:
        return cls(
            pool=_int(d.get("pool")),
            switched=bool(d.get("promoted")),
            promote_requested=bool(d.get("promote_requested")),
            retire_now=bool(d.get("waive_post")),
        )

    def write(self, d: dict[str, Any]) -> None:
        _put(d, "pool", self.pool)
        _put(d, "promoted", self.switched)
        _put(d, "promote_requested", self.promote_requested)
        _put(d, "waive_post", self.retire_now)


@dataclass
class RollingProgress:
    """A rolling update's sizes and progress (``rolling``), instance counts throughout.

    Plain path: the stable is scaled down and the candidate up a batch at a time. Native
    path (``native``): the workload's controller replaces the pods, the engine starts,
    holds, releases and undoes it.
    """

    stable_at_start: int  # stable_start: restored on rollback
    stable_ready_at_start: int  # stable_ready_start: how ready a rollback waits for
    target: int  # candidate instances at the end
    batch_size: int  # batch: maxSurge + maxUnavailable, at least 1
    max_unavailable: int  # unavailable
    batch_count: int  # batches
    stable_scaled_to: int  # s: what the stable is scaled to now
    stable_after_batch: int  # s_end: what the stable goes down to once the batch counts
    candidate_counted: int  # c: candidate instances counted as ready (finished batches)
    candidate_next: int  # c_next: candidate instances the batch in progress waits for
    candidate_scaled_to: int | None  # c_scaled: the last Scale target; None: never touched
    native: bool | None = None  # the workload's own controller rolls it
    update_started: bool = False  # started: RollingUpdate issued (native)
    update_started_at: float | None = None  # started_at
    held: bool | None = None  # what spec.paused was last set to (native)
    held_at: float | None = None
    undone: bool = False  # UndoRollout issued (native rollback)
    undone_at: float | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RollingProgress:
        native, held = d.get("native"), d.get("held")
        return cls(
            stable_at_start=int(d["stable_start"]),
            stable_ready_at_start=int(d["stable_ready_start"]),
            target=int(d["target"]),
            batch_size=int(d["batch"]),
            max_unavailable=int(d["unavailable"]),
            batch_count=int(d["batches"]),
            stable_scaled_to=int(d["s"]),
            stable_after_batch=int(d["s_end"]),
            candidate_counted=int(d["c"]),
            candidate_next=int(d["c_next"]),
            candidate_scaled_to=_int(d.get("c_scaled")),
            native=None if native is None else bool(native),
            update_started=bool(d.get("started")),
            update_started_at=_float(d.get("started_at")),
            held=None if held is None else bool(held),
            held_at=_float(d.get("held_at")),
            undone=bool(d.get("undone")),
            undone_at=_float(d.get("undone_at")),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "stable_start": self.stable_at_start,
            "stable_ready_start": self.stable_ready_at_start,
            "target": self.target,
            "batch": self.batch_size,
            "unavailable": self.max_unavailable,
            "batches": self.batch_count,
            "s": self.stable_scaled_to,
            "s_end": self.stable_after_batch,
            "c": self.candidate_counted,
            "c_next": self.candidate_next,
            "c_scaled": self.candidate_scaled_to,
        }
        if self.native is not None:
            d["native"] = self.native
        _put(d, "started", self.update_started)
        if self.held is not None:
            d["held"] = self.held
        _put(d, "started_at", self.update_started_at)
        _put(d, "held_at", self.held_at)
        _put(d, "undone", self.undone)
        _put(d, "undone_at", self.undone_at)
        return d


_KNOWN_KEYS = frozenset(
    {
        *("sub", "counters", "analysis", "custom", "exposure_at", "traffic_started"),
        *("took_traffic", "match_on", "mirror_on", "split_at", "sizes", "sized_at"),
        *("pause", "rollback", "notices", "retries", "full", "ready_since", "batches"),
        *("waive", "rolling", "applied", "deployed", "pool", "promoted"),
        *("promote_requested", "waive_post", "unhealthy_since", "restarts_base"),
        "ready_seen",
    }
)


@dataclass
class EngineState:
    """Everything in ``record.engine``. Common to the strategies first, then each one's own.

    Times are the engine's ``now`` (seconds since the epoch).
    """

    sub: str | None = None  # the strategy's sub-phase; None: bookkeeping not started
    # analysis
    counters: Counters | None = None
    analysis: AnalysisState | None = None
    custom: dict[str, Any] | None = None  # custom metric values of the last measurement
    exposure_at: float | None = None  # when the candidate's exposure last changed
    # traffic
    traffic_started: bool = False  # the rollout left Pending (candidate ready to serve)
    took_traffic: bool = False  # the candidate took traffic in this attempt
    match_on: bool = False  # match routes reach the candidate
    mirror_on: bool = False  # mirroring reaches the candidate
    split_at: float | None = None  # the engine's last routing change (reconciling)
    sizes: dict[str, Sizing] | None = None  # what each version was last sized to
    sized_at: float | None = None  # the engine's last sizing action (reconciling)
    # pauses, rollback, commands
    pause: Pause | None = None
    rollback: Rollback | None = None
    notices: dict[str, Notice] | None = None  # rate limits of repeated waiting notices
    retries: int = 0
    promote_full: bool = False  # full: promote-full asked (canary and rolling)
    # progressDeadline (console/engine/deadline.py): since when the candidate has not been
    # all ready, and its restart count when it was first seen taking traffic.
    unhealthy_since: float | None = None
    restarts_base: int | None = None
    ready_seen: int | None = None  # the candidate's ready instances last seen (progress)
    # rolling: when the batch in wait-ready had its instances ready (minReady counts from
    # here). Stored as null while they are not, and absent before the first batch.
    ready_since: float | None = None
    ready_since_kept: bool = False  # the key is stored even while ready_since is None
    batches: int | None = None  # rolling.batch_count again, at the top for tables
    gate_waived: bool = False  # waive: true: promote lets the next batch go at once
    rolling: RollingProgress | None = None
    # the other strategies' own keys (stored at the top level too)
    canary: CanaryProgress = field(default_factory=CanaryProgress)
    bluegreen: BlueGreenProgress = field(default_factory=BlueGreenProgress)
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> EngineState:
        """Read a stored ``record.engine`` (any version's; missing keys are simply unset)."""
        d = d or {}
        analysis, rolling, pause, rollback = (
            d.get("analysis"),
            d.get("rolling"),
            d.get("pause"),
            d.get("rollback"),
        )
        notices, sizes, custom = d.get("notices"), d.get("sizes"), d.get("custom")
        waive = d.get("waive")
        return cls(
            sub=None if d.get("sub") is None else str(d["sub"]),
            counters=Counters.from_dict(d["counters"]) if "counters" in d else None,
            analysis=AnalysisState.from_dict(analysis) if analysis is not None else None,
            custom=dict(custom) if custom is not None else None,
            exposure_at=_float(d.get("exposure_at")),
            traffic_started=bool(d.get("traffic_started")),
            took_traffic=bool(d.get("took_traffic")),
            match_on=bool(d.get("match_on")),
            mirror_on=bool(d.get("mirror_on")),
            split_at=_float(d.get("split_at")),
            sizes=(
                {str(v): Sizing.from_list(s) for v, s in sizes.items()}
                if sizes is not None
                else None
            ),
            sized_at=_float(d.get("sized_at")),
            pause=Pause.from_dict(pause) if pause else None,
            rollback=Rollback.from_dict(rollback) if rollback else None,
            notices=(
                {str(k): Notice.from_dict(n) for k, n in notices.items()}
                if notices is not None
                else None
            ),
            retries=int(d.get("retries", 0)),
            promote_full=bool(d.get("full")),
            unhealthy_since=_float(d.get("unhealthy_since")),
            restarts_base=_int(d.get("restarts_base")),
            ready_seen=_int(d.get("ready_seen")),
            ready_since=_float(d.get("ready_since")),
            ready_since_kept="ready_since" in d,
            batches=_int(d.get("batches")),
            gate_waived=waive is True,
            rolling=RollingProgress.from_dict(rolling) if rolling is not None else None,
            canary=CanaryProgress.from_dict(d),
            bluegreen=BlueGreenProgress.from_dict(d),
            extra=copy.deepcopy({k: v for k, v in d.items() if k not in _KNOWN_KEYS}),
        )

    @classmethod
    def of_record(cls, record: RolloutRecord) -> EngineState:
        """The bookkeeping of a saved record, for views and commands outside the engine:
        bookkeeping that does not parse (edited by hand, or written some other way) reads
        as none rather than failing the view. The engine itself reads it with ``from_dict``.
        """
        try:
            return cls.from_dict(record.engine)
        except (KeyError, TypeError, ValueError, AttributeError):
            return cls()

    def to_dict(self) -> dict[str, Any]:
        """The stored form: the same keys and values an earlier version wrote."""
        d: dict[str, Any] = {}
        _put(d, "sub", self.sub)
        if self.counters is not None:
            d["counters"] = self.counters.to_dict()
        if self.analysis is not None:
            d["analysis"] = self.analysis.to_dict()
        if self.custom is not None:
            d["custom"] = dict(self.custom)
        _put(d, "exposure_at", self.exposure_at)
        _put(d, "traffic_started", self.traffic_started)
        _put(d, "took_traffic", self.took_traffic)
        _put(d, "match_on", self.match_on)
        _put(d, "mirror_on", self.mirror_on)
        _put(d, "split_at", self.split_at)
        if self.sizes is not None:
            d["sizes"] = {v: s.to_list() for v, s in self.sizes.items()}
        _put(d, "sized_at", self.sized_at)
        if self.pause is not None:
            d["pause"] = self.pause.to_dict()
        if self.rollback is not None:
            d["rollback"] = self.rollback.to_dict()
        if self.notices is not None:
            d["notices"] = {k: n.to_dict() for k, n in self.notices.items()}
        if self.retries:
            d["retries"] = self.retries
        _put(d, "full", self.promote_full)
        _put(d, "unhealthy_since", self.unhealthy_since)
        _put(d, "restarts_base", self.restarts_base)
        _put(d, "ready_seen", self.ready_seen)
        if self.ready_since is not None or self.ready_since_kept:
            d["ready_since"] = self.ready_since
        _put(d, "batches", self.batches)
        if self.gate_waived:
            d["waive"] = True
        if self.rolling is not None:
            d["rolling"] = self.rolling.to_dict()
        self.canary.write(d)
        self.bluegreen.write(d)
        d.update(self.extra)
        return d

    def set_ready_since(self, at: float | None) -> None:
        """A rolling batch's readiness clock: ``at`` once its instances are ready, None
        (stored as null) while they are not."""
        self.ready_since = at
        self.ready_since_kept = True

    # ------------------------------------------------------------------ readers

    @property
    def pause_kind(self) -> str | None:
        """The kind of the pause held now (``gate`` for a manual gate), or None."""
        return self.pause.kind if self.pause is not None else None

    @property
    def stage(self) -> str | None:
        """The analysis stage measured last (``canary``, ``rolling``, ``preview``, ``post``)."""
        return self.analysis.stage if self.analysis is not None else None

    @property
    def last_measurement(self) -> Measurement | None:
        return self.analysis.last if self.analysis is not None else None

    def notice_keys(self) -> frozenset[str]:
        return frozenset(self.notices or ())
