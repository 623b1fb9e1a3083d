"""The real ``rollout`` CLI in a detached tmux session, for end-to-end tests: start it, send
keys, read the captured pane back, and leave no session or demo process behind.

Every wait here is bounded (a deadline per call; ``press_until`` a bounded number of tries).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

# Marks a test that drives tmux: skipped where tmux is not installed.
needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

# What a console over an emulated cluster needs from the environment ``write_config`` gives.
CLUSTER_ENV_KEYS = ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "ROLLOUT_DEMO_DIR", "USER")


def rollout_cli() -> Path:
    """The ``rollout`` entry point installed next to this interpreter."""
    return Path(sys.executable).parent / "rollout"


def demo_env_line(tmp_path: Path, demo_dir: Path) -> str:
    """``VAR=value ...`` for ``env``: temporary XDG directories under ``tmp_path`` and the
    demo in ``demo_dir``, so nothing of the user's is read or written."""
    return " ".join(
        [
            f"XDG_CONFIG_HOME={tmp_path / 'config'}",
            f"XDG_STATE_HOME={tmp_path / 'state'}",
            f"ROLLOUT_DEMO_DIR={demo_dir}",
            "TERM=xterm-256color",
        ]
    )


def cluster_env_line(env: Mapping[str, str]) -> str:
    """``VAR=value ...`` for ``env`` from the variables a cluster test's config set up."""
    return " ".join([*(f"{k}={env[k]}" for k in CLUSTER_ENV_KEYS), "TERM=xterm-256color"])


def procs_with(marker: str) -> list[int]:
    """Pids whose environment carries ``marker`` (our temporary demo directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_no_procs_with(marker: str, timeout: float = 15) -> None:
    """Give processes carrying ``marker`` up to ``timeout`` s to exit on their own."""
    deadline = time.monotonic() + timeout
    while procs_with(marker) and time.monotonic() < deadline:
        time.sleep(0.3)


def kill_procs_with(marker: str) -> None:
    """After a bounded grace period, SIGKILL what is left: never leave a process behind,
    even when the test failed."""
    wait_no_procs_with(marker)
    for pid in procs_with(marker):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


class Tmux:
    """One tmux session, by name; every call to tmux is bounded (10 s)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def start(
        cls,
        prefix: str,
        width: int,
        height: int,
        *,
        cwd: Path | None = None,
        command: str | None = None,
    ) -> Tmux:
        """A new detached session ``prefix-<random>`` of ``width`` x ``height``, running
        ``command`` (a shell when None) in ``cwd`` (tmux's default when None)."""
        tmux = cls(f"{prefix}-{uuid.uuid4().hex[:8]}")
        args = ["new-session", "-d", "-s", tmux.name, "-x", str(width), "-y", str(height)]
        if cwd is not None:
            args += ["-c", str(cwd)]
        if command is not None:
            args.append(command)
        tmux.run(*args)
        return tmux

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def alive(self) -> bool:
        return self.run("has-session", "-t", self.name).returncode == 0

    def kill(self) -> None:
        """End the session if it is still there."""
        if self.alive():
            self.run("kill-session", "-t", self.name)

    def wait_gone(self, timeout: float) -> None:
        """Give the session up to ``timeout`` s to end on its own (the app quit)."""
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.3)

    def wait(self, check: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{text}")

    def press_until(
        self, key: str, check: Callable[[str], bool], timeout: float, what: str, tries: int = 3
    ) -> str:
        """Press ``key`` and wait for ``check``; press again (bounded) if the screen does not
        get there: on a loaded machine a key can arrive while the app is still switching
        screens. Every key used here is harmless to repeat."""
        for attempt in range(tries):
            self.keys(key)
            try:
                return self.wait(check, timeout / tries, what)
            except AssertionError:
                if attempt == tries - 1:
                    raise
        raise AssertionError("unreachable")


@contextmanager
def demo_cleanup(tmux: Tmux, demo_dir: Path) -> Iterator[Tmux]:
    """Yield ``tmux``; afterwards end its session and every process of the demo in
    ``demo_dir`` (waited for, then killed)."""
    try:
        yield tmux
    finally:
        tmux.kill()
        kill_procs_with(str(demo_dir))


def row(screen: str, name: str) -> str:
    """The screen's line for service ``name`` (the name as a whole word), or ""."""
    return next((ln for ln in screen.splitlines() if f" {name} " in f" {ln} "), "")
