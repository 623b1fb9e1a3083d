"""Benchmark the demo gateway: throughput and added latency vs a direct call and vs HAProxy.

    .venv/bin/python bench/gateway.py [--rounds 5] [--seconds 3] [--write] [--compare NAME=DIR]

One run starts the demo (``courses`` only, 2 instances per version, no background load, no
artificial service latency), splits courses 50/50, and generates an HAProxy config with the
same split over the same instances. For each round and each path (straight to one instance,
through the gateway, through HAProxy) it measures:

- throughput: closed loop, ``--connections`` keep-alive connections as fast as they go;
- latency at 500 requests/s: open loop (sends scheduled by the clock; a request's latency
  counts from its scheduled time, so queueing is not hidden), p50 and p99.

Medians over the rounds are printed, and with ``--write`` stored in docs/benchmarks.md under
"## Gateway" (other sections are left alone). The client is Python too, on the same two
cores, so the numbers are a lower bound of what the gateway can do.

``--compare NAME=DIR`` (repeatable) also starts the demo of another checkout in DIR (for
instance ``git worktree add DIR main``: today's code as the baseline) and measures its
gateway and one of its instances in the same rounds, interleaved with this checkout's; a
table gives the CPU per request of each, as a ratio to the first ``--compare`` (the baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backends.local import connect, start_demo  # noqa: E402
from bench.haproxy_switch import measure_switch, start_rollout_haproxy  # noqa: E402

REQUEST = b"GET /courses/3 HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"


class _Client(asyncio.Protocol):
    """One keep-alive connection that parses just enough of each response."""

    def __init__(self) -> None:
        self.buf = b""
        self.waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].lower()
        i = head.find(b"content-length:")
        n = (
            int(head[i + 15 : head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None])
            if i >= 0
            else 0
        )
        if len(self.buf) >= end + 4 + n:
            status = int(self.buf[9:12])
            self.buf = self.buf[end + 4 + n :]
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))

    async def get(self) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(REQUEST)
        return await self.waiter


async def _connect(port: int) -> _Client:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(_Client, "127.0.0.1", port)
    return proto


async def throughput(port: int, seconds: float, connections: int) -> tuple[float, int]:
    """Requests/s with ``connections`` busy connections; (rate, non-200 count)."""
    clients = [await _connect(port) for _ in range(connections)]
    done = [0, 0]
    stop = time.perf_counter() + seconds

    async def run(c: _Client) -> None:
        while time.perf_counter() < stop:
            status = await c.get()
            done[0] += 1
            if status != 200:
                done[1] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(run(c) for c in clients))
    elapsed = time.perf_counter() - t0
    for c in clients:
        if c.transport:
            c.transport.close()
    return done[0] / elapsed, done[1]


async def latency(port: int, rate: float, seconds: float) -> tuple[float, float, int]:
    """Open loop at ``rate``: (p50, p99) in seconds from the scheduled send time, errors."""
    # At most 64 connections, like a real client pool: when all are busy a request waits
    # for one (and that wait counts in its latency) instead of opening ever more.
    idle: asyncio.Queue[_Client] = asyncio.Queue()
    for _ in range(64):
        idle.put_nowait(await _connect(port))
    lat: list[float] = []
    errors = [0]
    loop = asyncio.get_running_loop()
    tasks = []

    async def one(due: float) -> None:
        c = await idle.get()
        try:
            status = await c.get()
        except ConnectionError:
            errors[0] += 1
            idle.put_nowait(await _connect(port))
            return
        lat.append(loop.time() - due)
        if status != 200:
            errors[0] += 1
        idle.put_nowait(c)

    start = loop.time() + 0.05
    n = int(rate * seconds)
    for k in range(n):
        due = start + k / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(loop.create_task(one(due)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        c = idle.get_nowait()
        if c.transport:
            c.transport.close()
    lat.sort()
    return lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))], errors[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def haproxy_config(port: int, servers: list[tuple[str, int, int]]) -> str:
    """An HAProxy config with the same weighted split over the same instances."""
    lines = [
        "global",
        "  maxconn 4096",
        "defaults",
        "  mode http",
        "  timeout connect 2s",
        "  timeout client 30s",
        "  timeout server 30s",
        "  http-reuse always",
        "frontend lms",
        f"  bind 127.0.0.1:{port}",
        "  default_backend courses",
        "backend courses",
        "  balance roundrobin",
    ]
    lines += [f"  server {name} 127.0.0.1:{p} weight {w}" for name, p, w in servers]
    return "\n".join(lines) + "\n"


def start_haproxy(
    workdir: Path, servers: list[tuple[str, int, int]]
) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
    port = _free_port()
    cfg = workdir / "haproxy.cfg"
    cfg.write_text(haproxy_config(port, servers))
    proc = subprocess.Popen(
        [exe, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"haproxy did not start: {proc.stderr.read() if proc.stderr else ''}")


def start_compared(
    spec: str, work: Path, stack: contextlib.ExitStack
) -> dict[str, tuple[int, int]]:
    """Start the demo of the checkout named by ``NAME=DIR`` as the main one is started;
    its gateway and one v1 instance as targets ``gateway@NAME`` and ``direct@NAME``."""
    name, sep, src = spec.partition("=")
    if not sep or not (Path(src) / "backends" / "local").is_dir():
        raise SystemExit(f"--compare {spec}: expected NAME=DIR, DIR a checkout of this project")
    # Its processes import backends/ from DIR: PYTHONPATH first, and not the working
    # directory (PYTHONSAFEPATH), which may be this checkout.
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "PYTHONSAFEPATH")}
    os.environ["PYTHONPATH"] = str(Path(src).resolve())
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        demo = stack.enter_context(
            start_demo(work / f"demo-{name}", rps=0, instances=2, services=["courses"])
        )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    env = connect(work / f"demo-{name}")
    control = env.extras["control"]
    for v in ("v1", "v2"):
        control.inject_fault("courses", v, errors=0.0, latency=0.0, base_latency=0.0, jitter=0.0)
    env.traffic.set_split("courses", {"v1": 50, "v2": 50})
    one = next(
        i for i in control.status()["instances"] if i["state"] == "ready" and i["version"] == "v1"
    )
    return {
        f"direct@{name}": (one["port"], one["pid"]),
        f"gateway@{name}": (demo.ports["gateway"], demo.pid),
    }


def compared_lines(med: dict[str, dict[str, float]], names: list[str]) -> list[str]:
    """A table of CPU per request (medians) of this checkout and of every ``--compare``
    one, as ratios to the first ``--compare`` (the baseline)."""
    if not names:
        return []
    base = names[0]
    gb, db = med[f"gateway@{base}"], med[f"direct@{base}"]
    lines = [
        f"CPU per request against `{base}` (the first `--compare`), same rounds, medians:",
        "",
        "| checkout | gateway: CPU per request | ratio | instance: CPU per request | ratio "
        "| gateway throughput, req/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, key in [("this one", "")] + [(n, f"@{n}") for n in names]:
        g, d = med["gateway" + key], med["direct" + key]
        lines.append(
            f"| {label} | {g['cpu']:.3f} ms | {g['cpu'] / gb['cpu']:.3f} | {d['cpu']:.3f} ms "
            f"| {d['cpu'] / db['cpu']:.3f} | {g['rps']:.0f} |"
        )
    return [*lines, ""]


def write_section(path: Path, body: str) -> None:
    """Replace (or append) the "## Gateway" section of docs/benchmarks.md."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find("\n## Gateway\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        nxt = text.find("\n## ", start + 1)
        text = text[: start + 1] + body + (text[nxt:] if nxt >= 0 else "")
    path.write_text(text.rstrip("\n") + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also measure the demo of the checkout in DIR (CPU per request as a ratio)",
    )
    ap.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rate", type=float, default=500.0, help="open-loop rate for latency")
    ap.add_argument("--flips", type=int, default=21, help="split flips on rollout's HAProxy")
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args()

    load_before = os.getloadavg()[0]
    compared = contextlib.ExitStack()  # the --compare demos
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with start_demo(work / "demo", rps=0, instances=2, services=["courses"]) as demo:
            env = connect(work / "demo")
            control = env.extras["control"]
            for v in ("v1", "v2"):
                control.inject_fault(
                    "courses", v, errors=0.0, latency=0.0, base_latency=0.0, jitter=0.0
                )
            env.traffic.set_split("courses", {"v1": 50, "v2": 50})
            instances = [i for i in control.status()["instances"] if i["state"] == "ready"]
            direct_port = next(i["port"] for i in instances if i["version"] == "v1")
            gateway_port = demo.ports["gateway"]
            per_version = {v: sum(1 for i in instances if i["version"] == v) for v in ("v1", "v2")}
            servers = [(i["name"], i["port"], 50 // per_version[i["version"]]) for i in instances]
            haproxy, haproxy_port = start_haproxy(work, servers)
            # The same fleet behind an HAProxy whose weights rollout sets (Runtime API).
            driven, driven_traffic = start_rollout_haproxy(work, instances)
            try:
                direct_pid = next(i["pid"] for i in instances if i["port"] == direct_port)
                targets = {
                    "direct": (direct_port, direct_pid),
                    "gateway": (gateway_port, demo.pid),
                    "haproxy": (haproxy_port, haproxy.pid),
                    "rollout-haproxy": (driven.port, driven.pid),
                }
                for spec in args.compare:
                    targets.update(start_compared(spec, work, compared))
                results: dict[str, dict[str, list[float]]] = {
                    t: {"rps": [], "p50": [], "p99": [], "errors": [], "cpu": []} for t in targets
                }
                for r in range(args.rounds):
                    for name, (port, pid) in targets.items():
                        c0, t0 = cpu_seconds(pid), time.perf_counter()
                        rps, bad = asyncio.run(throughput(port, args.seconds, args.connections))
                        served = rps * (time.perf_counter() - t0)
                        cpu_ms = (cpu_seconds(pid) - c0) / max(served, 1) * 1e3
                        p50, p99, errs = asyncio.run(latency(port, args.rate, args.seconds))
                        res = results[name]
                        res["cpu"].append(cpu_ms)
                        res["rps"].append(rps)
                        res["p50"].append(p50)
                        res["p99"].append(p99)
                        res["errors"].append(bad + errs)
                        print(
                            f"round {r + 1} {name:8s} {rps:8.0f} rps  p50 {p50 * 1e3:6.2f} ms  "
                            f"p99 {p99 * 1e3:6.2f} ms  cpu {cpu_ms:.3f} ms/req  errors {bad + errs}",
                            flush=True,
                        )
                split = json.dumps(env.traffic.get_split("courses").weights)
                switch = measure_switch(driven_traffic, driven.port, args.flips)
            finally:
                driven.stop()
                haproxy.terminate()
                haproxy.wait(5)
                compared.close()
    load_after = os.getloadavg()[0]
    med = {t: {k: statistics.median(v) for k, v in m.items()} for t, m in results.items()}
    spread = {t: (min(m["rps"]), max(m["rps"])) for t, m in results.items()}
    p99s = {t: (min(m["p99"]) * 1e3, max(m["p99"]) * 1e3) for t, m in results.items()}
    d, g, h = med["direct"], med["gateway"], med["haproxy"]
    cmd = "python bench/gateway.py " + " ".join(a for a in sys.argv[1:] if a != "--write")
    table = [
        f"| path | throughput, req/s (min-max) | p50 at {args.rate:g} rps "
        f"| p99 at {args.rate:g} rps (min-max) "
        "| added p50 | added p99 | CPU per request | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, name, m in (
        ("direct", "straight to one instance", d),
        ("gateway", "rollout demo gateway", g),
        ("haproxy", "HAProxy 2.6", h),
        (
            "rollout-haproxy",
            "HAProxy 2.6 driven by rollout (Runtime API weights)",
            med["rollout-haproxy"],
        ),
    ):
        lo, hi = spread[key]
        added50 = "" if m is d else f"{(m['p50'] - d['p50']) * 1e3:+.2f} ms"
        added99 = "" if m is d else f"{(m['p99'] - d['p99']) * 1e3:+.2f} ms"
        table.append(
            f"| {name} | {m['rps']:.0f} ({lo:.0f}-{hi:.0f}) | {m['p50'] * 1e3:.2f} ms "
            f"| {m['p99'] * 1e3:.2f} ms ({p99s[key][0]:.1f}-{p99s[key][1]:.1f}) "
            f"| {added50} | {added99} | {m['cpu']:.3f} ms | {m['errors']:.0f} |"
        )
    verdict_rps = "met" if g["rps"] >= 2000 else "missed"
    verdict_p99 = "met" if g["p99"] - d["p99"] < 0.005 else "missed"
    body = "\n".join(
        [
            "## Gateway",
            "",
            f"Command: `{cmd.strip()}` (add `--write` to update this section). "
            f"Machine: {platform.machine()}, {_cpus()} CPUs, Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d')}. Median of {args.rounds} rounds; each round measures "
            f"throughput for {args.seconds:g} s over {args.connections} keep-alive connections (closed "
            f"loop), then latency for {args.seconds:g} s at {args.rate:g} requests/s (open loop over "
            "at most 64 connections, counted from the scheduled send time). Services answer with no artificial latency; the "
            f"split is {split} over 2 instances per version, the same weights in HAProxy "
            "(`balance roundrobin`, `http-reuse always`). The client is Python on the same "
            "two cores, so the gateway shares the CPU with it. CPU per request is the serving "
            "process's user+system time (from /proc) during the throughput run divided by the "
            "requests it served: the instance for the direct path, the demo runner for the "
            "gateway, haproxy for HAProxy. It is the figure least disturbed by other load on "
            f"the machine. Load average (1 min) {load_before:.1f} before the run and "
            f"{load_after:.1f} after it.",
            "",
            *table,
            "",
            f"Targets: at least 2,000 req/s through the gateway ({verdict_rps}: {g['rps']:.0f}); "
            f"added p99 under 5 ms at {args.rate:g} req/s ({verdict_p99}: {(g['p99'] - d['p99']) * 1e3:+.2f} ms). "
            f"Ratios: gateway/direct throughput {g['rps'] / d['rps']:.2f}, gateway/HAProxy "
            f"throughput {g['rps'] / h['rps']:.2f}.",
            "",
            f"HAProxy driven by rollout (`backends/haproxy`, `bench/haproxy_switch.py`): the split "
            f"flipped {args.flips} times between v1 and v2 (100/0, 0/100) while one keep-alive "
            "client sent requests back to back. `set_split` itself (two reads and one batch "
            f"on the Runtime API) took a median {switch['call'] * 1e3:.1f} ms; the new weights "
            "took effect (the first request after which only the new version answered, counted "
            f"from the call) after a median {switch['effect'] * 1e3:.1f} ms.",
            "",
        ]
    )
    body += "\n".join(compared_lines(med, [c.partition("=")[0] for c in args.compare]))
    print()
    print(body)
    if args.write:
        write_section(ROOT / "docs" / "benchmarks.md", body)
        print("wrote docs/benchmarks.md (## Gateway)")
    return 0


def _cpus() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
