"""A bounded, paced load loop on 127.0.0.1 for the HAProxy tests: keep-alive HTTP/1.1
connections, each answer counted by the version that served it (``x-lms-version``) and every
failure (connection error, 5xx) counted and kept for the message."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

CONNECTIONS = 16
MAX_SECONDS = 120.0  # a loop never runs longer than this, whatever the test does


@dataclass
class Tally:
    by_version: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    sent: int = 0
    started: float = 0.0
    ended: float = 0.0

    @property
    def answered(self) -> int:
        return sum(self.by_version.values())

    def share(self, version: str) -> float:
        return self.by_version[version] / max(1, self.answered)

    @property
    def rate(self) -> float:
        return self.sent / max(1e-9, self.ended - self.started)


class LoadLoop:
    """``rate`` requests/s to ``port`` in a thread until ``stop()`` (or MAX_SECONDS)."""

    def __init__(self, port: int, rate: float, path: str = "/courses/1") -> None:
        self.port = port
        self.rate = rate
        self.path = path
        self.tally = Tally()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> LoadLoop:
        self._thread.start()
        return self

    def stop(self) -> Tally:
        self._stop.set()
        self._thread.join(MAX_SECONDS)
        return self.tally

    def snapshot(self) -> Counter[str]:
        return Counter(self.tally.by_version)

    async def _main(self) -> None:
        queue: asyncio.Queue[None] = asyncio.Queue(maxsize=CONNECTIONS * 4)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(CONNECTIONS)]
        loop = asyncio.get_running_loop()
        self.tally.started = time.monotonic()
        start = loop.time()
        sent = 0
        while not self._stop.is_set() and loop.time() - start < MAX_SECONDS:
            due = int((loop.time() - start) * self.rate)
            while sent < due:
                await queue.put(None)  # waits when every connection is busy
                sent += 1
            await asyncio.sleep(0.005)
        await queue.join()
        self.tally.ended = time.monotonic()
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self, queue: asyncio.Queue[None]) -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        request = f"GET {self.path} HTTP/1.1\r\nHost: lms\r\n\r\n".encode()
        while True:
            await queue.get()
            try:
                self.tally.sent += 1
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", self.port)
                reader, writer = conn
                writer.write(request)
                status, version, close = await asyncio.wait_for(_read(reader), 30)
                if close:
                    writer.close()
                    conn = None
                if status >= 500:
                    self.tally.failures.append(f"{status} from {version or '?'}")
                else:
                    self.tally.by_version[version] += 1
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                self.tally.failures.append(f"{type(exc).__name__}: {exc}")
                if conn is not None:
                    conn[1].close()
                conn = None
            finally:
                queue.task_done()


async def _read(reader: asyncio.StreamReader) -> tuple[int, str, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("x-lms-version", ""), headers.get("connection") == "close"
