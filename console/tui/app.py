"""The console: a Textual app that shows rollouts live and drives them from the keyboard.

Data flow (one direction): a one-second timer starts a backend poll in a background thread
(skipped while the previous one runs), the poll posts a ``SnapshotReady`` message, and its
arrival repaints the visible screen from that snapshot; the timer itself repaints only when no
snapshot came (so "stale Ns" keeps counting). Live data therefore repaints about once a
second, and a slow or dead backend only makes the header say "stale Ns".
Keys are ``BINDINGS`` with ids (remappable through ``keys:`` in config.yaml; see
``console.tui.keys``); commands go through ``console.driver.send.send_command``; a rollout this
console started, or opened with a free lease, is driven here by a driver of
``console.driver.pool`` ticked once a second.

This module holds every key action (the product's verbs) next to the state they act on;
screens draw themselves (``console.tui.screens``, ``widgets``) from view models in
``console.view``; background threads and their messages are in ``console.tui.threads``.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.notifications import Notification, Notify
from textual.screen import Screen

from backends.base import CommandKind, Environment, Phase
from console.config.paths import config_dir
from console.config.settings import Config
from console.driver.pool import DriverPool, RolloutDriver
from console.driver.unguarded import report as report_unguarded
from console.engine.commands import Rule, refusal
from console.tui.compat import dismiss_notification, hide_bindings
from console.tui.keys import DANGEROUS, DEMO_ONLY, ConsoleKeys, Row, bindings_of
from console.tui.palette import RolloutCommands
from console.tui.screens.base import Chrome, RolloutScreen
from console.tui.screens.detail import DetailScreen
from console.tui.screens.dialogs import ConfirmDialog, HelpScreen
from console.tui.screens.flags import FlagsScreen
from console.tui.screens.overview import OverviewScreen
from console.tui.threads import Background, Flash, HistoryReady, SnapshotReady, spawn
from console.view.detail import SampleBuffer, candidate_version, versions_of
from console.view.guarding import header_line as guard_header_line
from console.view.guarding import newly_unguarded, to_take_over
from console.view.overview import (
    Alert,
    ServiceState,
    Snapshot,
    alert_label,
    first_clause,
    mode_text,
    rollback_alerts,
    staleness,
)
from console.view.snapshot import collect_snapshot, fetch_history
from widgets.status_bar import HeaderParts

# The console's main screens, in the order the help lists their keys.
MAIN_SCREENS: tuple[type[RolloutScreen], ...] = (OverviewScreen, DetailScreen, FlagsScreen)


def _command_failed(what: str, service: str, exc: Exception) -> Flash:
    """A refusal (ControlError: the rollout cannot take it now) is a warning that says why;
    anything else failed. The flash names the service once: the error's own prefix goes."""
    text = str(exc).removeprefix(f"{service}: ")
    if type(exc).__name__ == "ControlError":
        return Flash(f"{what} {service} refused: {text}", "warning")
    return Flash(f"{what} {service} failed: {text}", "error")


def default_plan_dirs() -> list[Path]:
    """Where `s` looks for plans: ./examples, then $XDG_CONFIG_HOME/rollout/plans."""
    return [Path.cwd() / "examples", config_dir() / "plans"]


class RolloutApp(App[int]):
    """The rollout console. ``env`` is any Environment; ``clock`` is injectable for tests."""

    CSS_PATH = "app.tcss"
    TITLE = "rollout"
    COMMAND_PALETTE_BINDING = "colon"
    COMMANDS = {RolloutCommands}
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="help", tooltip="List every key"),
        Binding("a", "promote", "Promote", id="promote", tooltip="Leave the current step or pause"),
        Binding("P", "promote_full", "Promote fully", id="promote_full", tooltip="Skip to 100%"),
        Binding("p", "pause", "Pause/resume", id="pause", tooltip="Hold or continue the rollout"),
        Binding("r", "rollback", "Roll back", id="rollback", tooltip="All traffic to stable now"),
        Binding("R", "retry", "Retry", id="retry", tooltip="Restart a rolled-back rollout"),
        Binding(
            "U",
            "undo",
            "Undo",
            id="undo",
            tooltip="Argo Rollouts: back to the previous revision (kubectl argo rollouts undo)",
            # Out of the key bar: only a foreign controller's rollouts take it; help lists it.
            show=False,
        ),
        Binding("s", "start", "Start", id="start", tooltip="Start a rollout from a plan file"),
        Binding(
            "x", "inject_fault", "Fault", id="inject_fault", tooltip="Demo: break the candidate"
        ),
        Binding("X", "clear_fault", "Clear fault", id="clear_fault", tooltip="Demo: heal it"),
        Binding(
            "D",
            "drive_here",
            "Drive here",
            id="drive_here",
            tooltip="Drive an unguarded rollout from this console",
            # Out of the key bar (it is for a rare moment); the unguarded banner names it.
            show=False,
        ),
        Binding(
            "f",
            "flags",
            "Flags",
            id="flags",
            tooltip="Feature flags: who gets which variant; toggle, percent, kill switch",
            # Out of the key bar (the overview's keys fill it at 80 columns); help lists it.
            show=False,
        ),
        Binding("escape", "go_back", "Back", id="back", tooltip="Back to the overview"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit (rollouts keep their traffic)"),
    ]

    def __init__(
        self,
        env: Environment,
        config: Config | None = None,
        *,
        read_only: bool = False,
        clock: Callable[[], float] = time.time,
        holder: str | None = None,
        plan_dirs: list[Path] | None = None,
        sender: Callable[..., Any] | None = None,
        driver_factory: Callable[[str], RolloutDriver] | None = None,
        poll_interval: float = 1.0,
        standby: bool = False,
    ) -> None:
        super().__init__()
        self.env = env
        self.config = config or Config()
        self.read_only = read_only
        # A standby console drives any rollout left unguarded (--standby, or the config's
        # `standby: true`).
        self.standby = standby or self.config.standby
        self.clock = clock
        self.user = f"{getpass.getuser()}@{socket.gethostname()}"
        self.holder = holder or f"{self.user}:console:{os.getpid()}"
        self.plan_dirs = plan_dirs if plan_dirs is not None else default_plan_dirs()
        self._sender = sender
        self._driver_factory = driver_factory
        self.poll_interval = poll_interval
        self.snapshot: Snapshot | None = None
        self.last_ok_at: float | None = None
        self.buffer = SampleBuffer()
        self.alerts: dict[str, Alert] = {}
        # Unguarded rollouts already rung for: service -> the ``since`` of that stretch.
        self._unguarded_rung: dict[str, float] = {}
        # The rollouts this console drives (see console.driver.pool).
        self.drivers = DriverPool(self._make_driver, self.holder)
        self._notes: dict[str, Notification] = {}  # the rollback notification per service
        self.detail_service: str | None = None
        self.last_flash = ("", "info")
        self._painted_at = 0.0
        self.started_at = clock()
        self._poll = Background("poll")
        self._ticks = Background("drive")
        bindings = bindings_of(RolloutApp)
        for screen in MAIN_SCREENS:
            bindings += bindings_of(screen)
        self.keys = ConsoleKeys(
            bindings,
            self.config.keys,
            read_only=read_only,
            demo=lambda: "control" in self.env.extras,
        )
        if read_only:
            # Hidden from the key bar, help and palette; the keys still reach the actions,
            # which refuse with a flash that says why.
            hide_bindings(self, DANGEROUS)

    # ------------------------------------------------------------------ lifecycle

    def on_mount(self) -> None:
        unknown = sorted(set(self.config.keys) - self.keys.ids())
        if self.config.keys:
            self.set_keymap(dict(self.config.keys))
        self.push_screen(OverviewScreen())
        if unknown:
            self.flash(f"config keys: unknown action id(s) {', '.join(unknown)}", "warning")
        else:
            self.flash("? for help, : for commands")
        self.set_interval(self.poll_interval, self._every_second)
        self._every_second()

    def on_unmount(self) -> None:
        if self.drivers:
            # Release leases so another console can take over; traffic stays where it is.
            t = threading.Thread(target=self.drivers.close_all, daemon=True)
            t.start()
            t.join(3.0)

    def _every_second(self) -> None:
        self._poll.start(self._poll_once)
        if self.drivers:
            self._ticks.start(self._tick_drivers)
        # A fresh snapshot repaints when it arrives; the timer repaints only when none came
        # (a slow or dead backend), so the "stale Ns" counter still moves.
        if time.monotonic() - self._painted_at > 1.5:
            self.repaint()

    # ------------------------------------------------------------------ background work

    def _poll_once(self) -> None:
        try:
            snap = collect_snapshot(self.env, detail=self.detail_service, clock=self.clock)
        except Exception as exc:  # collect_snapshot catches backend errors; this is a bug
            snap = Snapshot(taken_at=self.clock(), error=f"{type(exc).__name__}: {exc}")
        self.post_message(SnapshotReady(snap))

    def _tick_drivers(self) -> None:
        for failure in self.drivers.tick_all():
            self.post_message(Flash(f"driver {failure.service}: {failure.error}", "error"))

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        snap = message.snapshot
        previous = self.snapshot
        if snap.error and previous is not None:
            # The backend is down: keep showing the last good data; the header turns stale.
            snap = dataclasses.replace(previous, error=snap.error)
        elif not snap.error:
            self.last_ok_at = snap.taken_at
        self.snapshot = snap
        self._follow_restarts(snap)
        for name, state in snap.services.items():
            if name == self.detail_service or (state.record and not state.record.phase.terminal):
                for sample in state.samples.values():
                    self.buffer.add(name, sample)
        for alert in rollback_alerts(previous, snap, self.started_at):
            if self.alerts.get(alert.service) != alert:  # not one still up (a flaky read)
                self._alert(alert)
        if not snap.error:
            self._watch_guards(snap)
        self.repaint()

    def _watch_guards(self, snap: Snapshot) -> None:
        """Unguarded rollouts: ring once per stretch, report it (the first noticer sends the
        ``unguarded`` webhook), and with --standby drive them from here."""
        guards = {n: s.guard for n, s in snap.services.items() if s.guard is not None}
        ring, self._unguarded_rung = newly_unguarded(self._unguarded_rung, guards)
        if ring:
            self.bell()
            drive = self.keys.key_of("drive_here", "D")
            hint = "" if self.read_only else f"; {drive} drives it from here"
            self.flash(f"UNGUARDED: {', '.join(sorted(ring))}: no driver{hint}", "error")
            store, now = self.env.store, snap.taken_at
            if store is not None:
                for name in sorted(ring):
                    rec, guard = snap.services[name].record, guards[name]
                    if rec is not None:
                        spawn(
                            lambda r=rec, g=guard: report_unguarded(
                                store, r, g, now, reporter=self.holder
                            )
                        )
        driving = {n for n in guards if self.drivers.drives(n)}
        for name in to_take_over(
            guards, standby=self.standby, read_only=self.read_only, driving=driving
        ):
            try:
                if self._take_over(name, snap.services[name], snap.taken_at):
                    self.flash(f"standby: driving {name} from this console (it was unguarded)")
            except Exception as exc:
                self.flash(f"standby: cannot drive {name}: {exc}", "error")

    def _take_over(self, service: str, state: ServiceState, now: float) -> bool:
        """Drive ``service`` from here: wake this console's own (parked or viewing) driver,
        else make one if the lease is free. True when a driver here now goes for it."""
        if service in self.drivers:
            self.drivers.wake(service)
            return True
        return self.drivers.adopt(service, state.record, state.lease, now)

    def _follow_restarts(self, snap: Snapshot) -> None:
        """A rollout that runs again (retried, or a new one started, from here or elsewhere)
        clears its rollback notification; one this console drove and nobody drives now is
        driven from here again, as before it ended."""
        for name, state in snap.services.items():
            rec = state.record
            if rec is None or alert_label(rec) is not None:
                continue
            note = self._notes.pop(name, None)
            if note is not None:
                dismiss_notification(self, note)
            self.alerts.pop(name, None)
            self.drivers.follow(name, rec, state.lease, snap.taken_at)

    def on_history_ready(self, message: HistoryReady) -> None:
        for samples in message.history.values():
            self.buffer.extend(message.service, samples)

    def on_flash(self, message: Flash) -> None:
        self.flash(message.text, message.severity)

    def _alert(self, alert: Alert) -> None:
        """Auto-revert you cannot miss: banner, notification and the terminal bell."""
        self.alerts[alert.service] = alert
        text = f"{alert.service} {alert.label}: {alert.reason}"
        # Posted rather than self.notify(), to keep the Notification: a retry of the rollout
        # takes it down (see _follow_restarts).
        title = "Rollback" if alert.label == "ROLLED BACK" else "Paused on breach"
        note = Notification(text, title, "error", 30, markup=False)
        self._notes[alert.service] = note
        self.post_message(Notify(note))
        self.bell()
        # The banner and the notification carry the whole reason; the flash line says the
        # first breach only, so a long reason does not fill a small terminal.
        self.flash(f"{alert.service} {alert.label}: {first_clause(alert.reason)}", "error")

    # ------------------------------------------------------------------ painting

    def _main_screens(self) -> Iterator[RolloutScreen]:
        """The overview and detail screens on the stack, topmost first."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, RolloutScreen):
                yield screen

    def repaint(self) -> None:
        """Redraw the topmost overview or detail screen from the current snapshot."""
        self._painted_at = time.monotonic()
        for screen in self._main_screens():
            try:
                if screen.is_mounted:
                    screen.repaint()
            except NoMatches:
                pass  # the screen is being composed or torn down: next tick paints
            return

    def service_state(self, service: str) -> ServiceState:
        if self.snapshot and service in self.snapshot.services:
            return self.snapshot.services[service]
        return ServiceState(service=service)

    def chrome(self, service: str | None, *, name_driver_of: str | None = None) -> Chrome:
        """What the header, flash line and banner of a screen show now: for one service, or
        (``service`` None) for all; while viewing, the header names the driver of the
        service ``name_driver_of``."""
        now = self.clock()
        if service is not None:
            lease = self.service_state(service).lease
            mode = mode_text(lease, self.holder, self.drivers.drives(service), now)
        else:
            driving = self.drivers.driving_services()
            mode = (
                f"driving {', '.join(driving)}" if driving else self._viewing(name_driver_of, now)
            )
        stale = staleness(self.last_ok_at, now)
        error = (self.snapshot.error or "") if stale and self.snapshot else ""
        header = HeaderParts(
            self.env.description or self.env.name,
            mode,
            stale,
            crumbs=service or "",
            read_only=self.read_only,
            detail=error,
        )
        alerts = tuple(
            f"{a.label} {a.service}: {a.reason}"
            for s, a in sorted(self.alerts.items())
            if (service is None or s == service)
            and alert_label(self.service_state(s).record) == a.label
        )
        snap = self.snapshot
        guards = {
            n: st.guard
            for n, st in (snap.services.items() if snap else ())
            if st.guard is not None and (service is None or n == service)
        }
        unguarded_line = guard_header_line(guards)
        if unguarded_line and not self.read_only:
            unguarded_line += f" · {self.keys.key_of('drive_here', 'D')} drives it from here"
        banner = ((unguarded_line,) if unguarded_line else ()) + alerts
        return Chrome(header, self.last_flash, banner)

    def _viewing(self, service: str | None, now: float) -> str:
        """'viewing', naming the driver of ``service`` if another process holds its lease."""
        lease = self.service_state(service).lease if service else None
        if lease is not None and lease.expires_at > now and lease.holder != self.holder:
            return f"viewing ({service} driven by {lease.holder})"
        return "viewing"

    def flash(self, text: str, severity: str = "info") -> None:
        """Show what just happened on the flash line (kept across screen changes)."""
        self.last_flash = (text, severity)
        for screen in self._main_screens():
            if screen.is_mounted:
                screen.show_flash(text, severity)
                return

    # ------------------------------------------------------------------ navigation

    def open_detail(self, service: str) -> None:
        self.detail_service = service
        self._maybe_drive(service)
        self.push_screen(DetailScreen(service))
        state = self.service_state(service)
        versions = list(versions_of(state))
        now = self.clock()

        def load() -> None:
            self.post_message(
                HistoryReady(service, fetch_history(self.env, service, versions, now=now))
            )

        spawn(load)

    def close_detail(self) -> None:
        self.detail_service = None
        self.pop_screen()
        self.repaint()

    def action_go_back(self) -> None:
        screen = self.screen
        if isinstance(screen, RolloutScreen):
            screen.go_back()

    def action_flags(self) -> None:
        """Open the Flags screen (once: `f` on it again says so)."""
        if isinstance(self.screen, FlagsScreen):
            self.flash("already on the flags screen; esc goes back")
            return
        self.push_screen(FlagsScreen())

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_rows(self.screen)))

    def start_hint(self, lead: str = ": ") -> str:
        """'<lead>press s to start one' with the key as bound now; empty with --read-only,
        where s is refused."""
        if self.read_only:
            return ""
        return f"{lead}press {self.keys.key_of('start', 's')} to start one"

    def help_rows(self, screen: Screen[Any] | None = None) -> list[Row]:
        """(key, what it does, binding id) for every key the console answers to now; opened
        over ``screen``, the keys of the other main screens say where they work."""
        elsewhere: dict[str, str] = {}
        if screen is not None:
            for cls in MAIN_SCREENS:
                if not isinstance(screen, cls):
                    elsewhere.update({b.id or "": cls.PLACE for b in bindings_of(cls)})
        return self.keys.help_rows(elsewhere)

    def palette_commands(self, screen: Screen[Any]) -> list[Row]:
        """(title, action, help) for the command palette, for the screen it opened over."""
        actions = [(b, f"app.{b.action}") for b in bindings_of(RolloutApp)]
        if isinstance(screen, RolloutScreen):
            actions += [(b, f"screen.{b.action}") for b in bindings_of(type(screen))]
        return self.keys.palette_rows(actions, self.target_service())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Demo-only keys are absent elsewhere; read-only keys stay live so they can refuse.
        return not (action in DEMO_ONLY and "control" not in self.env.extras)

    # ------------------------------------------------------------------ actions on a rollout

    def target_service(self) -> str | None:
        """The service the keys act on: the detail screen's, else the overview's cursor row."""
        for screen in self._main_screens():
            return screen.target_service()
        return None

    def _guard(self, ident: str, what: str, *, needs_rollout: bool = True) -> str | None:
        if self.read_only:
            self.flash(
                f"read-only: {what} refused (the console was started with --read-only)", "warning"
            )
            self.bell()
            return None
        service = self.target_service()
        if service is None:
            self.flash(f"{what}: no service selected", "warning")
            return None
        state = self.service_state(service)
        if needs_rollout and state.record is None and state.foreign is None:
            self.flash(f"{what}: {service} has no rollout{self.start_hint('; ')}", "warning")
            return None
        return service

    def _send_command(self) -> Callable[..., Any]:
        if self._sender is not None:
            return self._sender
        from console.driver.send import send_command

        return send_command

    def _send(self, service: str, kind: CommandKind, what: str) -> None:
        """Post a command through the store in the background; the flash says what happened."""
        # Read on the UI thread: whether this console's own driver applies the command, so
        # the reply does not name this very console as "the driver (root@vm)".
        here = self.drivers.drives_here(service, self.service_state(service).lease, self.clock())

        def run() -> None:
            try:
                result = self._send_command()(
                    # The bare OS user: send_command adds this host to it.
                    self.env,
                    service,
                    str(kind),
                    reason=f"{what} from the console",
                    user=getpass.getuser(),
                    caller_drives=here,
                )
                self.post_message(Flash(str(result or f"{what} sent for {service}")))
            except Exception as exc:
                self.post_message(_command_failed(what, service, exc))
            self.call_from_thread(self._every_second)

        spawn(run)

    def _refused(self, service: str, kind: CommandKind, what: str) -> bool:
        """Flash and return True for the refusals this console words itself (the rule is
        ``console.engine.commands.refusal``, as in the engine and ``send_command``); any
        other refusal is left to ``send_command``, whose reply carries the engine's words."""
        rec = self.service_state(service).record
        refused = refusal(rec, kind) if rec is not None else None
        if rec is None or refused is None:
            return False
        if refused.rule is Rule.ENDED:
            # A confirm dialog promising "all traffic goes back to v1" would be false.
            self.flash(f"{service} is {rec.phase}: nothing to {what}", "warning")
        elif refused.rule is Rule.GATE:
            promote = self.keys.key_of("promote", "promote")
            self.flash(f"{service} waits at a manual gate: {promote} promotes it", "warning")
        elif refused.rule in (Rule.IN_PROGRESS, Rule.COMPLETED):
            self.flash(
                f"{service} is {rec.phase}: retry restarts only a rolled back or aborted rollout",
                "warning",
            )
        else:
            return False
        return True

    def _confirm_then_send(
        self, service: str, kind: CommandKind, what: str, title: str, body: str
    ) -> None:
        def done(ok: bool | None) -> None:
            if ok:
                self._send(service, kind, what)
            else:
                self.flash(f"{what} cancelled: nothing sent")

        self.push_screen(ConfirmDialog(title, body), done)

    def action_promote(self) -> None:
        service = self._guard("promote", "promote")
        if service is not None and not self._refused(service, CommandKind.PROMOTE, "promote"):
            self._send(service, CommandKind.PROMOTE, "promote")

    def action_promote_full(self) -> None:
        service = self._guard("promote_full", "promote fully")
        if service is None or self._refused(service, CommandKind.PROMOTE_FULL, "promote"):
            return
        rec = self.service_state(service).record
        body = (
            f"{rec.candidate if rec else 'the candidate'} of {service} gets 100% of traffic now. "
            "The remaining steps and pauses are skipped; analysis no longer gates them."
        )
        self._confirm_then_send(
            service, CommandKind.PROMOTE_FULL, "promote fully", f"Promote {service} fully?", body
        )

    def action_pause(self) -> None:
        service = self._guard("pause", "pause/resume")
        if service is None:
            return
        state = self.service_state(service)
        verbs = self._foreign_verbs(state.foreign)
        foreign_paused = state.foreign is not None and state.foreign.phase is Phase.PAUSED
        if foreign_paused and "resume" not in verbs:
            # Argo Rollouts has no resume of its own: its promote unpauses.
            promote = self.keys.key_of("promote", "promote")
            self.flash(f"{service} is paused: {promote} promotes it (its controller's resume)")
            return
        rec = state.record
        paused = foreign_paused or (rec is not None and rec.phase is Phase.PAUSED)
        kind = CommandKind.RESUME if paused else CommandKind.PAUSE
        if not self._refused(service, kind, "pause"):
            self._send(service, kind, str(kind))

    def _foreign_verbs(self, rollout: Any) -> frozenset[str]:
        """The verbs of the controller that drives ``rollout`` (several may share an
        environment: ``verbs_for`` on console/driver/foreign_many.py)."""
        foreign = self.env.foreign
        if foreign is None or rollout is None:
            return frozenset()
        verbs_for = getattr(foreign, "verbs_for", None)
        return verbs_for(rollout.controller) if verbs_for is not None else foreign.verbs

    def action_rollback(self) -> None:
        service = self._guard("rollback", "roll back")
        if service is None or self._refused(service, CommandKind.ABORT, "roll back"):
            return
        rec = self.service_state(service).record
        stable = rec.stable if rec else "the stable version"
        body = (
            f"All traffic of {service} goes back to {stable} now, without waiting for analysis. "
            "The rollout ends as Aborted; R retries it."
        )
        self._confirm_then_send(
            service, CommandKind.ABORT, "roll back", f"Roll back {service}?", body
        )

    def action_retry(self) -> None:
        service = self._guard("retry", "retry")
        if service is None or self._refused(service, CommandKind.RETRY, "retry"):
            return
        if self.service_state(service).foreign is None:  # its controller drives a foreign one
            self.adopt(service)
        self._send(service, CommandKind.RETRY, "retry")

    def action_undo(self) -> None:
        """A foreign controller's undo (Argo Rollouts: the previous revision's pod template
        back in the Rollout), confirmed; ours roll back with ``r``."""
        service = self._guard("undo", "undo")
        if service is None:
            return
        state = self.service_state(service)
        if state.foreign is None:
            rollback = self.keys.key_of("rollback", "rollback")
            self.flash(
                f"undo is for rollouts Argo Rollouts drives; {rollback} rolls back {service}",
                "warning",
            )
            return
        if "undo" not in self._foreign_verbs(state.foreign):
            controller = state.foreign.controller
            self.flash(f"{controller} has no undo: {service} keeps its revision", "warning")
            return
        body = (
            f"{service} goes back to its previous revision: its controller rolls that pod "
            "template out again, with the Rollout's own steps and analysis."
        )

        def done(ok: bool | None) -> None:
            if ok:
                self._undo(service)
            else:
                self.flash("undo cancelled: nothing sent")

        self.push_screen(ConfirmDialog(f"Undo {service}?", body), done)

    def _undo(self, service: str) -> None:
        def run() -> None:
            from console.driver import foreign

            try:
                message = foreign.act(
                    self.env,
                    service,
                    "undo",
                    reason="undo from the console",
                    user=getpass.getuser(),
                )
                self.post_message(Flash(message))
            except foreign.ForeignRefused as exc:  # not now: nothing to go back to
                self.post_message(Flash(f"undo {service} refused: {exc}", "warning"))
            except Exception as exc:
                self.post_message(_command_failed("undo", service, exc))
            self.call_from_thread(self._every_second)

        spawn(run)

    def action_drive_here(self) -> None:
        """Make this console the driver of the selected rollout (confirmed): for a rollout
        nobody guards; a live driver elsewhere keeps it."""
        service = self._guard("drive_here", "drive here")
        if service is None:
            return
        state = self.service_state(service)
        rec, lease, now = state.record, state.lease, self.clock()
        if rec is None or rec.phase.terminal:
            phase = rec.phase if rec else "Idle"
            self.flash(f"{service} is {phase}: nothing to drive", "warning")
            return
        if self.drivers.drives(service):
            self.flash(f"{service}: this console drives it already")
            return
        if lease is not None and lease.expires_at > now and lease.holder != self.holder:
            self.flash(f"{service} is driven by {lease.holder}: nothing to take over", "warning")
            return
        body = (
            f"This console becomes the driver of {service}: it judges the candidate and rolls "
            "back on a breach while it stays open. Quitting hands the rollout back (a "
            "controller, if one runs, takes it over)."
        )

        def done(ok: bool | None) -> None:
            if not ok:
                self.flash("drive here cancelled: nothing changed")
                return
            try:
                taken = self._take_over(service, self.service_state(service), self.clock())
            except Exception as exc:
                self.flash(f"cannot drive {service}: {exc}", "error")
                return
            if taken:
                self.flash(f"driving {service} from this console")
                self._every_second()
            else:
                self.flash(f"{service}: another driver took it first", "warning")

        self.push_screen(ConfirmDialog(f"Drive {service} from here?", body), done)

    # ------------------------------------------------------------------ starting and driving

    def action_start(self) -> None:
        if self.read_only:
            self._guard("start", "start")  # refuses, and says why
            return
        from console.tui.screens.plan_picker import PlanPicker

        self.push_screen(PlanPicker(self.plan_dirs, self.request_rate), self._start_plan)

    def request_rate(self, service: str) -> float | None:
        """Requests a second to ``service`` now, all versions together (None: unknown)."""
        rates = [s.request_rate for s in self.service_state(service).samples.values()]
        known = [r for r in rates if r is not None]
        return sum(known) if known else None

    def _make_driver(self, service: str) -> RolloutDriver:
        if self._driver_factory is not None:
            return self._driver_factory(service)
        from console.driver.loop import Driver

        return Driver(self.env, service, holder=self.holder)

    def _start_plan(self, plan: Any) -> None:
        if plan is None:
            self.flash("start cancelled")
            return
        service = plan.service
        from console.driver.foreign import drive_refusal

        theirs = drive_refusal(self.env, service)  # Argo Rollouts drives it: not ours
        if theirs is not None:
            self.flash(theirs, "error")
            return
        self.flash(f"starting {plan.strategy} of {service} → {plan.candidate} …")
        # A parked driver stays unticked while begin() runs on it in the thread below.
        self.drivers.wake(service, unpark=False)

        def run() -> None:
            from console.driver.presence import controller_running

            try:
                store = self.env.store
                if store is not None and controller_running(store) is not None:
                    # A running controller drives what this console starts: hand it over at
                    # once and watch, with no driver here to race it for the lease.
                    rec, handed = self.drivers.begin_and_hand_over(service, plan)
                    verb = (
                        "started (the controller drives it)"
                        if handed
                        else "watching (driven elsewhere)"
                    )
                else:
                    driver, rec = self.drivers.begin(service, plan)
                    # begin() joins a rollout another process drives (same candidate) as a
                    # viewer: say so rather than claim this console started it.
                    verb = "started" if driver.driving else "watching (driven elsewhere)"
                self.post_message(
                    Flash(f"{verb} {plan.strategy} of {service}: {rec.message or rec.phase}")
                )
            except Exception as exc:
                # The flash is one line: the plan's directory would push the reason off it.
                text = str(exc)
                if plan.source:
                    text = text.replace(str(plan.source), Path(str(plan.source)).name)
                self.post_message(Flash(f"cannot start {service}: {text}", "error"))
            self.call_from_thread(self._every_second)

        spawn(run)

    def adopt(self, service: str) -> None:
        """A retry: drive ``service`` from this console again (its parked driver ticks again),
        or for the first time if nobody holds the lease."""
        self._maybe_drive(service, retry=True)

    def _maybe_drive(self, service: str, *, retry: bool = False) -> None:
        """Drive ``service`` from here if its rollout is live and its lease free."""
        if self.read_only:
            return
        state = self.service_state(service)
        try:
            if retry:
                self.drivers.drive_again(service, state.record, state.lease, self.clock())
            else:
                self.drivers.adopt(service, state.record, state.lease, self.clock())
        except Exception as exc:
            self.flash(f"cannot drive {service}: {exc}", "error")

    # ------------------------------------------------------------------ demo faults

    def _fault(self, inject: bool) -> None:
        what = "inject fault" if inject else "clear fault"
        service = self._guard(
            "inject_fault" if inject else "clear_fault", what, needs_rollout=False
        )
        control = self.env.extras.get("control")
        if service is None or control is None:
            return
        version = candidate_version(self.service_state(service))
        if version is None:
            self.flash(f"{what}: {service} has no candidate version", "warning")
            return

        def run() -> None:
            try:
                if inject:
                    control.inject_fault(service, version, errors=0.3, latency=0.3)
                    self.post_message(
                        Flash(
                            f"fault injected into {service} {version}: 30% errors, +300ms",
                            "warning",
                        )
                    )
                else:
                    # Every version: the one that got the fault may serve everyone by now.
                    cleared = list(versions_of(self.service_state(service))) or [version]
                    for v in cleared:
                        control.clear_fault(service, v)
                    self.post_message(Flash(f"fault cleared on {service} {', '.join(cleared)}"))
            except Exception as exc:
                self.post_message(Flash(f"{what} on {service} {version} failed: {exc}", "error"))

        spawn(run)

    def action_inject_fault(self) -> None:
        self._fault(True)

    def action_clear_fault(self) -> None:
        self._fault(False)
