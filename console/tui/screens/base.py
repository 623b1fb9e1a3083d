"""What the overview and the detail screen share: the chrome around their body and repainting.

The chrome is the header (environment, driving/viewing, staleness), the flash line (what just
happened), the rollback banner and the key bar. The app says what the chrome shows
(``RolloutApp.chrome``); the screen owns the widgets that show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from widgets.key_bar import KeyBar
from widgets.status_bar import FlashLine, HeaderLine, HeaderParts

if TYPE_CHECKING:
    from console.tui.app import RolloutApp


@dataclass(frozen=True)
class Chrome:
    """What the chrome shows: the header, the flash (text, severity), the banner's lines."""

    header: HeaderParts
    flash: tuple[str, str]
    banner: tuple[str, ...] = ()


class RolloutScreen(Screen[None]):
    """A main screen of the console: chrome on top and at the bottom, ``compose_body`` between.

    Subclasses say where the keys act (``target_service``), what ``esc`` does (``go_back``)
    and how the body is drawn from the app's snapshot (``paint_body``).
    """

    # The key bar keeps these ids first when the terminal is narrow (`? help` always stays).
    KEY_ORDER: ClassVar[tuple[str, ...]] = ()
    # Ids (or an id-less binding's action) shown under another id in the key bar.
    KEY_ALIASES: ClassVar[Mapping[str, str]] = {}
    # How the help names this screen for a key that works only here ("on the overview").
    PLACE: ClassVar[str] = ""

    # The service this screen shows; None for a screen of every service.
    service: str | None = None

    @property
    def rollout_app(self) -> RolloutApp:
        return cast("RolloutApp", self.app)

    def compose(self) -> ComposeResult:
        yield HeaderLine(id="header")
        yield FlashLine(id="flash")
        yield Static("", id="banner", classes="banner")
        yield from self.compose_body()
        yield KeyBar(self.KEY_ORDER, aliases=self.KEY_ALIASES, id="keys")

    def compose_body(self) -> ComposeResult:
        """The widgets between the banner and the key bar."""
        yield from ()

    # ------------------------------------------------------------------ what the keys do

    def target_service(self) -> str | None:
        """The service the keys act on."""
        return self.service

    def header_names_driver_of(self) -> str | None:
        """A service whose driver the header names while this console only views (the
        screen shows it nowhere else); None for none."""
        return None

    def go_back(self) -> None:
        """What `esc` (the app's "back" key) does here."""

    # ------------------------------------------------------------------ painting

    def repaint(self) -> None:
        """Redraw the chrome and the body from the app's current state."""
        self.paint_chrome()
        self.paint_body()

    def paint_body(self) -> None:
        """Redraw the body from the app's snapshot."""

    def paint_chrome(self) -> None:
        """Header, flash line and rollback banner, as the app says now."""
        chrome = self.rollout_app.chrome(self.service, name_driver_of=self.header_names_driver_of())
        self.query_one("#header", HeaderLine).parts = chrome.header
        self.show_flash(*chrome.flash)
        banner = self.query_one("#banner", Static)
        banner.display = bool(chrome.banner)
        if chrome.banner:
            banner.update("\n".join(chrome.banner))

    def show_flash(self, text: str, severity: str = "info") -> None:
        """Put ``text`` on the flash line (nothing while the screen is being composed)."""
        for line in self.query("#flash").results(FlashLine):
            line.flash(text, severity)
