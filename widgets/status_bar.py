"""The console's header line and one-line flash area (k9s style)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

_FLASH_STYLE = {"info": "bold", "warning": "bold yellow", "error": "bold red"}


def _clip(text: str, room: int) -> str:
    """``text`` cut to ``room`` cells with an ellipsis; empty when there is no room for it."""
    if len(text) <= room:
        return text
    return text[: room - 1] + "…" if room >= 4 else ""


def header_text(
    width: int,
    environment: str,
    mode: str,
    stale: str | None,
    crumbs: str = "",
    *,
    read_only: bool = False,
    detail: str = "",
) -> Text:
    """The header fitted to ``width``: what gives way first is the error detail, then the
    mode's driver name; the environment, ``read-only`` and ``stale Ns`` always show."""
    head = Text()
    head.append(" rollout ", style="bold reverse")
    head.append(f" {environment} ", style="bold")
    if crumbs:
        head.append(f"> {crumbs} ")
    flags = " · read-only" if read_only else ""
    badge = f"  {stale}" if stale else ""
    room = width - head.cell_len - len(flags) - len(badge)
    shown_mode = f"· {mode}"
    if len(shown_mode) > room:  # "viewing (bob@host:…)" before cutting the name itself
        shown_mode = _clip(shown_mode.replace("(driver: ", "("), room)
    if not shown_mode and room >= 2:
        shown_mode = _clip(f"· {mode.split(' ')[0]}", room)  # at least "driving"/"viewing"
    out = head
    out.append(shown_mode)
    out.append(flags)
    if badge:
        out.append(badge, style="bold yellow reverse")
    room -= len(shown_mode)
    if detail and stale and room >= 8:
        out.append(_clip(f" ({detail})", room))
    return out


class HeaderLine(Static):
    """'rollout · <environment> · <driving|viewing> · <stale Ns>' on one line, fitted to it."""

    DEFAULT_CSS = """
    HeaderLine { height: 1; }
    """

    _args: tuple[str, str, str | None, str, bool, str] | None = None

    def show(
        self,
        environment: str,
        mode: str,
        stale: str | None,
        crumbs: str = "",
        *,
        read_only: bool = False,
        detail: str = "",
    ) -> None:
        """Show these parts; the line is refitted when the terminal is resized."""
        self._args = (environment, mode, stale, crumbs, read_only, detail)
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        if self._args is None:
            return
        environment, mode, stale, crumbs, read_only, detail = self._args
        width = self.size.width or self.app.size.width
        out = header_text(
            width, environment, mode, stale, crumbs, read_only=read_only, detail=detail
        )
        if out != getattr(self, "_shown", None):
            self._shown = out
            self.update(out)


class FlashLine(Static):
    """What just happened, in one line; severity shows as a word too, not only as colour."""

    DEFAULT_CSS = """
    FlashLine { height: 1; }
    """

    def on_resize(self) -> None:
        # Its height follows the text (one or two lines): a new width may change it. Without
        # this, a screen resized while hidden kept the old height and cut the message.
        self.refresh(layout=True)

    def flash(self, message: str, severity: str = "info") -> None:
        prefix = {"warning": "! ", "error": "✗ "}.get(severity, "")
        text = Text(prefix + message, style=_FLASH_STYLE.get(severity, ""))
        if text != getattr(self, "_shown", None):
            self._shown = text
            self.update(text)
