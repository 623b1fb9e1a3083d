"""`rollout` (the console) quits cleanly on SIGTERM and SIGHUP, like `q`."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from console.commands import tui as console_ui


class FakeApp:
    """Stands in for RolloutApp: run() signals its own process and waits for exit()."""

    sig = signal.SIGTERM

    def __init__(self, env: Any, config: Any, **options: Any) -> None:
        self.exited = False

    def exit(self, *args: Any) -> None:
        self.exited = True

    def run(self) -> int:
        os.kill(os.getpid(), self.sig)
        deadline = time.monotonic() + 5
        while not self.exited and time.monotonic() < deadline:
            time.sleep(0.01)
        return 0 if self.exited else 99


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_quits_the_console_like_q(monkeypatch: pytest.MonkeyPatch, sig: int) -> None:
    # Before, SIGTERM/SIGHUP killed the console on the spot: no on_unmount, so a rollout it
    # drove kept its lease (other consoles and `rollout auto` waited for the TTL).
    import console.tui.app

    monkeypatch.setattr(FakeApp, "sig", sig)
    monkeypatch.setattr(console.tui.app, "RolloutApp", FakeApp)
    before = signal.getsignal(sig)
    assert console_ui.open_console(object()) == 0
    assert signal.getsignal(sig) is before


def test_a_handler_someone_else_installed_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # `rollout demo` handles SIGTERM itself (it stops the environment): keep its handler.
    import console.tui.app

    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda s, f: seen.append(s))
    try:

        class Quiet(FakeApp):
            def run(self) -> int:
                handler = signal.getsignal(signal.SIGTERM)
                return 7 if getattr(handler, "__name__", "") == "<lambda>" else 0

        monkeypatch.setattr(console.tui.app, "RolloutApp", Quiet)
        assert console_ui.open_console(object()) == 7
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler) and handler.__name__ == "<lambda>"
    finally:
        signal.signal(signal.SIGTERM, previous)
