"""Open-loop load for the demo: requests at a steady rate whatever the answers, like real users.

Requests are scheduled by the clock (``rate`` per second over all services), never by the
previous response, so a slow version does not slow the load down and hide itself. The mix
is a few realistic LMS calls; about 5 % carry the beta-tester header ``x-lms-beta: true``.
Every request names its user in ``x-lms-user`` (one of ``USERS`` stable ids, ``u1``..``u500``),
so feature flags split by user see the same users again and again, as real traffic would.
Counts of what was sent, answered and failed are kept for the control API.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from typing import Any

from backends.local.http11 import HttpError, read_response, request_bytes

BETA_HEADER = (b"x-lms-beta", b"true")
BETA_SHARE = 0.05
MAX_IN_FLIGHT = 1000
TICK = 0.01
USERS = 500  # the load's users: u1 .. u500
USER_HEADER = b"x-lms-user"


def pick_request(rng: random.Random) -> tuple[str, str, str, bytes]:
    """(service, method, target, body) drawn from the demo's endpoint mix."""
    r = rng.random()
    course = rng.randint(1, 12)
    user = f"u{rng.randint(1, 500)}"
    if r < 0.10:
        return "courses", "GET", "/courses?limit=20", b""
    if r < 0.35:
        return "courses", "GET", f"/courses/{course}", b""
    if r < 0.40:
        return "courses", "GET", f"/courses/{course}/syllabus", b""
    if r < 0.60:
        return "enrollments", "GET", f"/enrollments?user={user}", b""
    if r < 0.65:
        body = json.dumps({"user": user, "course": course}).encode()
        return "enrollments", "POST", "/enrollments", body
    if r < 0.70:
        return "enrollments", "GET", f"/enrollments/{course}/count", b""
    if r < 0.95:
        return "grades", "GET", f"/grades/{user}", b""
    body = json.dumps(
        {"student": user, "course": course, "grade": rng.randint(20, 40) / 10}
    ).encode()
    return "grades", "POST", "/grades", body


class LoadGenerator:
    """Sends ``rate`` requests per second to the gateway on 127.0.0.1:``port``."""

    def __init__(self, port: int, rate: float, seed: int | None = None) -> None:
        self.port = port
        self.rate = max(0.0, float(rate))
        self.rng = random.Random(seed)
        self.sent = 0
        self.ok = 0
        self.failed = 0
        self.skipped = 0
        self.in_flight = 0
        self.codes: Counter[str] = Counter()
        self.by_service: dict[str, Counter[str]] = {}
        self.last_error = ""
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.started_at = time.time()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for t in list(self._tasks):
            t.cancel()
        for _, w in self._idle:
            w.close()
        self._idle.clear()

    def set_rate(self, rate: float) -> None:
        self.rate = max(0.0, float(rate))

    def stats(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "skipped": self.skipped,
            "in_flight": self.in_flight,
            "codes": dict(self.codes),
            "by_service": {s: dict(c) for s, c in self.by_service.items()},
            "last_error": self.last_error,
            "since": self.started_at,
        }

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = 0.0  # requests owed since the last tick (fractional carry)
        last = loop.time()
        while True:
            await asyncio.sleep(TICK)
            now = loop.time()
            due += (now - last) * self.rate
            last = now
            while due >= 1.0:
                due -= 1.0
                if self.in_flight >= MAX_IN_FLIGHT:
                    self.skipped += 1
                    continue
                task = loop.create_task(self._one())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _one(self) -> None:
        service, method, target, body = pick_request(self.rng)
        headers = [BETA_HEADER] if self.rng.random() < BETA_SHARE else []
        headers.append((USER_HEADER, b"u%d" % self.rng.randint(1, USERS)))
        if body:
            headers.append((b"content-type", b"application/json"))
        data = request_bytes(method, target, headers, body)
        self.sent += 1
        self.in_flight += 1
        counts = self.by_service.setdefault(service, Counter())
        counts["sent"] += 1
        try:
            status = await self._send(method, data)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, HttpError) as exc:
            self.failed += 1
            counts["failed"] += 1
            self.codes["error"] += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        finally:
            self.in_flight -= 1
        self.codes[str(status)] += 1
        if status >= 500:
            self.failed += 1
            counts["failed"] += 1
        else:
            self.ok += 1
            counts["ok"] += 1

    async def _send(self, method: str, data: bytes) -> int:
        for attempt in range(2):
            if self._idle:
                reader, writer = self._idle.pop()
                reused = True
            else:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                reused = False
            try:
                writer.write(data)
                resp = await asyncio.wait_for(read_response(reader, method), 60.0)
            except BaseException:
                writer.close()
                raise
            if resp is None:
                writer.close()
                if reused and attempt == 0:
                    continue  # a stale keep-alive connection; the request never arrived
                raise ConnectionResetError("the gateway closed the connection")
            if resp.keep_alive:
                self._idle.append((reader, writer))
            else:
                writer.close()
            return resp.status
        raise ConnectionResetError("the gateway closed the connection")


# ---------------------------------------------------------------------- its own process
# The load runs in a process of its own so that it never competes with the gateway for the
# GIL: on a two-core laptop that is the difference between measuring the gateway and
# measuring the load generator. Protocol: a JSON stats line on stdout every STATS_EVERY
# seconds; ``rate N`` lines on stdin change the rate; EOF on stdin stops it.

STATS_EVERY = 0.25


class LoadProcess:
    """The runner's handle on ``python -m backends.local.loadgen PORT RATE [SEED]``."""

    def __init__(self, port: int, rate: float, seed: int | None = None) -> None:
        self.port = port
        self.rate = max(0.0, float(rate))
        self.seed = seed
        self.proc: asyncio.subprocess.Process | None = None
        self.last: dict[str, Any] = {"rate": self.rate, "sent": 0, "ok": 0, "failed": 0,
                                     "skipped": 0, "in_flight": 0, "codes": {}, "by_service": {},
                                     "last_error": "", "since": time.time()}  # fmt: skip
        self._reader: asyncio.Task | None = None

    async def start(self, log: Any = None) -> None:
        import sys

        args = [sys.executable, "-m", "backends.local.loadgen", str(self.port), str(self.rate)]
        if self.seed is not None:
            args.append(str(self.seed))
        self.proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                self.last = json.loads(line)
            except ValueError:
                continue

    def stats(self) -> dict[str, Any]:
        return dict(self.last, rate=self.rate)

    def pids(self) -> list[int]:
        alive = self.proc is not None and self.proc.returncode is None
        return [self.proc.pid] if alive and self.proc is not None else []

    def set_rate(self, rate: float) -> None:
        self.rate = max(0.0, float(rate))
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.write(f"rate {self.rate}\n".encode())

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # EOF: the process stops by itself
        try:
            await asyncio.wait_for(proc.wait(), 3.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _main_async(port: int, rate: float, seed: int | None) -> None:
    import sys

    loop = asyncio.get_running_loop()
    gen = LoadGenerator(port, rate, seed)
    gen.start()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)

    async def report() -> None:
        while True:
            sys.stdout.write(json.dumps(gen.stats()) + "\n")
            sys.stdout.flush()
            await asyncio.sleep(STATS_EVERY)

    reporter = loop.create_task(report())
    while line := await stdin.readline():
        parts = line.split()
        if len(parts) == 2 and parts[0] == b"rate":
            gen.set_rate(float(parts[1]))
    reporter.cancel()
    await gen.stop()


def main(argv: list[str]) -> int:
    import signal

    port, rate = int(argv[0]), float(argv[1])
    seed = int(argv[2]) if len(argv) > 2 else None
    # The runner stops us by closing stdin; a terminal's Ctrl-C is the runner's business.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_main_async(port, rate, seed))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
