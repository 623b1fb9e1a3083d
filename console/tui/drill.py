"""The console during a drill: the normal console, with the drill in a corner of the header.

``DrillApp`` is ``RolloutApp`` plus a drill (``console.drills.play.Drill``) played in a
background thread: the header names the drill and its elapsed time (and, with ``--hints``,
the banner shows the scenario's hint once the incident starts); the first key pressed while
the drill's rollout is the one the keys act on counts as the first notice; the operator's
verbs go through the console's usual commands and the drill reads them back from the audit.
When the drill ends (the right action, or its time limit) the report opens over the console.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.drills.play import Drill
from console.drills.report import render
from console.tui.app import RolloutApp
from console.tui.screens.base import Chrome


def drill_corner(name: str, elapsed: float | None) -> str:
    """``drill bad-canary 0:42`` (``starting`` until its rollout begins)."""
    if elapsed is None:
        return f"drill {name} starting"
    seconds = max(0, int(elapsed))
    return f"drill {name} {seconds // 60}:{seconds % 60:02d}"


class DrillReport(ModalScreen[None]):
    """The drill's report over the console; any of its keys leaves the console."""

    BINDINGS = [
        Binding("escape,q,enter", "close", "Close", id="report_close", tooltip="Leave the drill")
    ]

    def __init__(self, text: str) -> None:
        super().__init__(classes="dialog")
        self._text = text

    def compose(self) -> ComposeResult:
        body = Text(self._text)
        body.append("\n\nq / esc / enter leaves the drill", style="dim")
        with VerticalScroll(id="help-box", classes="dialog-box"):
            yield Static(body, id="drill-report")

    def action_close(self) -> None:
        self.app.exit()


class DrillApp(RolloutApp):
    """The console with a drill playing on its environment."""

    def __init__(self, env: Any, config: Any = None, *, drill: Drill, hints: bool = False):
        super().__init__(env, config)
        self.drill = drill
        self.hints = hints
        self.stop_drill = threading.Event()
        self._thread = threading.Thread(target=self._play, name="drill", daemon=True)

    # Textual calls RolloutApp's own on_mount/on_unmount as well (handlers run for every
    # class of the app): these only add the drill's part.
    def on_mount(self) -> None:
        self._thread.start()

    def on_unmount(self) -> None:
        self.stop_drill.set()

    def join(self, timeout: float = 30.0) -> None:
        """Wait for the drill to end and leave the demo as it found it."""
        self.stop_drill.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _play(self) -> None:
        try:
            self.drill.run(self.stop_drill)
        except Exception:
            pass  # the drill keeps its error for the report screen and the command
        if not self.stop_drill.is_set():
            self.call_from_thread(self._show_report)

    def _show_report(self) -> None:
        report = self.drill.report
        text = render(report) if report is not None else f"The drill failed: {self.drill.error}"
        self.push_screen(DrillReport(text))

    async def on_event(self, event: events.Event) -> None:
        # Every key reaches the app first: the first one on the drill's rollout is noticed.
        if isinstance(event, events.Key) and self.target_service() == self.drill.scenario.service:
            self.drill.notice()
        await super().on_event(event)

    def chrome(self, service: str | None, *, name_driver_of: str | None = None) -> Chrome:
        chrome = super().chrome(service, name_driver_of=name_driver_of)
        corner = drill_corner(self.drill.scenario.name, self.drill.elapsed())
        header = dataclasses.replace(
            chrome.header, environment=f"{chrome.header.environment} · {corner}"
        )
        banner = chrome.banner
        if self.hints and self.drill.scenario.hint and self.drill.incident_started():
            banner = (f"hint: {self.drill.scenario.hint}", *banner)
        return Chrome(header, chrome.flash, banner)
