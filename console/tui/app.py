"""The console: a Textual app that shows rollouts live and drives them from the keyboard.

Data flow (one direction): a one-second timer starts a backend poll in a background thread
(skipped while the previous one runs), the poll posts a ``SnapshotReady`` message, and its
arrival repaints the visible screen from that snapshot; the timer itself repaints only when no
snapshot came (so "stale Ns" keeps counting). Live data therefore repaints about once a
second, and a slow or dead backend only makes the header say "stale Ns".
Keys are ``BINDINGS`` with ids (remappable through ``keys:`` in config.yaml); commands go
through ``console.driver.send.send_command``; a rollout this console started, or opened with a
free lease, is driven here by a ``console.driver.loop.Driver`` ticked once a second.

Why this file is past ~500 lines: it holds every key action (the product's verbs) next to
the state they act on; rendering lives in ``console/screens`` and ``widgets``, view logic in
``console/viewmodel.py`` and ``console/detail_view.py``, threads in ``screens/background.py``.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import socket
import threading
import time
from collections.abc import Callable
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
from console.tui.palette import RolloutCommands
from console.tui.screens.detail import DetailScreen
from console.tui.screens.dialogs import ConfirmDialog, HelpScreen
from console.tui.screens.overview import OverviewScreen
from console.tui.threads import Background, Flash, HistoryReady, SnapshotReady, spawn
from console.view import detail as dv
from console.view import overview as vm
from console.view.snapshot import collect_snapshot, fetch_history
from widgets.status_bar import FlashLine, HeaderLine

# Actions that change a rollout or the environment: hidden and refused with --read-only.
DANGEROUS = frozenset(
    {
        "promote",
        "promote_full",
        "pause",
        "rollback",
        "retry",
        "start",
        "inject_fault",
        "clear_fault",
    }
)
DEMO_ONLY = frozenset({"inject_fault", "clear_fault"})
# Keys that keep working whatever the config remaps the id to: `enter` on a row always
# opens its detail (the table's own binding, see ServiceTable), as in k9s.
FIXED_KEYS = {"detail": "enter"}
_KEY_NAMES = {"question_mark": "?", "slash": "/", "colon": ":", "escape": "esc", "enter": "enter"}


def key_label(key: str) -> str:
    return ",".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in key.split(","))


def _command_failed(what: str, service: str, exc: Exception) -> Flash:
    """A refusal (ControlError: the rollout cannot take it now) is a warning that says why;
    anything else failed. The refusal already names the service: not "courses: courses: ..."."""
    text = str(exc).removeprefix(f"{service}: ")
    if type(exc).__name__ == "ControlError":
        return Flash(f"{what} {service} refused: {text}", "warning")
    return Flash(f"{what} {service} failed: {text}", "error")


def default_plan_dirs() -> list[Path]:
    """Where `s` looks for plans: ./examples, then $XDG_CONFIG_HOME/rollout/plans."""
    return [Path.cwd() / "examples", config_dir() / "plans"]


def _bindings(cls: type[Any]) -> list[Binding]:
    return [b for b in cls.BINDINGS if isinstance(b, Binding)]


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
        Binding("s", "start", "Start", id="start", tooltip="Start a rollout from a plan file"),
        Binding(
            "x", "inject_fault", "Fault", id="inject_fault", tooltip="Demo: break the candidate"
        ),
        Binding("X", "clear_fault", "Clear fault", id="clear_fault", tooltip="Demo: heal it"),
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
    ) -> None:
        super().__init__()
        self.env = env
        self.config = config or Config()
        self.read_only = read_only
        self.clock = clock
        self.user = f"{getpass.getuser()}@{socket.gethostname()}"
        self.holder = holder or f"{self.user}:console:{os.getpid()}"
        self.plan_dirs = plan_dirs if plan_dirs is not None else default_plan_dirs()
        self._sender = sender
        self._driver_factory = driver_factory
        self.poll_interval = poll_interval
        self.snapshot: vm.Snapshot | None = None
        self.last_ok_at: float | None = None
        self.buffer = dv.SampleBuffer()
        self.alerts: dict[str, vm.Alert] = {}
        # The rollouts this console drives (see console.driver.pool).
        self.drivers = DriverPool(self._make_driver, self.holder)
        self._notes: dict[str, Notification] = {}  # the rollback notification per service
        self.detail_service: str | None = None
        self.last_flash = ("", "info")
        self._painted_at = 0.0
        self.started_at = clock()
        self._poll = Background("poll")
        self._ticks = Background("drive")
        if read_only:
            self._hide_dangerous()

    # ------------------------------------------------------------------ lifecycle

    def _hide_dangerous(self) -> None:
        # Hidden from footer, help and palette; the keys still reach the actions, which
        # refuse with a flash that says why (a silent key is worse than a refusal).
        bmap = self._bindings.key_to_bindings
        for key, bindings in bmap.items():
            bmap[key] = [
                dataclasses.replace(b, show=False) if b.id in DANGEROUS else b for b in bindings
            ]

    def on_mount(self) -> None:
        known = {b.id for b in self._all_bindings()}
        unknown = sorted(set(self.config.keys) - known)
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
            snap = vm.Snapshot(taken_at=self.clock(), error=f"{type(exc).__name__}: {exc}")
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
        for alert in vm.rollback_alerts(previous, snap, self.started_at):
            self._alert(alert)
        self.repaint()

    def _follow_restarts(self, snap: vm.Snapshot) -> None:
        """A rollout that runs again (retried, or a new one started, from here or elsewhere)
        clears its rollback notification; one this console drove and nobody drives now is
        driven from here again, as before it ended."""
        for name, state in snap.services.items():
            rec = state.record
            if rec is None or rec.phase == Phase.ROLLED_BACK:
                continue
            note = self._notes.pop(name, None)
            # Textual has no public "dismiss this toast": use its private pair when present.
            unnotify = getattr(self, "_unnotify", None)
            if note is not None and unnotify and note in getattr(self, "_notifications", ()):
                unnotify(note)
            self.alerts.pop(name, None)
            self.drivers.follow(name, rec, state.lease, snap.taken_at)

    def on_history_ready(self, message: HistoryReady) -> None:
        for samples in message.history.values():
            self.buffer.extend(message.service, samples)

    def on_flash(self, message: Flash) -> None:
        self.flash(message.text, message.severity)

    def _alert(self, alert: vm.Alert) -> None:
        """Auto-revert you cannot miss: banner, notification and the terminal bell."""
        self.alerts[alert.service] = alert
        text = f"{alert.service} ROLLED BACK: {alert.reason}"
        # self.notify() without keeping the Notification: a retry must take it down again
        # (it stayed up for its whole 30 s over the restarted rollout).
        note = Notification(text, "Rollback", "error", 30, markup=False)
        self._notes[alert.service] = note
        self.post_message(Notify(note))
        self.bell()
        # The banner and the notification carry the whole reason; the flash line says the
        # first breach only, so at 80x24 the reason does not take six of the 24 lines.
        self.flash(f"{alert.service} ROLLED BACK: {vm.first_clause(alert.reason)}", "error")

    # ------------------------------------------------------------------ painting

    def repaint(self) -> None:
        """Redraw the topmost overview or detail screen from the current snapshot."""
        self._painted_at = time.monotonic()
        for screen in reversed(self.screen_stack):
            if isinstance(screen, OverviewScreen | DetailScreen):
                try:
                    if screen.is_mounted:
                        screen.repaint()
                except NoMatches:
                    pass  # the screen is being composed or torn down: next tick paints
                return

    def service_state(self, service: str) -> vm.ServiceState:
        if self.snapshot and service in self.snapshot.services:
            return self.snapshot.services[service]
        return vm.ServiceState(service=service)

    def paint_chrome(self, screen: Screen[Any], *, service: str | None) -> None:
        """Header (environment, driving/viewing, staleness) and the rollback banner."""
        now = self.clock()
        if service is not None:
            state = self.service_state(service)
            mode = vm.mode_text(state.lease, self.holder, self.drivers.drives(service), now)
        else:
            driving = self.drivers.driving_services()
            mode = f"driving {', '.join(driving)}" if driving else "viewing"
            if not driving and isinstance(screen, OverviewScreen):
                mode = self._overview_mode(screen, now)
        stale = vm.staleness(self.last_ok_at, now)
        error = (self.snapshot.error or "") if stale and self.snapshot else ""
        env_name = self.env.description or self.env.name
        screen.query_one("#header", HeaderLine).show(
            env_name, mode, stale, crumbs=service or "", read_only=self.read_only, detail=error
        )
        screen.query_one("#flash", FlashLine).flash(*self.last_flash)
        banner = screen.query_one("#banner")
        active = [
            a
            for s, a in sorted(self.alerts.items())
            if (service is None or s == service)
            and (rec := self.service_state(s).record) is not None
            and rec.phase == Phase.ROLLED_BACK
        ]
        banner.display = bool(active)
        if active:
            banner.update("\n".join(f"ROLLED BACK {a.service}: {a.reason}" for a in active))  # type: ignore[attr-defined]

    def _overview_mode(self, screen: OverviewScreen, now: float) -> str:
        """'viewing', naming the selected row's driver when its column gave way (narrow)."""
        selected = screen.selected_service() if "driver" not in screen.columns else None
        lease = self.service_state(selected).lease if selected else None
        if lease is not None and lease.expires_at > now and lease.holder != self.holder:
            return f"viewing ({selected} driven by {lease.holder})"
        return "viewing"

    def flash(self, text: str, severity: str = "info") -> None:
        """Show what just happened on the flash line (kept across screen changes)."""
        self.last_flash = (text, severity)
        for screen in reversed(self.screen_stack):
            if isinstance(screen, OverviewScreen | DetailScreen) and screen.is_mounted:
                for line in screen.query("#flash").results(FlashLine):
                    line.flash(text, severity)
                return

    # ------------------------------------------------------------------ navigation

    def open_detail(self, service: str) -> None:
        self.detail_service = service
        self._maybe_drive(service)
        self.push_screen(DetailScreen(service))
        state = self.service_state(service)
        versions = list(dv.versions_of(state))
        now = self.clock()

        def load() -> None:
            self.post_message(
                HistoryReady(service, fetch_history(self.env, service, versions, now=now))
            )

        spawn(load)

    def action_go_back(self) -> None:
        if isinstance(self.screen, DetailScreen):
            self.detail_service = None
            self.pop_screen()
            self.repaint()
        elif isinstance(self.screen, OverviewScreen) and not self.screen.close_filter(keep=False):
            self.flash("already at the overview")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_rows(self.screen)))

    def _all_bindings(self) -> list[Binding]:
        return [*_bindings(RolloutApp), *_bindings(OverviewScreen), *_bindings(DetailScreen)]

    def _key_for(self, binding: Binding) -> str:
        key = self.config.keys.get(binding.id or "") or binding.key
        fixed = FIXED_KEYS.get(binding.id or "")
        if fixed and fixed not in [k.strip() for k in key.split(",")]:
            key = f"{fixed},{key}"
        return key_label(key)

    def start_hint(self, lead: str = ": ") -> str:
        """'<lead>press s to start one' with the key as bound now; empty with --read-only,
        where s is refused (the hint sent read-only users to a key that says no)."""
        if self.read_only:
            return ""
        found = [b for b in self._all_bindings() if b.id == "start"]
        return f"{lead}press {self._key_for(found[0]) if found else 's'} to start one"

    def _available(self, ident: str | None) -> bool:
        if ident in DEMO_ONLY and "control" not in self.env.extras:
            return False
        return not (self.read_only and ident in DANGEROUS)

    def help_rows(self, screen: Screen[Any] | None = None) -> list[tuple[str, str, str]]:
        """(key, what it does, binding id) for every key the console answers to now.

        Opened over ``screen``, the keys of the other screen say where they work: `w` listed
        on the overview looked like a key that did nothing.
        """
        rows = [(":", "command palette: every action by name", "palette")]
        elsewhere: dict[str, str] = {}
        if screen is not None:
            for cls, where in ((OverviewScreen, "overview"), (DetailScreen, "detail screen")):
                if not isinstance(screen, cls):
                    elsewhere.update({b.id or "": where for b in _bindings(cls)})
        for b in self._all_bindings():
            if self._available(b.id):
                desc = f"{b.description}: {b.tooltip}"
                if b.id in elsewhere:
                    desc += f" (on the {elsewhere[b.id]})"
                rows.append((self._key_for(b), desc, b.id or ""))
        return rows

    def palette_commands(self, screen: Screen[Any]) -> list[tuple[str, str, str]]:
        """(title, action, help) for the command palette, for the screen it opened over."""
        bindings = [(b, f"app.{b.action}") for b in _bindings(RolloutApp)]
        if isinstance(screen, OverviewScreen | DetailScreen):
            bindings += [(b, f"screen.{b.action}") for b in _bindings(type(screen))]
        # Say which service an action would change: the palette hides the selected row.
        target = self.target_service()
        on = f" ({target})" if target else ""
        return [
            (
                f"{b.description} ({self._key_for(b)})",
                action,
                b.tooltip + (on if b.id in DANGEROUS or b.id == "detail" else ""),
            )
            for b, action in bindings
            if self._available(b.id)
        ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Demo-only keys are absent elsewhere; read-only keys stay live so they can refuse.
        return not (action in DEMO_ONLY and "control" not in self.env.extras)

    # ------------------------------------------------------------------ actions on a rollout

    def target_service(self) -> str | None:
        """The service the keys act on: the detail screen's, else the overview's cursor row."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, DetailScreen):
                return screen.service
            if isinstance(screen, OverviewScreen):
                return screen.selected_service()
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
        if needs_rollout and self.service_state(service).record is None:
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
                    # The bare OS user: the command gets this host added (not "root@vm@vm").
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

    def action_promote(self) -> None:
        service = self._guard("promote", "promote")
        if service is not None and not self._ended(service, "promote"):
            self._send(service, CommandKind.PROMOTE, "promote")

    def action_promote_full(self) -> None:
        service = self._guard("promote_full", "promote fully")
        if service is None:
            return
        if self._ended(service, "promote"):
            return
        rec = self.service_state(service).record
        body = (
            f"{rec.candidate if rec else 'the candidate'} of {service} gets 100% of traffic now. "
            "The remaining steps and pauses are skipped; analysis no longer gates them."
        )

        def done(ok: bool | None) -> None:
            if ok:
                self._send(service, CommandKind.PROMOTE_FULL, "promote fully")
            else:
                self.flash("promote fully cancelled: nothing sent")

        self.push_screen(ConfirmDialog(f"Promote {service} fully?", body), done)

    def _ended(self, service: str, what: str) -> bool:
        """Flash and return True when the service's rollout already ended: a confirm dialog
        promising "all traffic goes back to v1" would be false (the engine ignores it)."""
        rec = self.service_state(service).record
        if rec is not None and rec.phase.terminal:
            self.flash(f"{service} is {rec.phase}: nothing to {what}", "warning")
            return True
        return False

    def action_pause(self) -> None:
        service = self._guard("pause", "pause/resume")
        if service is None:
            return
        rec = self.service_state(service).record
        if rec is not None and rec.phase.terminal:
            self.flash(f"{service} is {rec.phase}: nothing to pause", "warning")
            return
        gate = rec is not None and (rec.engine.get("pause") or {}).get("kind") == "gate"
        if rec is not None and rec.phase == Phase.PAUSED and gate:
            # The engine ignores resume at a manual gate: say what does work instead of
            # posting a command that is dropped.
            found = [b for b in self._all_bindings() if b.id == "promote"]
            promote = self._key_for(found[0]) if found else "promote"
            self.flash(f"{service} waits at a manual gate: {promote} promotes it", "warning")
        elif rec is not None and rec.phase == Phase.PAUSED:
            self._send(service, CommandKind.RESUME, "resume")
        else:
            self._send(service, CommandKind.PAUSE, "pause")

    def action_rollback(self) -> None:
        service = self._guard("rollback", "roll back")
        if service is None:
            return
        if self._ended(service, "roll back"):
            return
        rec = self.service_state(service).record
        stable = rec.stable if rec else "the stable version"
        body = (
            f"All traffic of {service} goes back to {stable} now, without waiting for analysis. "
            "The rollout ends as Aborted; R retries it."
        )

        def done(ok: bool | None) -> None:
            if ok:
                self._send(service, CommandKind.ABORT, "roll back")
            else:
                self.flash("roll back cancelled: nothing sent")

        self.push_screen(ConfirmDialog(f"Roll back {service}?", body), done)

    def action_retry(self) -> None:
        service = self._guard("retry", "retry")
        if service is None:
            return
        rec = self.service_state(service).record
        if rec is not None and rec.phase not in (Phase.ROLLED_BACK, Phase.ABORTED):
            # The engine ignores it (and the refusal did not fit the flash line): say so here.
            self.flash(
                f"{service} is {rec.phase}: retry restarts only a rolled back or aborted rollout",
                "warning",
            )
            return
        self.adopt(service)
        self._send(service, CommandKind.RETRY, "retry")

    # ------------------------------------------------------------------ starting and driving

    def action_start(self) -> None:
        if self.read_only:
            self._guard("start", "start")  # refuses, and says why
            return
        from console.tui.screens.plan_picker import PlanPicker

        self.push_screen(PlanPicker(self.plan_dirs), self._start_plan)

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
        self.flash(f"starting {plan.strategy} of {service} → {plan.candidate} …")
        # A parked driver stays unticked while begin() runs on it in the thread below.
        self.drivers.wake(service, unpark=False)

        def run() -> None:
            try:
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
        version = dv.candidate_version(self.service_state(service))
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
                    cleared = list(dv.versions_of(self.service_state(service))) or [version]
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
