"""Playing a drill on a running demo: start its rollout, play its timeline, watch the audit.

The rollout is driven by a ``rollout auto`` child process (the "driving terminal"; the
``kill: driver`` entry kills it), so the console and one-shot commands act on it exactly as
on any rollout. The operator's actions are read back from the audit log, whoever took them
(a console key, ``rollout abort``, or ``--respond``). At the end the demo is left as it was
found (faults cleared, metrics source on, load restored) and the requests that failed each
second are read from the metrics history for the report (``console.drills.scoring``).
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import FLAG_AUDIT_SERVICE, AuditEntry, BackendError, Environment, Flag
from console.drills import scoring, timeline
from console.drills.model import CLEAR, FAULT, FLAG, KILL, LOAD, METRICS, Event, Scenario
from console.drills.report import ActionTaken, Report

START_TIMEOUT = 60.0  # for the driver's first tick (it deploys the candidate)
DEFAULT_JITTER = 0.002  # the demo instances' own jitter, put back after a `jitter` fault
# Audit actions of the operator verbs, as the drill names them.
AUDIT_ACTIONS = {
    "abort": "rollback",
    "pause": "pause",
    "resume": "resume",
    "promote": "promote",
    "promote-full": "promote",
}
DRILL_ACTOR = "drill"  # the actor of the drill's own (scenario) changes in the audit


class DrillError(Exception):
    """The drill cannot run here; the message says why and what to do."""


@dataclass(frozen=True)
class Response:
    """A scripted response (``--respond ACTION@SECONDS``), seconds from the drill's start."""

    action: str
    at: float

    def __str__(self) -> str:
        return f"{self.action}@{self.at:g}"


def operator_name() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


class Drill:
    """One run of a scenario on ``env`` (a running demo). ``run`` blocks until the drill
    ends; the console reads ``elapsed()``, calls ``notice()`` on the operator's first key
    and waits on ``finished`` for ``report``.

    ``driver_argv(plan_path)`` is the command line of the process that drives the rollout.
    """

    def __init__(
        self,
        scenario: Scenario,
        env: Environment,
        *,
        driver_argv: Callable[[Path], list[str]],
        workdir: Path,
        mode: str = "headless",
        respond: Response | None = None,
        seed: int | None = None,
        operator: str | None = None,
        clock: Callable[[], float] = time.time,
        poll: float = 0.25,
        reopen: Callable[[], Environment] | None = None,
    ) -> None:
        self.scenario = scenario
        self.env = env
        self.driver_argv = driver_argv
        self.workdir = workdir
        self.mode = mode
        self.respond = respond
        self.seed = seed
        self.operator = operator or operator_name()
        self.clock = clock
        self.poll = poll
        # A second connection to the demo, for calls that block for long (a crash-looping
        # restart waits up to 30 s) and must not hold up the drill's own calls.
        self.reopen = reopen
        self.t0: float | None = None
        self.first_notice: float | None = None
        self.report: Report | None = None
        self.error: str | None = None
        self.finished = threading.Event()
        self.played: list[Event] = []
        self.warnings: list[str] = []  # demo calls that failed and were tried again
        self._proc: subprocess.Popen[bytes] | None = None
        self._touched: set[tuple[str, str]] = set()
        self._jittered: set[tuple[str, str]] = set()
        self._rps: float | None = None
        self._flags_before: dict[str, Flag] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ for the console

    def elapsed(self) -> float | None:
        """Seconds since the drill's rollout began; None before."""
        return None if self.t0 is None else self.clock() - self.t0

    def incident_started(self) -> bool:
        e = self.elapsed()
        return e is not None and e >= self.scenario.incident

    def notice(self) -> None:
        """The operator touched the drill's rollout (first key on it): remember when."""
        with self._lock:
            e = self.elapsed()
            if e is not None and self.first_notice is None:
                self.first_notice = e

    # ------------------------------------------------------------------ the run

    def check(self) -> None:
        """Refuse what cannot work on this environment, before anything changes."""
        control = self.env.extras.get("control")
        if control is None or self.env.store is None or self.env.traffic is None:
            raise DrillError("drills run on the embedded demo (`rollout demo`); this is not it")
        if self.scenario.needs_flags() and self.env.flags is None:
            raise DrillError(
                f"scenario {self.scenario.name} needs feature flags, and this demo has none"
            )
        if self.scenario.kills_driver():
            from console.driver.presence import controller_running

            if controller_running(self.env.store) is not None:
                raise DrillError(
                    f"scenario {self.scenario.name} kills the rollout's driver, but a rollout "
                    "controller runs here and would take over; stop that demo (or start one "
                    "with --no-controller), or let the drill start its own"
                )
        service = self.scenario.service
        try:
            record = self.env.store.load(service)
        except BackendError as exc:
            raise DrillError(f"cannot read the rollout of {service}: {exc}") from None
        if record is not None and not record.phase.terminal:
            raise DrillError(
                f"{service} has a rollout in progress ({record.phase}); finish it first "
                f"(rollout abort {service}) or run the drill on another demo"
            )

    def run(self, stop: threading.Event | None = None) -> Report:
        """Play the scenario to its end and return the report (also in ``self.report``)."""
        try:
            self.check()
            self.report = self._run(stop or threading.Event())
            return self.report
        except Exception as exc:
            self.error = str(exc)
            raise
        finally:
            self.finished.set()

    def _run(self, stop: threading.Event) -> Report:
        s = self.scenario
        control = self.env.extras["control"]
        _retry(lambda: self._reset(control))
        self._start_driver()
        ended = s.limit
        responded = False
        try:
            while not stop.is_set():
                el = self.clock() - self._t0()
                try:
                    for event in timeline.due(s.timeline, len(self.played), el):
                        self._play(control, event)
                        self.played.append(event)
                    if self.respond is not None and not responded and el >= self.respond.at:
                        self._send(self.respond.action)
                        responded = True
                except BackendError as exc:
                    # A demo slow to answer (a loaded machine): the same step again next poll.
                    self.warnings.append(f"{el:.1f}s: {exc}")
                actions = self.actions()
                right = [a for a in actions if a.action == s.expect.action]
                if right:
                    ended = right[0].at
                    break
                if el >= s.limit:
                    ended = s.limit
                    break
                if el >= s.incident and self._rollout_over():
                    ended = el  # nothing left to act on (the engine acted, or a wrong verb)
                    break
                stop.wait(self.poll)
            else:
                ended = min(s.limit, self.clock() - self._t0())
        finally:
            self._restore(control)
            self._stop_driver()
        actions = self.actions()
        notice = self.first_notice
        if self.respond is not None and responded and notice is None:
            notice = self.respond.at
        return scoring.score(
            s,
            actions,
            self._series(ended),
            ended_at=ended,
            first_notice=notice,
            started_at=self._t0(),
            operator=self.operator,
            mode=self.mode,
            respond=str(self.respond or ""),
            seed=self.seed,
        )

    def _t0(self) -> float:
        assert self.t0 is not None
        return self.t0

    # ------------------------------------------------------------------ the driver

    def _start_driver(self) -> None:
        s = self.scenario
        self.workdir.mkdir(parents=True, exist_ok=True)
        plan_path = self.workdir / f"drill-{s.name}.yaml"
        plan_path.write_text(s.plan_yaml, encoding="utf-8")
        log_path = self.workdir / f"drill-{s.name}.log"
        before = self.clock()
        # A loaded machine can make the driver's first call to the demo time out: try again
        # (a few times) when it exits without having started anything.
        for _attempt in range(3):
            with log_path.open("ab") as log:
                self._proc = subprocess.Popen(
                    self.driver_argv(plan_path),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # the console's Ctrl-C is not the driver's
                )
            if self._wait_for_rollout(before):
                return
            if self._proc is not None and self._proc.poll() is None:
                break  # still running but nothing recorded in time: give up
        tail = _tail(log_path)
        self._stop_driver()
        raise DrillError(f"the drill's rollout of {s.service} did not start:\n{tail}")

    def _wait_for_rollout(self, before: float) -> bool:
        """Wait for the driver's first tick (the rollout's record); False if the driver
        exited first or it took too long."""
        store = self.env.store
        assert store is not None and self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            record = store.load(self.scenario.service)
            if record is not None and record.started_at >= before - 1:
                self.t0 = record.started_at
                return True
            if self._proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def _stop_driver(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # the driver hands its lease back
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def _rollout_over(self) -> bool:
        store = self.env.store
        assert store is not None
        try:
            record = store.load(self.scenario.service)
        except BackendError:
            return False
        return record is not None and record.phase.terminal

    # ------------------------------------------------------------------ the timeline

    def _play(self, control: Any, event: Event) -> None:
        d = event.data
        if event.kind == FAULT:
            key = (d["service"], d["version"])
            self._touched.add(key)
            extra = {k: d[k] for k in ("jitter", "crash", "unready", "gradebook_bug") if k in d}
            if "jitter" in d:
                self._jittered.add(key)
            control.inject_fault(
                *key, errors=d.get("errors", 0.0), latency=d.get("latency", 0.0), **extra
            )
            if d.get("crash"):
                # New instances crash on start; replacing the running ones makes the version
                # crash-loop (restarts climb) while the old instances keep serving.
                other = self.reopen().extras["control"] if self.reopen else control
                threading.Thread(target=_restart, args=(other, *key), daemon=True).start()
        elif event.kind == CLEAR:
            self._clear(control, d["service"], d["version"])
        elif event.kind == LOAD:
            if self._rps is None:
                self._rps = float(control.load_stats().get("rate", 0.0))
            control.set_rps(d["rps"])
        elif event.kind == METRICS:
            control.set_metrics_available(d["available"])
        elif event.kind == KILL:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()  # SIGKILL: a terminal closed, nothing handed back
                self._proc.wait(5)
        elif event.kind == FLAG:
            self._flag_change("flag-set", d["flag"], d["variant"])

    def _clear(self, control: Any, service: str, version: str) -> None:
        control.clear_fault(service, version)
        if (service, version) in self._jittered:
            control.inject_fault(service, version, errors=0.0, latency=0.0, jitter=DEFAULT_JITTER)
            self._jittered.discard((service, version))

    def _reset(self, control: Any) -> None:
        control.set_metrics_available(True)
        for version in self.env.traffic.versions(self.scenario.service) if self.env.traffic else ():
            control.clear_fault(self.scenario.service, version)

    def _restore(self, control: Any) -> None:
        """Leave the demo as the drill found it; every step is tried whatever fails."""
        steps: list[Callable[[], Any]] = [lambda: control.set_metrics_available(True)]
        steps += [functools.partial(self._clear, control, *k) for k in sorted(self._touched)]
        if self._rps is not None:
            steps.append(lambda: control.set_rps(self._rps))
        steps += [functools.partial(self._restore_flag, f) for f in self._flags_before.values()]
        for step in steps:
            with contextlib.suppress(BackendError, OSError, ValueError):
                step()

    # ------------------------------------------------------------------ the operator

    def _send(self, action: str) -> None:
        """The scripted response, through the same path as `rollout abort` and friends."""
        from console.driver.send import ControlError, send_command

        if action == "flag-off":
            from console.driver.flag_ops import FlagChange, apply

            change = FlagChange("flag-off", self._flag_name())
            apply(self.env, change, reason=f"drill {self.scenario.name}: scripted response")
            return
        kind = {"rollback": "abort", "abort": "abort"}.get(action, action)
        with contextlib.suppress(ControlError):  # refused: the audit says so
            send_command(
                self.env,
                self.scenario.service,
                kind,
                reason=f"drill {self.scenario.name}: scripted response",
                user=getpass.getuser(),
            )

    def _flag_change(self, action: str, flag: str, variant: str) -> None:
        """The scenario's own change to a flag, audited as the drill's (not the operator's);
        the flag as it was before the first one is put back at the end."""
        from console.driver.flag_ops import FlagChange, apply

        if flag not in self._flags_before and self.env.flags is not None:
            self._flags_before[flag] = self.env.flags.flag(flag)
        apply(
            self.env,
            FlagChange(action, flag, variant),
            reason=f"drill {self.scenario.name}",
            actor=f"{DRILL_ACTOR} {self.scenario.name}",
        )

    def _restore_flag(self, before: Flag) -> None:
        """Put a flag the scenario changed back as it was: default, cohorts, split, state."""
        backend = self.env.flags
        if backend is None or before.default_variant is None:
            return
        backend.set_default(before.key, before.default_variant)
        for rule in before.cohorts:
            backend.set_cohort(before.key, rule)
        if before.fractional:
            backend.set_fractional(before.key, before.fractional)
        backend.set_enabled(before.key, before.enabled)

    def _flag_name(self) -> str:
        names = [e.data["flag"] for e in self.scenario.timeline if e.kind == FLAG]
        return names[0] if names else ""

    def actions(self) -> list[ActionTaken]:
        """The operator's applied actions on the drill's rollout (and, for a scenario with
        flags, on its flags) since it began."""
        store = self.env.store
        if store is None or self.t0 is None:
            return []
        streams = [self.scenario.service]
        if self.scenario.needs_flags():
            streams.append(FLAG_AUDIT_SERVICE)
        out = []
        for stream in streams:
            try:
                entries = store.read_audit(stream, limit=200)
            except BackendError:
                continue
            for entry in entries:
                action = self._operator_action(entry)
                if action is not None and entry.at >= self.t0 - 0.5:
                    out.append(ActionTaken(entry.at - self.t0, action, entry.actor))
        return sorted(out, key=lambda a: a.at)

    def _operator_action(self, entry: AuditEntry) -> str | None:
        """The drill's name for an audit entry's verb; None for what is not the operator's
        (the engine, the drill itself, a refused command, another flag)."""
        if entry.actor == "engine" or entry.actor.startswith(DRILL_ACTOR):
            return None
        if entry.data.get("applied", True) is False:
            return None
        if entry.service == FLAG_AUDIT_SERVICE:
            flags = {e.data["flag"] for e in self.scenario.timeline if e.kind == FLAG}
            off = entry.action in ("flag-off", "flag-disable") and entry.data.get("flag") in flags
            return "flag-off" if off or entry.action == "flag-kill-all" else None
        return AUDIT_ACTIONS.get(entry.action)

    # ------------------------------------------------------------------ the figures

    def _series(self, ended: float) -> list[scoring.Second]:
        """Requests that failed each second of the drill, every version of its service."""
        if self.env.metrics is None or self.env.traffic is None:
            return []
        t0 = self._t0()
        service = self.scenario.service
        traffic, metrics = self.env.traffic, self.env.metrics
        try:
            versions = _retry(lambda: traffic.versions(service))
            history = _retry(lambda: metrics.history(service, versions, since=t0, step=1.0))
        except BackendError as exc:
            self.warnings.append(f"no failure counts: {exc}")
            return []
        by_second: dict[float, float] = {}
        for samples in history.values():
            for sample in samples:
                at = round(sample.at - t0, 2)
                if at > ended + 1:
                    continue
                by_second[at] = by_second.get(at, 0.0) + _bad(sample, self.scenario.slow)
        return [scoring.Second(at, n) for at, n in sorted(by_second.items())]


def _retry(call: Callable[[], Any], tries: int = 3) -> Any:
    """``call()``, again (up to ``tries`` times) when the demo is too slow to answer."""
    for attempt in range(tries):
        try:
            return call()
        except BackendError:
            if attempt == tries - 1:
                raise
            time.sleep(1.0)
    return None


def _restart(control: Any, service: str, version: str) -> None:
    with contextlib.suppress(BackendError, OSError):
        control.restart(service, version)


def _bad(sample: Any, slow: float | None) -> float:
    """Failed requests of one sample, and with a latency bound the slow ones too."""
    failed = float(sample.failures or 0.0)
    if slow is not None and sample.latency_buckets:
        from console.analysis.slow import slow_requests

        count = slow_requests(sample.latency_buckets, slow)
        if count is not None:
            failed = max(failed, count.slow)
    return failed


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
