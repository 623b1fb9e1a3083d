"""Console benchmark: start-up time, CPU at rest, memory and terminal output over a real pty.

    .venv/bin/python bench/tui.py [--runs 10] [--seconds 20] [--write-docs]

For 1 and for 50 services (an in-process fake environment: fixed metrics, a real file state
store, one canary in progress), it runs the console in a pseudo-terminal (100x30) and measures:

- time from process start to the first frame (the overview's status line on the pty), and to
  the first frame with data (every service listed): median and max of ``--runs`` starts;
- steady-state CPU share of one core over ``--seconds`` (after 3 s of warm-up);
- resident memory (VmRSS) at the end;
- bytes written to the terminal per second over the same window, on the overview and, for one
  service, on the detail screen (live charts).

``--write-docs`` replaces the "Console" section of docs/benchmarks.md with the results.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import platform
import pty
import re
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLS, ROWS = 100, 30
FIRST_FRAME = b"sort: service"


# --------------------------------------------------------------------------- the child


def child(services: int) -> None:
    """Run the console on a fake environment with ``services`` services (in the pty)."""
    sys.path.insert(0, str(ROOT))
    from console.tui.app import RolloutApp
    from tests.support.fakes import fake_env
    from tests.support.records import canary_record

    state = tempfile.mkdtemp(prefix="rollout-bench-")
    names = ["courses"] + [f"svc-{i:02d}" for i in range(1, services)]
    env, _ = fake_env(Path(state), names, clock=time.time)
    assert env.store is not None
    env.store.save(canary_record("courses", step_started_at=time.time()), 0)
    env.store.acquire_lease("courses", "bench@host:auto:1", 1e6)  # a viewer: nothing drives
    RolloutApp(env, plan_dirs=[]).run()


# --------------------------------------------------------------------------- the parent


class Run:
    """One console process on a pty; reads everything it writes."""

    def __init__(self, services: int) -> None:
        self.started = time.monotonic()
        pid, fd = pty.fork()
        if pid == 0:  # the child: set the terminal size, then become the console
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
            env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS))
            os.execve(sys.executable, [sys.executable, __file__, "--child", str(services)], env)
        self.pid, self.fd = pid, fd
        self.out = bytearray()
        self.marks: dict[bytes, float] = {}

    def pump(self, seconds: float) -> None:
        """Read output for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                self.out += chunk

    def wait_for(self, pattern: bytes, timeout: float) -> float:
        """Seconds from process start until ``pattern`` appeared in the output."""
        deadline = time.monotonic() + timeout
        while pattern not in self.out:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {pattern!r} after {timeout}s")
            self.pump(0.02)
        return time.monotonic() - self.started

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_mb(self) -> float:
        m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{self.pid}/status").read_text())
        return int(m.group(1)) / 1024 if m else float("nan")

    def press(self, key: bytes) -> None:
        os.write(self.fd, key)

    def stop(self) -> None:
        try:
            self.press(b"q")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                self.pump(0.1)
                done, _ = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    return
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        finally:
            os.close(self.fd)


def steady(run: Run, seconds: float) -> tuple[float, float]:
    """(CPU share of one core, bytes per second) over ``seconds``."""
    run.pump(3.0)  # warm-up: first polls, history, layout settle
    cpu0, bytes0, t0 = run.cpu_seconds(), len(run.out), time.monotonic()
    run.pump(seconds)
    elapsed = time.monotonic() - t0
    return (run.cpu_seconds() - cpu0) / elapsed, (len(run.out) - bytes0) / elapsed


def measure(services: int, runs: int, seconds: float) -> dict[str, float]:
    first, data, cpu_first = [], [], []
    data_mark = f"{services} services".encode()
    for _ in range(runs):
        run = Run(services)
        try:
            first.append(run.wait_for(FIRST_FRAME, 30))
            cpu_first.append(run.cpu_seconds())
            data.append(run.wait_for(data_mark, 30))
        finally:
            run.stop()
    run = Run(services)
    try:
        run.wait_for(data_mark, 30)
        cpu, rate = steady(run, seconds)
        result = {
            "first_frame_median": statistics.median(first),
            "first_frame_max": max(first),
            "first_frame_cpu": statistics.median(cpu_first),
            "data_frame_median": statistics.median(data),
            "cpu_share": cpu,
            "bytes_per_s": rate,
            "rss_mb": run.rss_mb(),
        }
        if services == 1:
            run.press(b"\r")  # the detail screen: live charts replot every second
            run.wait_for(b"Analysis", 15)
            cpu, rate = steady(run, seconds)
            result.update(detail_cpu_share=cpu, detail_bytes_per_s=rate, detail_rss_mb=run.rss_mb())
    finally:
        run.stop()
    return result


def table(results: dict[int, dict[str, float]], runs: int, seconds: float) -> str:
    lines = [
        "## Console",
        "",
        f"`bench/tui.py` ({platform.python_version()}, {os.cpu_count()} cores, pty {COLS}x{ROWS}, "
        f"fake environment with fixed metrics and a real file store; {runs} starts per row, "
        f"{seconds:.0f} s steady-state windows). Targets (issue 5): first frame < 1 s, "
        "< 5 % of a core and < 10 KB/s at rest with 1 service.",
        "",
        "| services | screen | first frame (median / max) | CPU time to first frame "
        "| first frame with data | CPU at rest | RSS | terminal output |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, r in results.items():
        lines.append(
            f"| {n} | overview | {r['first_frame_median']:.2f} s / {r['first_frame_max']:.2f} s "
            f"| {r['first_frame_cpu']:.2f} s | {r['data_frame_median']:.2f} s | {r['cpu_share'] * 100:.1f} % "
            f"| {r['rss_mb']:.0f} MB | {r['bytes_per_s'] / 1024:.2f} KB/s |"
        )
        if "detail_cpu_share" in r:
            lines.append(
                f"| {n} | detail (charts) | - | - | - | {r['detail_cpu_share'] * 100:.1f} % "
                f"| {r['detail_rss_mb']:.0f} MB | {r['detail_bytes_per_s'] / 1024:.2f} KB/s |"
            )
    lines += [
        "",
        "The overview repaints only rows that changed, so at rest (same numbers each second) it "
        "writes almost nothing; the detail screen replots its charts once a second as the "
        "window slides. Wall-clock start-up is noisy on this shared 2-core machine (other test "
        "suites ran at the same time, load average LOAD); the CPU time the console process "
        "spent until its first frame is the load-independent figure. Most of that CPU is "
        "importing Textual itself (`import textual.app` alone takes about 0.45 s of CPU here); "
        "the console adds no backend or chart library at start-up.",
        "",
    ]
    return "\n".join(lines)


def write_docs(section: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(r"^## Console\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    path.write_text(text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--services", type=int, nargs="+", default=[1, 50])
    p.add_argument("--write-docs", action="store_true")
    args = p.parse_args()
    if args.child is not None:
        child(args.child)
        return 0
    results = {n: measure(n, args.runs, args.seconds) for n in args.services}
    section = table(results, args.runs, args.seconds).replace("LOAD", f"{os.getloadavg()[0]:.1f}")
    print(section)
    if args.write_docs:
        write_docs(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
