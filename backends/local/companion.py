"""Helper processes the demo keeps running beside its services (the rollout controller).

A companion is a command line handed over as data by whoever starts the demo (``rollout
demo`` passes the controller's; nothing here knows what it runs). It starts once the
endpoint file exists (it finds the demo through it), with ``ROLLOUT_DEMO_DIR`` set to the
demo's state directory, stdout and stderr appended to ``<state_dir>/<name>.log``, and a
stdin pipe the demo never writes (it closes when the demo dies, even by SIGKILL). When it
exits it is restarted with an exponential back-off, like an instance; the demo stops it
first (SIGTERM, then SIGKILL after a grace) so it can hand its work back while the services
still answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

BACKOFF_MIN = 0.5
BACKOFF_MAX = 10.0
STOP_GRACE = 8.0
STEADY = 10.0  # seconds up after which the back-off starts over


class Companion:
    """Runs ``argv`` until stopped, restarting it with back-off whenever it exits."""

    def __init__(self, name: str, argv: Sequence[str], state_dir: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.state_dir = state_dir
        self.log_path = state_dir / f"{name}.log"
        self.restarts = 0
        self.pid: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        backoff = BACKOFF_MIN
        env = {**os.environ, "ROLLOUT_DEMO_DIR": str(self.state_dir)}
        while not self._stopping:
            started = time.monotonic()
            with open(self.log_path, "ab") as log:
                try:
                    self._proc = await asyncio.create_subprocess_exec(
                        *self.argv, stdin=asyncio.subprocess.PIPE, stdout=log, stderr=log, env=env
                    )
                except OSError as exc:
                    log.write(f"demo: cannot start {self.name}: {exc}\n".encode())
                    self._proc = None
            code = await self._proc.wait() if self._proc is not None else None
            if self._stopping:
                return
            self.restarts += 1
            if time.monotonic() - started > STEADY:
                backoff = BACKOFF_MIN
            with open(self.log_path, "ab") as log:
                log.write(
                    f"demo: {self.name} exited with code {code}; restart {self.restarts} "
                    f"in {backoff:g}s\n".encode()
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    @property
    def running_pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM, then SIGKILL after ``grace``; no restart after this."""
        self._stopping = True
        if self._proc is not None:
            await terminate(self._proc, grace)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def terminate(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; then close its stdin."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if proc.stdin is not None:
        proc.stdin.close()
