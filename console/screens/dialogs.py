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


class HelpScreen(ModalScreen[None]):
    """Every key with what it does; remapped keys show as remapped."""

    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close", id="help_close", tooltip="Close help")
    ]

    def __init__(self, rows: Sequence[tuple[str, str, str]]) -> None:
        super().__init__(classes="dialog")
        self._rows = rows

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("Keys", style="bold")
        text.append("   (remap in config.yaml under keys: <id>: <key>)\n\n", style="dim")
        for key, desc, ident in self._rows:
            text.append(f"{key:>7}  ", style="bold")
            text.append(f"{desc}")
            text.append(f"  [{ident}]\n", style="dim")
        text.append("\nesc / q / ? closes this help", style="dim")
        with VerticalScroll(id="help-box", classes="dialog-box"):
            yield Static(text, id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
