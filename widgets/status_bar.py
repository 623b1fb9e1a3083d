"""The console's header line and one-line flash area (k9s style)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

_FLASH_STYLE = {"info": "bold", "warning": "bold yellow", "error": "bold red"}


class HeaderLine(Static):
    """'rollout · <environment> · <driving|viewing> · <stale Ns>' on one line."""

    DEFAULT_CSS = """
    HeaderLine { height: 1; }
    """

    def show(self, environment: str, mode: str, stale: str | None, crumbs: str = "") -> None:
        out = Text()
        out.append(" rollout ", style="bold reverse")
        out.append(f" {environment} ", style="bold")
        if crumbs:
            out.append(f"> {crumbs} ")
        out.append(f"· {mode}")
        if stale:
            out.append(f"  {stale}", style="bold yellow reverse")
        if out != getattr(self, "_shown", None):
            self._shown = out
            self.update(out)


class FlashLine(Static):
    """What just happened, in one line; severity shows as a word too, not only as colour."""

    DEFAULT_CSS = """
    FlashLine { height: 1; }
    """

    def flash(self, message: str, severity: str = "info") -> None:
        prefix = {"warning": "! ", "error": "✗ "}.get(severity, "")
        text = Text(prefix + message, style=_FLASH_STYLE.get(severity, ""))
        if text != getattr(self, "_shown", None):
            self._shown = text
            self.update(text)
