"""The `:` command palette: every console action as a searchable command."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from console.tui.app import RolloutApp


class RolloutCommands(Provider):
    """Commands come from the app (``palette_commands``), so bindings and palette agree."""

    def _commands(self) -> list[tuple[str, str, str]]:
        app = cast("RolloutApp", self.app)
        return app.palette_commands(self.screen)

    def _run(self, action: str) -> None:
        # Run after the palette has closed, so the action sees the screen beneath it.
        self.app.call_later(self.app.run_action, action)

    async def discover(self) -> Hits:
        for title, action, help_text in self._commands():
            yield DiscoveryHit(Text(title), partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in self._commands():
            score = matcher.match(title)
            if score > 0 and title.lower().startswith(query.strip().lower()):
                # A title that starts with what was typed comes first, so "back" finds
                # "Back" before "Roll back" (listed earlier, same fuzzy score).
                score *= 2
            if score > 0:
                yield Hit(
                    score, matcher.highlight(title), partial(self._run, action), help=help_text
                )
