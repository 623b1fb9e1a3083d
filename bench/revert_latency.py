"""Benchmark: how fast a canary is reverted after its candidate goes bad, and what it costs.

    .venv/bin/python bench/revert_latency.py [--runs 10] [--rps 200] [--errors 0.3] [--write]

Method. One demo environment (all three services, ``--rps`` of open-loop background load,
2 instances per version). For each run:

1. ``courses`` is reset to v1 100 %, and ``rollout auto`` (the real CLI, a separate process)
   starts a canary with ``setWeight: 20`` then a long pause, analysis ``interval: 1s``
   (window 1 s), ``failureLimit: 0``, ``minRequests: 5``, ``error-rate max 0.05``;
2. once v2 takes 20 % and a measurement has passed, we wait a random 0-1 s (so injection
   does not phase-lock with the analysis ticks) and inject ``errors=--errors`` into v2;
3. revert latency = from the injection call returning to the gateway reporting 0 % on v2
   (polled every 10 ms through the control API: the split the gateway routes by);
4. blast radius = the load generator's failed ``courses`` requests (5xx or transport errors)
   between injection and revert, read from its counters (+0.3 s for requests in flight);
   the failure rate is those failures over the same windows.

The Flagger comparison is computed, not run: Flagger's documented canary example uses
``interval: 1m`` and ``threshold: 10`` (rollback on the 10th failed check). Replaying the
same plan with ``interval: 60s, failureLimit: 9`` on the same fault, the revert comes after
10 failing measurements: the first at the first analysis tick whose 60 s window has enough
faulty requests to exceed the threshold (on average half an interval after injection; at
errors=0.3 and max 0.05 a window fails once a sixth of it is faulty), then nine more, one per
minute: about 30 s + 9 x 60 s = 570 s (range 540-600 s). Its blast radius is that time
multiplied by the failure rate measured in our runs at the same weight (failed requests per
second while v2 took 20 %), so both columns rest on the same measured fault.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backends.local import connect, start_demo  # noqa: E402
from backends.local.store import FileStateStore  # noqa: E402

SERVICE = "courses"
WEIGHT = 20
FLAGGER_INTERVAL = 60.0
FLAGGER_THRESHOLD = 10
VERBOSE = False

PLAN = f"""\
service: {SERVICE}
strategy: canary
stable: v1
candidate: v2
steps:
  - setWeight: {WEIGHT}
  - pause: 10m
analysis:
  interval: 1s
  minRequests: 5
  failureLimit: 0
  inconclusiveLimit: 100
  metrics:
    - {{name: error-rate, max: 0.05}}
"""


def _failed(stats: dict[str, Any]) -> int:
    c = stats.get("by_service", {}).get(SERVICE, {})
    return int(c.get("failed", 0))


def _wait(cond: Any, limit: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return False


def one_run(
    env: Any, store: FileStateStore, plan: Path, errors: float, rnd: random.Random
) -> dict[str, float]:
    """One canary, one fault, one revert; returns latency (s), failures and the fault window."""
    traffic, control = env.traffic, env.extras["control"]
    control.clear_fault(SERVICE, "v2")
    traffic.set_split(SERVICE, {"v1": 100, "v2": 0})
    for p in store.directory.glob(f"{SERVICE}.*"):
        p.unlink()
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "auto", str(plan), "--json", "--timeout", "120s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:

        def steady() -> bool:
            rec = store.load(SERVICE)
            return rec is not None and rec.step_index >= 1 and not rec.phase.terminal

        if not _wait(steady, 30):
            raise RuntimeError("the canary never reached its 20% pause")
        time.sleep(rnd.uniform(0.0, 1.0))
        before = _failed(control.load_stats())
        control.inject_fault(SERVICE, "v2", errors=errors, latency=0)
        t0 = time.monotonic()
        t0_wall = time.time()
        reverted = _wait(lambda: traffic.get_split(SERVICE).weights.get("v2", 0) == 0, 30, 0.01)
        t1 = time.monotonic()
        if not reverted:
            raise RuntimeError("no revert within 30 s")
        time.sleep(0.3)  # requests already sent to v2 before the switch finish failing
        after = _failed(control.load_stats())
        out, _ = proc.communicate(timeout=30)
        lines = [json.loads(x) for x in out.strip().splitlines()]
        summary = lines[-1]
        if VERBOSE:
            for e in lines[:-1]:
                if e["at"] >= t0_wall - 1.5:
                    print(f"   {e['at'] - t0_wall:+6.2f} s  {e['kind']}: {e['message']}")
        if summary.get("exit_code") != 1:
            raise RuntimeError(f"rollout auto did not roll back: {summary}")
        return {"latency": t1 - t0, "failed": float(after - before)}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
        control.clear_fault(SERVICE, "v2")


def _quantile(values: list[float], q: float) -> float:
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _row(values: list[float], fmt: str) -> str:
    return " | ".join(fmt.format(_quantile(values, q)) for q in (0.0, 0.25, 0.5, 0.75, 1.0))


def _distribution(values: list[float], fmt: str) -> str:
    parts = zip(("min", "p25", "median", "p75", "max"), _row(values, fmt).split(" | "), strict=True)
    return ", ".join(f"{name} {v}" for name, v in parts)


def _broken_text(broken: list[str]) -> str:
    if not broken:
        return ""
    return " (the others: " + "; ".join(sorted(set(broken))) + ")"


def flagger_estimate(failure_rate: float, apply_latency: float) -> dict[str, float]:
    """Revert time and blast radius of the same fault under interval 1m, threshold 10."""
    first = FLAGGER_INTERVAL / 2  # mean wait for the first failing check
    revert = first + (FLAGGER_THRESHOLD - 1) * FLAGGER_INTERVAL + apply_latency
    return {
        "revert": revert,
        "revert_min": (FLAGGER_THRESHOLD - 1) * FLAGGER_INTERVAL,
        "revert_max": FLAGGER_THRESHOLD * FLAGGER_INTERVAL,
        "failed": failure_rate * revert,
    }


def write_section(text: str) -> Path:
    """Replace (or append) the "## Revert latency" section of docs/benchmarks.md."""
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    head = "## Revert latency"
    start = doc.find(head)
    if start == -1:
        doc = doc.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        nxt = doc.find("\n## ", start + len(head))
        end = len(doc) if nxt == -1 else nxt + 1
        doc = doc[:start] + text.rstrip("\n") + "\n" + ("\n" + doc[end:] if nxt != -1 else "")
    path.write_text(doc)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rps", type=float, default=200.0, help="background load, all services")
    ap.add_argument("--errors", type=float, default=0.3, help="error ratio injected into v2")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    ap.add_argument("--verbose", action="store_true", help="print the events around each fault")
    args = ap.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    rnd = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="rollout-bench-") as tmp:
        state = Path(tmp) / "demo"
        os.environ["ROLLOUT_DEMO_DIR"] = str(state)
        os.environ["XDG_STATE_HOME"] = str(Path(tmp) / "state")
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
        plan = Path(tmp) / "plan.yaml"
        plan.write_text(PLAN)
        handle = start_demo(state, rps=args.rps, instances=2)
        try:
            env = connect(state)
            store = FileStateStore(state / "rollouts")
            results = []
            broken: list[str] = []
            for i in range(args.runs):
                try:
                    r = one_run(env, store, plan, args.errors, rnd)
                except RuntimeError as exc:  # reported with the results, not hidden
                    broken.append(str(exc))
                    print(f"run {i + 1}: did not complete: {exc}")
                    continue
                results.append(r)
                print(
                    f"run {i + 1}: revert {r['latency']:.2f} s, {r['failed']:.0f} failed requests"
                )
        finally:
            handle.stop()
    if not results:
        print(f"no run completed: {broken}")
        return 1
    lat = [r["latency"] for r in results]
    failed = [r["failed"] for r in results]
    # failed requests per second while v2 took 20% with the fault: the counting window is the
    # revert time plus the 0.3 s allowed for requests in flight
    rate = sum(failed) / sum(x + 0.3 for x in lat)
    med, worst = statistics.median(lat), max(lat)
    dist_lat, dist_failed = _distribution(lat, "{:.2f} s"), _distribution(failed, "{:.0f}")
    print(f"revert latency: {dist_lat}")
    print(f"failed requests: {dist_failed}")
    fl = flagger_estimate(rate, med)
    print(f"median {med:.2f} s, max {worst:.2f} s; failed median {statistics.median(failed):.0f}")
    print(
        f"failure rate while faulty: {rate:.1f}/s -> Flagger example: {fl['failed']:.0f} failed in {fl['revert']:.0f} s"
    )
    section = f"""## Revert latency

`bench/revert_latency.py` ({args.runs} runs, {time.strftime("%Y-%m-%d")}, {platform.machine()},
{os.cpu_count()} cores, Python {platform.python_version()}; the demo with {args.rps:g} requests/s
of background load over its three services, about 40 % of it to `courses`).

A canary of `courses` holds v2 at {WEIGHT} % with analysis `interval: 1s`, `failureLimit: 0`,
`error-rate max 0.05`, driven by `rollout auto` in its own process. Then
`errors={args.errors:g}` is injected into v2. **Revert latency** is from the injection to the
gateway routing 0 % to v2; **blast radius** is the failed `courses` requests (as counted by
the load generator) in that time.

{len(results)} of {args.runs} runs completed{_broken_text(broken)}.

| | min | p25 | median | p75 | max |
|---|---:|---:|---:|---:|---:|
| revert latency (interval 1s, failureLimit 0) | {_row(lat, "{:.2f} s")} |
| failed user requests before the revert | {_row(failed, "{:.0f}")} |

Every run, sorted: revert latency {", ".join(f"{x:.2f}" for x in sorted(lat))} s; failed
requests {", ".join(f"{x:.0f}" for x in sorted(failed))}.

Target: median under 3 s.

Same fault, same plan, replayed with the interval and limit of Flagger's documented canary
example (`interval: 1m`, `threshold: 10`; here `interval: 60s`, `failureLimit: 9`),
**computed, not run**: rollback comes with the 10th failing check, on average half an
interval after injection for the first one and one minute apart after that,
so about {fl["revert"]:.0f} s (between {fl["revert_min"]:.0f} and {fl["revert_max"]:.0f} s).
At the failure rate measured above while v2 took {WEIGHT} % ({rate:.1f} failed requests/s),
that is about **{fl["failed"]:.0f} failed requests**, against a median of
{statistics.median(failed):.0f} here. The weight stays at {WEIGHT} % in both cases: Flagger does
not advance the weight while checks fail, and neither does rollout.

Reading: the revert comes at the first analysis tick whose 1 s window holds faulty requests
(0-1 s after injection), and the switch is applied in that same tick (`--verbose` prints the
events: breach, SetSplit and rollback share one timestamp). With `failureLimit: 0` one bad
window is enough.

Why earlier runs were slow or never reached the 20 % pause: the demo's metrics kept whole
seconds and a window counted the seconds that began inside it, the one in progress
included. The driver ticks about once a second at a steady phase, so a 1 s window taken
0.05 s into a second held only that second's first 0.05 s: 1-4 of the candidate's ~16
requests a second, below `minRequests: 5`, measurement after measurement (inconclusive:
no breach, and no pass to leave the step). A window up to now also counts, since then, its
share of the second in progress at its start, so it holds about one second of traffic
(tests/demo/test_demo_units.py: 40 of 40 requests a window where it held 2).
"""
    if args.write:
        print(f"wrote {write_section(section)}")
    else:
        print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
