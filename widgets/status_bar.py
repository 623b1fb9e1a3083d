"""The console's header line and one-line flash area (k9s style)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


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
    stale_style: Style | str = "bold yellow reverse",
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
        out.append(badge, style=stale_style)
    room -= len(shown_mode)
    if detail and stale and room >= 8:
        out.append(_clip(f" ({detail})", room))
    return out


@dataclass(frozen=True)
class HeaderParts:
    """What the header says: environment, driving/viewing, staleness, crumbs, flags."""

    environment: str
    mode: str
    stale: str | None = None
    crumbs: str = ""
    read_only: bool = False
    detail: str = ""  # the backend error, shown while stale when there is room


class HeaderLine(Static):
    """'rollout · <environment> · <driving|viewing> · <stale Ns>' on one line, fitted to it
    (render runs again on a resize, so the line is refitted to the new width)."""

    DEFAULT_CSS = """
    HeaderLine { height: 1; }
    HeaderLine > .header-line--stale { color: ansi_yellow; text-style: bold reverse; }
    """
    COMPONENT_CLASSES = {"header-line--stale"}

    parts: reactive[HeaderParts | None] = reactive(None)

    def render(self) -> Text:
        parts = self.parts
        if parts is None:
            return Text()
        return header_text(
            self.size.width,
            parts.environment,
            parts.mode,
            parts.stale,
            parts.crumbs,
            read_only=parts.read_only,
            detail=parts.detail,
            stale_style=self.get_component_rich_style("header-line--stale", partial=True),
        )


_SEVERITY_MARK = {"warning": "! ", "error": "✗ "}


class FlashLine(Static):
    """What just happened, in one line; severity shows as a word too, not only as colour."""

    DEFAULT_CSS = """
    FlashLine { height: 1; }
    FlashLine > .flash-line--info { text-style: bold; }
    FlashLine > .flash-line--warning { color: ansi_yellow; text-style: bold; }
    FlashLine > .flash-line--error { color: ansi_red; text-style: bold; }
    """
    COMPONENT_CLASSES = {"flash-line--info", "flash-line--warning", "flash-line--error"}

    # (text, severity), None before the first; its height follows the text (one line or
    # two), hence layout.
    message: reactive[tuple[str, str] | None] = reactive(None, layout=True)

    def on_resize(self) -> None:
        # A new width may change the height: measured again here, a screen resized while
        # hidden would otherwise keep the old height and cut the message.
        self.refresh(layout=True)

    def flash(self, message: str, severity: str = "info") -> None:
        self.message = (message, severity)

    def render(self) -> Text:
        if self.message is None:
            return Text()
        text, severity = self.message
        style = self.get_component_rich_style(
            f"flash-line--{severity}", partial=True, default=Style()
        )
        return Text(_SEVERITY_MARK.get(severity, "") + text, style=style)
