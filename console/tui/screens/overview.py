"""The overview: one row per service, with filter (`/`), sort (`o`) and `enter` for detail."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.events import Resize
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Static

from console.tui.screens.base import RolloutScreen
from console.view.overview import ServiceRow, columns_for, next_sort_key, overview_rows

# The key bar keeps these first when the terminal is narrow (`? help` always stays).
KEY_ORDER = (
    "detail", "start", "filter", "palette", "help", "quit",
    "promote", "pause", "rollback", "sort", "promote_full", "retry",
)  # fmt: skip
# The table's own `enter` (select_cursor) is the "detail" key too (see ServiceTable).
KEY_ALIASES = {"select_cursor": "detail"}


class ServiceTable(DataTable[str | Text]):
    """The services table: `enter` on a row always opens its detail, as in k9s.

    The binding has no id on purpose. A keymap entry (``detail: l``) deletes every binding
    on the old key of that id in the widget, so an `enter` with id "detail" here would stop
    opening the detail once `detail` is remapped. The screen's "detail" binding carries
    the remappable key; the key bar shows both under "detail" (``KEY_ALIASES``).
    """

    BINDINGS = [Binding("enter", "select_cursor", "Detail", tooltip="Open the selected service")]


class FilterInput(Input):
    """The filter box; its `enter` and `esc` show in the key bar while you type (other keys
    are text). `esc` here clears the filter, and the bar says so rather than "back"."""

    BINDINGS = [
        Binding("enter", "submit", "Keep filter", tooltip="Keep the filter, back to rows"),
        Binding("escape", "clear_filter", "Clear filter", tooltip="Clear the filter"),
    ]

    def action_clear_filter(self) -> None:
        screen = self.screen
        if isinstance(screen, OverviewScreen):
            screen.close_filter(keep=False)


class OverviewScreen(RolloutScreen):
    """Every service in the environment; repainted by the app's one-second timer."""

    KEY_ORDER = KEY_ORDER
    KEY_ALIASES = KEY_ALIASES
    PLACE = "overview"
    COMPONENT_CLASSES = {"overview--alert", "overview--crumbs"}

    BINDINGS = [
        Binding("enter", "open_detail", "Detail", id="detail", tooltip="Open the selected service"),
        Binding("slash", "filter", "Filter", id="filter", tooltip="Filter rows by any text"),
        Binding("o", "sort", "Sort", id="sort", tooltip="Cycle the sort column"),
    ]

    # No auto-focus ("", since None means the app's "*"): on_mount focuses the table once
    # its columns exist (a table focused before keeps them as wide as their headers).
    AUTO_FOCUS = ""

    # What the rows show: changing either redraws them.
    filter_text = reactive("")
    sort_key = reactive("service")
    # The rows in the table now, checked by hand rather than made reactive: new columns
    # (a resize) must redraw equal rows, which ``None`` here says simply.
    _rows_drawn: tuple[ServiceRow, ...] | None = None

    def __init__(self) -> None:
        super().__init__(id="overview")
        self._crumbs = ""
        self._columns: tuple[str, ...] = ()

    def compose_body(self) -> ComposeResult:
        # Hidden from the start, and the table takes focus when the screen shows, so keys
        # typed while the console starts (typeahead over SSH) reach the table.
        box = FilterInput(placeholder="filter (enter keeps it, esc clears)", id="filter")
        box.display = False
        yield box
        yield ServiceTable(id="services", cursor_type="row", zebra_stripes=True)
        yield Static("", id="crumbs")

    def on_mount(self) -> None:
        table = self.query_one("#services", DataTable)
        self._set_columns(columns_for(self.app.size.width))
        table.focus()
        self.repaint()

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns shown now (fewer on a narrow terminal)."""
        return self._columns

    def _set_columns(self, columns: tuple[str, ...]) -> None:
        table = self.query_one("#services", DataTable)
        if columns == self._columns:
            return
        self._columns = columns
        table.clear(columns=True)
        for col in columns:
            table.add_column(col, key=col)
        self._rows_drawn = None

    def on_resize(self, event: Resize) -> None:
        self._set_columns(columns_for(event.size.width))
        self.repaint()

    def watch_filter_text(self) -> None:
        self.repaint()

    def watch_sort_key(self) -> None:
        self.repaint()

    def target_service(self) -> str | None:
        return self.selected_service()

    def header_names_driver_of(self) -> str | None:
        # The driver column gives way on a narrow terminal: the header names the selected
        # row's driver instead.
        return self.selected_service() if "driver" not in self.columns else None

    def go_back(self) -> None:
        if not self.close_filter(keep=False):
            self.rollout_app.flash("already at the overview")

    def selected_service(self) -> str | None:
        try:
            table = self.query_one("#services", DataTable)
        except NoMatches:  # a key typed while the screen is still being composed
            return None
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return None if row_key.value is None else str(row_key.value)

    def paint_body(self) -> None:
        """Redraw the rows from the app's current snapshot (at most once a second for live
        data); the table is rebuilt only when a row differs."""
        app = self.rollout_app
        now = app.clock()
        rows = overview_rows(
            app.snapshot,
            holder=app.holder,
            now=now,
            filter_text=self.filter_text,
            sort_key=self.sort_key,
        )
        crumbs = f"{len(rows)} services · sort: {self.sort_key}"
        if self.filter_text:
            crumbs += f" · filter: {self.filter_text}"
        if crumbs != self._crumbs:
            self._crumbs = crumbs
            style = self.get_component_rich_style("overview--crumbs", partial=True)
            self.query_one("#crumbs", Static).update(Text(crumbs, style=style))
        drawn = tuple(rows)
        if drawn == self._rows_drawn:
            return
        self._rows_drawn = drawn
        table = self.query_one("#services", DataTable)
        selected = self.selected_service()
        table.clear()
        alert = self.get_component_rich_style("overview--alert", partial=True)
        for row in rows:
            cells: list[str | Text] = list(row.cells(self._columns))
            if row.alert:
                mark = f"! {row.phase} UNGUARDED" if row.unguarded else f"! {row.phase}"
                cells[self._columns.index("phase")] = Text(mark, style=alert)
            if row.unguarded and "driver" in self._columns:
                cells[self._columns.index("driver")] = Text(row.driver, style=alert)
            table.add_row(*cells, key=row.service)
        if selected is not None and selected in {r.service for r in rows}:
            table.move_cursor(row=table.get_row_index(selected), animate=False)

    @on(DataTable.RowHighlighted, "#services")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # The header names the selected row's driver on a narrow terminal: follow the cursor.
        if self.is_mounted:
            self.paint_chrome()

    @on(DataTable.RowSelected, "#services")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_detail()

    def action_open_detail(self) -> None:
        service = self.selected_service()
        if service is None:
            self.rollout_app.flash("no service selected", "warning")
            return
        self.rollout_app.open_detail(service)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.filter_text
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self.close_filter(keep=True)

    def close_filter(self, *, keep: bool) -> bool:
        """Hide the filter box; returns True if there was something to close or clear."""
        box = self.query_one("#filter", Input)
        had = bool(box.display or self.filter_text)
        if not keep:
            self.filter_text = ""
        box.display = False
        self.query_one("#services", DataTable).focus()
        return had

    def action_sort(self) -> None:
        key = next_sort_key(self.sort_key)
        self.rollout_app.flash(f"sorted by {key}")
        self.sort_key = key
