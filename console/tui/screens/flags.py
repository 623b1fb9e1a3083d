"""The Flags screen (`f`): every feature flag, who gets which variant, per-variant traffic.

One row per variant of every flag: the flag and its state on its first row, who gets the
variant (cohort fields, percent, default), and its request rate, error ratio and p95 over
the last 30 s where the metrics carry the flag's labels (the demo's gateway does). The line
under the table says the selected flag's targeting in words. Keys: `t` toggles the selected
flag on (its non-off variant for everyone) or off (the kill switch), confirmed; `%` gives a
percent of users the selected variant; `K` is the kill switch for every flag, confirmed.
Changes go through ``console.driver.flag_ops.apply`` and are audited. The screen polls the
flag source once a second in a background thread of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from backends.base import Flag, FlagMetrics, MetricSample
from console.driver.flag_ops import Applied, FlagChange, apply, backend_of
from console.tui.compat import hide_bindings
from console.tui.keys import DANGEROUS
from console.tui.screens.base import RolloutScreen
from console.tui.screens.dialogs import ConfirmDialog
from console.tui.threads import Background, Flash, spawn
from console.view.flags import serving_text, state_text, summary_line, variant_rows

DEFAULT_LABEL = "default"  # the variant label of answers that used the code's default
WINDOW = 30.0  # seconds of traffic behind the per-variant numbers
COLUMNS = ("flag", "state", "variant", "who", "req/s", "err", "p95")
KEY_ORDER = ("flag_toggle", "flag_percent", "flag_kill_all", "back", "help", "quit")


@dataclass(frozen=True)
class FlagsState:
    """What one poll of the flag source saw."""

    flags: tuple[Flag, ...] = ()
    samples: Mapping[str, Mapping[str, MetricSample]] = field(default_factory=dict)
    error: str = ""
    metrics_note: str = ""


class FlagsReady(Message):
    """A poll of the flags finished; only the newest matters."""

    def __init__(self, state: FlagsState) -> None:
        super().__init__()
        self.state = state

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FlagsReady)


class PercentDialog(ModalScreen[int | None]):
    """Asks for a percent of users (0..100); `enter` sets it, `esc` cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="percent_cancel", tooltip="Change nothing")
    ]

    def __init__(self, title: str, current: int) -> None:
        super().__init__(classes="dialog")
        self._title = title
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="percent-box", classes="dialog-box"):
            yield Static(Text(self._title, style="bold"), id="percent-title")
            yield Input(
                placeholder=f"0..100 (now {self._current})",
                type="integer",
                id="percent-input",
            )
            yield Static("", id="percent-error")
            yield Static(Text("enter = set    esc = cancel", style="bold"), id="percent-keys")

    def on_mount(self) -> None:
        self.query_one("#percent-input", Input).focus()

    @on(Input.Submitted, "#percent-input")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            value = int(event.value)
        except ValueError:
            value = -1
        if not 0 <= value <= 100:
            self.query_one("#percent-error", Static).update("a whole percent, 0..100")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class FlagsScreen(RolloutScreen):
    """Feature flags of the environment (see the module docstring)."""

    KEY_ORDER = KEY_ORDER
    PLACE = "flags screen"
    BINDINGS = [
        Binding(
            "t",
            "toggle_flag",
            "Toggle",
            id="flag_toggle",
            tooltip="Turn the selected flag on for everyone, or off (confirmed)",
        ),
        Binding(
            "percent_sign",
            "percent_flag",
            "Percent",
            id="flag_percent",
            tooltip="Give the selected variant to a percent of users",
        ),
        Binding(
            "K",
            "kill_all_flags",
            "Kill switch",
            id="flag_kill_all",
            tooltip="Every flag to its off variant at once (confirmed)",
        ),
    ]
    AUTO_FOCUS = ""

    def __init__(self) -> None:
        super().__init__(id="flags")
        self.state: FlagsState | None = None
        self._poll = Background("flags")
        self._drawn: tuple[tuple[str, ...], ...] | None = None

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="flag-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="flag-serving")
        yield Static("", id="flag-summary")

    def on_mount(self) -> None:
        if self.rollout_app.read_only:
            # Hidden like the app's changing keys; still live, so they refuse and say why.
            hide_bindings(self, DANGEROUS)
        table = self.query_one("#flag-table", DataTable)
        for col in COLUMNS:
            table.add_column(col, key=col)
        table.focus()
        self.set_interval(1.0, self.refresh_flags)
        self.refresh_flags()
        self.repaint()

    # ------------------------------------------------------------------ polling

    def refresh_flags(self) -> None:
        """Start a poll unless one still runs (a slow flag source skips a beat)."""
        self._poll.start(self._poll_once)

    def _poll_once(self) -> None:
        self.post_message(FlagsReady(collect_flags(self.rollout_app.env)))

    def on_flags_ready(self, message: FlagsReady) -> None:
        self.state = message.state
        if self.is_mounted:
            self.repaint()

    # ------------------------------------------------------------------ painting

    def go_back(self) -> None:
        self.app.pop_screen()
        self.rollout_app.repaint()

    def paint_body(self) -> None:
        state = self.state
        try:
            table = self.query_one("#flag-table", DataTable)
        except NoMatches:
            return
        summary = self.query_one("#flag-summary", Static)
        if state is None:
            summary.update("reading the flags …")
            return
        rows: list[tuple[str, ...]] = []
        keys: list[str] = []
        for f in state.flags:
            for i, r in enumerate(variant_rows(f, state.samples.get(f.key))):
                first = i == 0
                rows.append(
                    (
                        f.key if first else "",
                        state_text(f) if first else "",
                        r.variant,
                        r.share,
                        r.rate,
                        r.errors,
                        r.p95,
                    )
                )
                keys.append(f"{f.key}\0{r.variant}")
        text = state.error or summary_line(state.flags)
        if state.metrics_note and not state.error:
            text += f" · {state.metrics_note}"
        summary.update(Text(text, style="bold red" if state.error else "dim"))
        drawn = tuple(rows)
        if drawn != self._drawn:
            self._drawn = drawn
            selected = self.selected()
            table.clear()
            for key, row in zip(keys, rows, strict=True):
                table.add_row(*row, key=key)
            if selected is not None:
                wanted = f"{selected[0]}\0{selected[1]}"
                if wanted in keys:
                    table.move_cursor(row=keys.index(wanted), animate=False)
        self._paint_serving()

    def _paint_serving(self) -> None:
        flag = self.selected_flag()
        line = f"{flag.key}: {serving_text(flag)}" if flag is not None else ""
        self.query_one("#flag-serving", Static).update(Text(line))

    @on(DataTable.RowHighlighted, "#flag-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.is_mounted and self.state is not None:
            self._paint_serving()

    # ------------------------------------------------------------------ selection

    def selected(self) -> tuple[str, str] | None:
        """(flag key, variant) of the cursor row."""
        try:
            table = self.query_one("#flag-table", DataTable)
        except NoMatches:
            return None
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        if row_key.value is None:
            return None
        key, _, variant = str(row_key.value).partition("\0")
        return key, variant

    def selected_flag(self) -> Flag | None:
        sel = self.selected()
        if sel is None or self.state is None:
            return None
        return next((f for f in self.state.flags if f.key == sel[0]), None)

    # ------------------------------------------------------------------ keys

    def _allowed(self, what: str) -> bool:
        app = self.rollout_app
        if app.read_only:
            app.flash(
                f"read-only: {what} refused (the console was started with --read-only)", "warning"
            )
            app.bell()
            return False
        return True

    def action_toggle_flag(self) -> None:
        flag = self.selected_flag()
        if not self._allowed("toggle flag") or flag is None:
            if flag is None and not self.rollout_app.read_only:
                self.rollout_app.flash("toggle: no flag selected", "warning")
            return
        on_variant = toggle_target(flag)
        if on_variant is None:
            change = FlagChange("flag-off", flag.key)
            title = f"Turn {flag.key} off?"
            body = (
                f"Kill switch for {flag.key}: everyone gets '{flag.off_variant}' now; its "
                f"cohort rules and percent split are removed.\nNow: {serving_text(flag)}"
            )
        else:
            change = FlagChange("flag-set", flag.key, on_variant)
            title = f"Turn {flag.key} on?"
            body = (
                f"Everyone outside the cohort rules gets '{on_variant}' now (any percent split "
                f"is removed).\nNow: {serving_text(flag)}"
            )
        self._confirm(title, body, change, "toggle")

    def action_percent_flag(self) -> None:
        flag = self.selected_flag()
        sel = self.selected()
        if not self._allowed("set percent") or flag is None or sel is None:
            if flag is None and not self.rollout_app.read_only:
                self.rollout_app.flash("percent: no flag selected", "warning")
            return
        variant = sel[1] if sel[1] in flag.variants else None
        if variant is None or variant == flag.off_variant:
            variant = next((v for v in flag.variants if v != flag.off_variant), None)
        if variant is None:
            self.rollout_app.flash(f"{flag.key} has no variant to give a percent to", "warning")
            return
        if not flag.editable:
            self.rollout_app.flash(
                f"{flag.key} has custom targeting: change it in the file", "warning"
            )
            return
        current = int(flag.fractional.get(variant, 0))

        def done(percent: int | None) -> None:
            if percent is None:
                self.rollout_app.flash("percent cancelled: nothing changed")
                return
            self._apply(FlagChange("flag-percent", flag.key, variant, percent), "percent")

        self.app.push_screen(
            PercentDialog(f"{flag.key}: percent of users that get '{variant}'", current), done
        )

    def action_kill_all_flags(self) -> None:
        if not self._allowed("kill switch") or self.state is None:
            return
        names = ", ".join(f.key for f in self.state.flags) or "none"
        body = (
            "Every flag serves its off variant to everyone now; cohort rules and percent "
            f"splits are removed.\nFlags: {names}"
        )
        self._confirm(
            "Kill switch: every flag off?", body, FlagChange("flag-kill-all"), "kill switch"
        )

    def _confirm(self, title: str, body: str, change: FlagChange, what: str) -> None:
        def done(ok: bool | None) -> None:
            if ok:
                self._apply(change, what)
            else:
                self.rollout_app.flash(f"{what} cancelled: nothing changed")

        self.app.push_screen(ConfirmDialog(title, body), done)

    def _apply(self, change: FlagChange, what: str) -> None:
        app = self.rollout_app

        def run() -> None:
            try:
                done: Applied = apply(
                    app.env, change, reason=f"{what} from the console", actor=app.user
                )
            except Exception as exc:
                app.post_message(Flash(f"{what} failed: {exc}", "error"))
                return
            text = change.words()
            if done.warning:
                app.post_message(Flash(f"{text}; {done.warning}", "warning"))
            else:
                app.post_message(Flash(text))
            app.call_from_thread(self.refresh_flags)

        spawn(run)


def toggle_target(flag: Flag) -> str | None:
    """The variant `t` turns ``flag`` on to, or None when `t` turns it off: a flag that
    serves only its off variant (disabled, or default off with no split) goes on to its
    first other variant; any other goes off."""
    serves_off = (not flag.enabled) or (
        flag.default_variant == flag.off_variant and not flag.fractional
    )
    if not serves_off or not flag.editable:
        return None
    return next((v for v in flag.variants if v != flag.off_variant), None)


def collect_flags(env: object) -> FlagsState:
    """One poll: the flags, and per-variant samples when the metrics carry flag labels."""
    from backends.base import BackendError, Environment

    assert isinstance(env, Environment)
    try:
        flags = tuple(backend_of(env).flags())
    except Exception as exc:  # NoFlags, BackendError, FlagFileError: shown, not raised
        return FlagsState(error=str(exc))
    metrics = env.metrics
    if not isinstance(metrics, FlagMetrics):
        return FlagsState(flags=flags, metrics_note="no per-variant metrics here")
    samples: dict[str, Mapping[str, MetricSample]] = {}
    note = ""
    for f in flags:
        try:
            samples[f.key] = metrics.flag_sample(f.key, [*f.variants, DEFAULT_LABEL], WINDOW)
        except BackendError as exc:
            note = f"metrics: {exc}"
    return FlagsState(flags=flags, samples=samples, metrics_note=note)
