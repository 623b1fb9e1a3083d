"""Benchmark: how long an operator command takes to reach a rollout the controller drives.

    .venv/bin/python bench/command_latency.py [--runs 20] [--rps 100]

Method. One demo environment with its controller (as ``rollout demo`` runs it), in a
temporary state directory. ``rollout start`` (the real CLI) begins a canary of ``courses``
with ``setWeight: 20`` then a long pause; once the controller holds its lease, the script
alternates ``pause`` and ``resume`` through ``console.driver.send.send_command`` (what
``rollout pause`` and the console's keys call), waiting a random 0-1 s before each so posts
do not phase-lock with the controller's ticks. Latency = from ``send_command`` returning
(the command is in the store's queue) to the record, polled every 10 ms, showing the new
phase (the controller's tick applied it and saved it).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backends.base import CommandKind, Phase  # noqa: E402
from backends.local import connect, start_demo  # noqa: E402
from backends.local.store import FileStateStore  # noqa: E402
from console.commands.demo import controller_argv  # noqa: E402
from console.driver.presence import controller_running  # noqa: E402
from console.driver.send import send_command  # noqa: E402

PLAN = """\
service: courses
strategy: canary
stable: v1
candidate: v2
steps:
  - setWeight: 20
  - pause: 1h
analysis:
  interval: 1s
  window: 2s
  minRequests: 3
  inconclusiveLimit: 1000
  metrics:
    - {name: error-rate, max: 0.5}
"""


def _wait(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rps", type=float, default=100.0)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rollout-cmd-latency-"))
    os.environ.update(
        ROLLOUT_DEMO_DIR=str(root / "demo"),
        XDG_STATE_HOME=str(root / "state"),
        XDG_CONFIG_HOME=str(root / "config"),
    )
    handle = start_demo(
        root / "demo", rps=args.rps, instances=2, companions={"controller": controller_argv()}
    )
    try:
        env = connect(root / "demo")
        store = FileStateStore(root / "demo" / "rollouts")
        _wait(lambda: controller_running(store), 30, "the controller")
        plan = root / "plan.yaml"
        plan.write_text(PLAN)
        subprocess.run(
            [sys.executable, "-m", "console.cli", "start", str(plan)],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        holder = controller_running(store)
        _wait(
            lambda: (lease := store.lease("courses")) is not None and lease.holder == holder,
            10,
            "the controller driving courses",
        )
        rnd = random.Random(1)
        latencies = []
        for i in range(args.runs):
            kind, want = (
                (CommandKind.PAUSE, Phase.PAUSED)
                if i % 2 == 0
                else (CommandKind.RESUME, Phase.PROGRESSING)
            )
            time.sleep(rnd.uniform(0.0, 1.0))
            send_command(env, "courses", kind, user="bench")
            posted = time.monotonic()
            _wait(
                lambda w=want: (r := store.load("courses")) is not None and r.phase is w,
                10,
                f"{kind} applied",
            )
            latencies.append(time.monotonic() - posted)
    finally:
        handle.stop()
    latencies.sort()
    print(
        f"{args.runs} commands, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, demo at {args.rps:g} requests/s"
    )
    print(
        f"posted -> applied: median {statistics.median(latencies):.2f} s, "
        f"p90 {latencies[int(0.9 * (len(latencies) - 1))]:.2f} s, max {latencies[-1]:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
