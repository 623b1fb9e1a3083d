"""Controller benchmark: one ``rollout controller`` driving many rollouts, and its standby.

    .venv/bin/python bench/controller.py [--rollouts 50] [--seconds 60] [--kills 3]

Method. A real ``FileStateStore`` in a temporary directory holds ``--rollouts`` canaries
(services ``svc00``...), each begun as ``rollout start`` begins one and then held at 20 % at
a manual gate with analysis ``interval: 1s`` (so every rollout measures every second, for
ever). The controllers are child processes of this script, each running the real
``console.driver.controller.Controller`` (4 worker threads, as ``rollout controller``) with
its JSON log on stdout (to a file), over in-process fake backends with fixed latencies:
every traffic call sleeps ``TRAFFIC_LATENCY`` and every metrics call ``METRICS_LATENCY``
(tests/support/fakes.py with a ``Switch`` that sleeps).

1. **Load**: one controller; after ``WARMUP`` s, for ``--seconds`` s: every rollout tick's
   duration (the span the controller's ``rollout_controller_tick_duration_seconds``
   measures: load, unguarded check, ``Driver.tick``), the process's CPU time
   (``time.process_time``), and the number of ticks. CPU per rollout per tick = CPU time /
   ticks; share of one core = CPU time / wall time.
2. **Failover**: a second controller on the same store stands by; the active one is
   SIGKILLed at a random instant; time from the kill to the standby's first rollout tick as
   the active controller. ``--kills`` times with holders on this host (the file store frees
   a dead local holder's leases at once) and ``--kills`` times with holders that name
   another host (nothing to check a pid against: the standby waits out the TTL, the worst
   case, as on Kubernetes).

The load average (1 min) is sampled at the start and the end of each phase.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRAFFIC_LATENCY = 0.002  # seconds per traffic backend call (a Kubernetes API cache read)
METRICS_LATENCY = 0.010  # seconds per metrics call (one PromQL round trip)
WARMUP = 10.0
TTL = 10.0  # the controller's lease TTL (console.driver.guard.DEFAULT_TTL)
INTERVAL = 1.0

PLAN = """\
service: {service}
strategy: canary
stable: v1
candidate: v2
steps:
  - setWeight: 20
  - pause: {{}}
analysis:
  interval: 1s
  minRequests: 5
  failureLimit: 0
  metrics:
    - {{name: error-rate, max: 0.05}}
"""


def names(n: int) -> list[str]:
    return [f"svc{i:02d}" for i in range(n)]


def fake_env(store_dir: Path, services: list[str]) -> Any:
    from backends.base import Environment
    from backends.local.store import FileStateStore
    from tests.support.fakes import FakeMetrics, FakeTraffic, Switch

    class Latency(Switch):
        """Every backend call takes ``delay`` seconds."""

        def __init__(self, delay: float) -> None:
            super().__init__()
            self.delay = delay

        def check(self) -> None:
            time.sleep(self.delay)
            super().check()

    traffic = FakeTraffic(services, switch=Latency(TRAFFIC_LATENCY))
    metrics = FakeMetrics(time.time, switch=Latency(METRICS_LATENCY))
    return Environment("bench", traffic, metrics, FileStateStore(store_dir), "bench (fakes)")


# ----------------------------------------------------------------------------- child


def child(args: argparse.Namespace) -> int:
    """One controller process: drive until SIGTERM; write what it measured to --out."""
    from console.commands.controller import JsonLog
    from console.driver.controller import Controller
    from console.driver.edges import make_holder

    services = names(args.rollouts)
    env = fake_env(Path(args.store), services)
    out = Path(args.out)
    lock = threading.Lock()
    ticks: list[tuple[float, float]] = []  # (wall time at start, duration)
    state: dict[str, Any] = {"pid": os.getpid()}

    write_lock = threading.Lock()

    def write(extra: dict[str, Any]) -> None:
        with write_lock:  # the tick threads, the measuring thread and this one
            state.update(extra)
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            tmp.replace(out)

    original = Controller._tick

    def timed(self: Controller, name: str, driver: Any) -> Any:
        started, t0 = time.time(), time.perf_counter()
        result = original(self, name, driver)
        _rec, ticked, _took = result
        if ticked and driver.driving:
            with lock:
                ticks.append((started, time.perf_counter() - t0))
                if "first_tick_at" not in state:
                    write({"first_tick_at": started})
        return result

    Controller._tick = timed  # type: ignore[method-assign]
    holder = make_holder()
    if args.remote:  # another host: no pid to check, so a standby waits out the TTL
        holder = f"bench@elsewhere:{holder.split(':', 2)[2]}"
    controller = Controller(env, holder=holder, log=JsonLog(), workers=4)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def measure() -> None:
        if stop.wait(args.measure_after) or args.measure_for <= 0:
            return
        cpu0, wall0 = time.process_time(), time.time()
        if stop.wait(args.measure_for):
            return
        cpu1, wall1 = time.process_time(), time.time()
        with lock:
            window = [d for at, d in ticks if wall0 <= at < wall1]
        write({"cpu": cpu1 - cpu0, "wall": wall1 - wall0, "durations": window})

    threading.Thread(target=measure, daemon=True).start()
    write({"started_at": time.time()})
    try:
        controller.run(stop)
    finally:
        controller.close()
    return 0


# ----------------------------------------------------------------------------- parent


class Children:
    """The controller processes of one phase; all stopped (SIGTERM) at the end."""

    numbers = itertools.count()

    def __init__(self, work: Path, store: Path, rollouts: int) -> None:
        self.work, self.store, self.rollouts = work, store, rollouts
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, *, remote: bool = False, after: float = 0, measure: float = 0) -> Any:
        n = next(Children.numbers)
        out = self.work / f"child-{n}.json"
        with (self.work / f"child-{n}.log").open("wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    *("--store", str(self.store), "--out", str(out)),
                    *("--rollouts", str(self.rollouts), "--measure-after", str(after)),
                    *("--measure-for", str(measure)),
                    *(["--remote"] if remote else []),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        self.procs.append(proc)
        return proc, out

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


def read(out: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(out.read_text()))
    except (OSError, ValueError):
        return {}


def wait_for(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"bench: timed out after {timeout:g}s waiting for {what}")


def begin_all(store: Path, services: list[str]) -> None:
    """Begin every rollout as ``rollout start`` does: one tick, then the lease handed back."""
    from console.driver.loop import Driver
    from console.plan.load import parse_plan

    env = fake_env(store, services)
    for s in services:
        d = Driver(env, s, holder=f"ops@bench:{os.getpid()}:000000")
        d.begin(parse_plan(PLAN.format(service=s), f"{s}.yaml"))
        d.close()


def load_phase(kids: Children, seconds: float) -> dict[str, Any]:
    load0 = os.getloadavg()[0]
    _proc, out = kids.spawn(after=WARMUP, measure=seconds)
    got = wait_for(lambda: "cpu" in read(out) and read(out), WARMUP + seconds + 60, "the load")
    durations = sorted(got["durations"])
    ticks = len(durations)
    return {
        "rollouts": kids.rollouts,
        "seconds": round(got["wall"], 1),
        "ticks": ticks,
        "ticks_per_second": round(ticks / got["wall"], 1),
        "tick_median_ms": round(1000 * statistics.median(durations), 2),
        "tick_p99_ms": round(1000 * durations[min(ticks - 1, int(0.99 * ticks))], 2),
        "cpu_share_of_one_core": round(got["cpu"] / got["wall"], 3),
        "cpu_ms_per_rollout_tick": round(1000 * got["cpu"] / ticks, 3),
        "load_avg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }


def failover_phase(kids: Children, kills: int, remote: bool) -> dict[str, Any]:
    """Seconds from SIGKILL of the active controller to the standby's first tick."""
    rnd = random.Random(7)
    load0 = os.getloadavg()[0]
    active, out = kids.spawn(remote=remote)
    wait_for(lambda: "first_tick_at" in read(out), 60, "the first controller's tick")
    took: list[float] = []
    for _ in range(kills):
        standby, standby_out = kids.spawn(remote=remote)
        wait_for(lambda o=standby_out: "started_at" in read(o), 60, "a standby")
        time.sleep(2.0 + rnd.random() * INTERVAL)  # a random instant of the active's passes
        killed_at = time.time()
        active.kill()
        active.wait(10)
        first = wait_for(lambda o=standby_out: read(o).get("first_tick_at"), TTL + 30, "takeover")
        took.append(round(first - killed_at, 3))
        active = standby
    return {
        "holders": "another host (TTL)" if remote else "this host (pid checked)",
        "kill_to_first_tick_s": took,
        "median_s": round(statistics.median(took), 3),
        "max_s": max(took),
        "load_avg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rollouts", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0, help="measured load window")
    ap.add_argument("--kills", type=int, default=3, help="SIGKILLs per holder kind")
    ap.add_argument("--dir", help="where the store lives (default: the system's temp dir)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--remote", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--measure-after", type=float, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--measure-for", type=float, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    report: dict[str, Any] = {
        "store": f"{args.dir or tempfile.gettempdir()}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "latency_ms": {"traffic": TRAFFIC_LATENCY * 1000, "metrics": METRICS_LATENCY * 1000},
    }
    with tempfile.TemporaryDirectory(prefix="rollout-bench-ctl-", dir=args.dir) as tmp:
        work = Path(tmp)
        store = work / "rollouts"
        begin_all(store, names(args.rollouts))
        for phase, run in (
            ("load", lambda k: load_phase(k, args.seconds)),
            ("failover_local", lambda k: failover_phase(k, args.kills, remote=False)),
            ("failover_remote", lambda k: failover_phase(k, args.kills, remote=True)),
        ):
            kids = Children(work, store, args.rollouts)
            try:
                report[phase] = run(kids)
            finally:
                kids.stop()
            print(json.dumps({phase: report[phase]}), flush=True)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
