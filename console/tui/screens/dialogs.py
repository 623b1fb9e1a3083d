"""Modal dialogs: confirm a dangerous action, and the key help."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmDialog(ModalScreen[bool]):
    """Says what will happen; `y` confirms, `n` or `esc` cancels (nothing is sent)."""

    BINDINGS = [
        Binding("y", "confirm", "Yes", id="confirm_yes", tooltip="Do it"),
        Binding("n,escape", "cancel", "No", id="confirm_no", tooltip="Cancel, change nothing"),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__(classes="dialog")
        self._title = title
        self._body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog-box"):
            yield Static(Text(self._title, style="bold"), id="confirm-title")
            yield Static(self._body, id="confirm-body")
            yield Static(
                Text("y = yes, do it    n / esc = cancel", style="bold"), id="confirm-keys"
            )

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


HELP_WIDTH = 70  # the dialog box's width in app.tcss
KEY_COLUMN = 9  # "  enter  ": keys right-aligned in 7 columns, then two spaces


class HelpScreen(ModalScreen[None]):
    """Every key with what it does; remapped keys show as remapped."""

    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close", id="help_close", tooltip="Close help")
    ]

    def __init__(self, rows: Sequence[tuple[str, str, str]]) -> None:
        super().__init__(classes="dialog")
        self._rows = rows

    def compose(self) -> ComposeResult:
        # Inside the box: border, padding and the scrollbar take 6 columns.
        width = max(30, min(HELP_WIDTH, self.app.size.width) - 6)
        text = Text()
        text.append("Keys", style="bold")
        text.append("   (remap in config.yaml under keys: <id>: <key>)\n\n", style="dim")
        for key, desc, ident in self._rows:
            # A long line wraps under its description, not back under the keys column.
            body = Text(desc)
            body.append(f"  [{ident}]", style="dim")
            lines = body.wrap(self.app.console, width - KEY_COLUMN)
            for n, line in enumerate(lines):
                text.append(f"{key:>7}  " if n == 0 else " " * KEY_COLUMN, style="bold")
                text.append_text(line)
                text.append("\n")
        text.append("\nesc / q / ? closes this help", style="dim")
        with VerticalScroll(id="help-box", classes="dialog-box"):
            yield Static(text, id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
