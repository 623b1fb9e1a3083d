"""Benchmark: the sequential test against today's fixed threshold, on the same simulated traffic.

    .venv/bin/python bench/judge.py [--runs 1000] [--seconds 300] [--rps 500] [--write]

Method. Each run is one canary step: ``--rps`` requests a second, each sent to the
candidate with probability ``weight`` (so the candidate's share varies from second to
second, as with a real load balancer); every request of a version fails independently
with that version's error rate. The analysis looks every second (continuous peeking), and
both rules judge the same draws:

- **sequential**: ``console.analysis.sequential.SequentialTest`` (the module the engine
  uses) fed each second's counts of both versions, ``baseline: stable``, ``maxRatio:
  --max-ratio``, ``alpha: --alpha``; a rollback when its e-value reaches 1/alpha.
- **fixed**: today's rule with ``error-rate max`` = 1.5 x the base rate, 1 s windows,
  ``failureLimit: 0``, ``minRequests: 20``: a rollback at the first 1 s window with at
  least 20 candidate requests whose error ratio is above the max (a window with fewer is
  inconclusive, which never rolls back).

A/A: both versions at the base rate (1 % and 5 %), weights 5, 10, 25 and 50 %, ``--seconds``
a run: any rollback is a false rollback. For the sequential test the table also gives the
share of runs in which the step could pass (its confidence sequence fell below maxRatio)
and the median time until it could. A/B: the candidate at 2x and 10x the base rate from
the first second, 10 % weight: time to rollback (seconds since exposure, the second the
rule fires) and the candidate's failed requests until then; a run that never rolls back
within ``--seconds`` is counted at ``--seconds`` (the "caught" column says how many did).

Draws use numpy with ``--seed``; the statistic is the pure-Python module itself, so this
also measures what the engine would compute (about 50 us an update on this machine).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.analysis.sequential import SequentialTest  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Judging the candidate: sequential test vs fixed threshold"
FIXED_FACTOR = 1.5
MIN_REQUESTS = 20
AA_BASES = (0.01, 0.05)
AA_WEIGHTS = (0.05, 0.10, 0.25, 0.50)
AB_WEIGHT = 0.10
AB_FACTORS = (2.0, 10.0)


@dataclass
class Outcome:
    """One run under one rule: when it rolled back (None: never) and the candidate's
    failed requests until then (or until the end of the run)."""

    rollback_at: int | None
    failed: int
    pass_at: int | None = None  # sequential only: first second the step could pass


def draw(rng: np.random.Generator, runs: int, seconds: int, rps: int, weight: float,
         pc: float, ps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    c = rng.binomial(rps, weight, size=(runs, seconds))
    s = rps - c
    return c, rng.binomial(c, pc), s, rng.binomial(s, ps)


def sequential(c, x, s, y, *, max_ratio: float, alpha: float) -> Outcome:
    level = math.log(1 / alpha)
    test = SequentialTest(max_ratio=max_ratio, alpha=alpha)
    failed = 0
    pass_at = None
    for t, (ct, xt, st, yt) in enumerate(
        zip(c.tolist(), x.tolist(), s.tolist(), y.tolist(), strict=True)
    ):
        test = test.update(ct, xt, st, yt)
        failed += xt
        if test.log_e() >= level:
            return Outcome(t + 1, failed, pass_at)
        if pass_at is None and test.log_e_within() >= level:
            pass_at = t + 1
    return Outcome(None, failed, pass_at)


def fixed(c, x, *, limit: float) -> Outcome:
    ok = c >= MIN_REQUESTS
    bad = ok & (x > limit * np.maximum(c, 1))
    hits = np.flatnonzero(bad)
    if hits.size == 0:
        return Outcome(None, int(x.sum()))
    t = int(hits[0])
    return Outcome(t + 1, int(x[: t + 1].sum()))


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest-rank rule."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def run_aa(args: argparse.Namespace, rng: np.random.Generator) -> list[dict]:
    rows = []
    for base in AA_BASES:
        for weight in AA_WEIGHTS:
            c, x, s, y = draw(rng, args.runs, args.seconds, args.rps, weight, base, base)
            seq = [
                sequential(c[i], x[i], s[i], y[i], max_ratio=args.max_ratio, alpha=args.alpha)
                for i in range(args.runs)
            ]
            fix = [fixed(c[i], x[i], limit=FIXED_FACTOR * base) for i in range(args.runs)]
            passed = [o.pass_at for o in seq if o.pass_at is not None]
            fixed_times = [o.rollback_at for o in fix if o.rollback_at is not None]
            rows.append(
                {
                    "base": base,
                    "weight": weight,
                    "seq_false": sum(o.rollback_at is not None for o in seq) / args.runs,
                    "fixed_false": len(fixed_times) / args.runs,
                    "fixed_median_s": statistics.median(fixed_times) if fixed_times else None,
                    "seq_passed": len(passed) / args.runs,
                    "seq_pass_median_s": statistics.median(passed) if passed else None,
                }
            )
            print(f"  A/A base {base:.0%} weight {weight:.0%}: done", file=sys.stderr)
    return rows


def run_ab(args: argparse.Namespace, rng: np.random.Generator) -> list[dict]:
    rows = []
    for base in AA_BASES:
        for factor in AB_FACTORS:
            pc = base * factor
            c, x, s, y = draw(rng, args.runs, args.seconds, args.rps, AB_WEIGHT, pc, base)
            seq = [
                sequential(c[i], x[i], s[i], y[i], max_ratio=args.max_ratio, alpha=args.alpha)
                for i in range(args.runs)
            ]
            fix = [fixed(c[i], x[i], limit=FIXED_FACTOR * base) for i in range(args.runs)]
            row: dict = {"base": base, "factor": factor}
            for name, outs in (("seq", seq), ("fixed", fix)):
                times = [o.rollback_at if o.rollback_at is not None else args.seconds for o in outs]
                failed = [o.failed for o in outs]
                row[f"{name}_caught"] = sum(o.rollback_at is not None for o in outs) / args.runs
                row[f"{name}_t50"] = statistics.median(times)
                row[f"{name}_t95"] = pct(times, 0.95)
                row[f"{name}_f50"] = statistics.median(failed)
                row[f"{name}_f95"] = pct(failed, 0.95)
            rows.append(row)
            print(f"  A/B base {base:.0%} x{factor:g}: done", file=sys.stderr)
    return rows


def fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:g} s"


def ratio(a: float, b: float) -> str:
    if not b:
        return "-"
    r = a / b
    return f"{r:.2f}" if r < 10 else f"{r:.0f}"


def report(args: argparse.Namespace, aa: list[dict], ab: list[dict], elapsed: float) -> str:
    command = (
        f".venv/bin/python bench/judge.py --runs {args.runs} --seconds {args.seconds} "
        f"--rps {args.rps} --alpha {args.alpha:g} --max-ratio {args.max_ratio:g} "
        f"--seed {args.seed}"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        HEADING,
        "",
        f"Command: `{command}` ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {elapsed:.0f} s, "
        f"load average {load:.1f} at the end). Simulated traffic, {args.rps} requests/s, a look "
        f"every second; the method is in the script's docstring. Sequential: `baseline: "
        f"stable`, `maxRatio: {args.max_ratio:g}`, `test: sequential`, `alpha: {args.alpha:g}`. "
        f"Fixed: `error-rate max` = {FIXED_FACTOR:g} x the base rate, 1 s windows, "
        f"`failureLimit: 0`, `minRequests: {MIN_REQUESTS}` (today's rule).",
        "",
        f"**A/A** (both versions at the base rate, {args.runs} runs of {args.seconds} s each): "
        "false rollbacks, and for the sequential test the runs whose step could pass "
        f"(confidence sequence below {args.max_ratio:g}x) and the median time until it could.",
        "",
        "| base | weight | false rollbacks, sequential | false rollbacks, fixed | fixed: median time "
        "to the false rollback | sequential: could pass | sequential: median time to pass |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in aa:
        lines.append(
            f"| {r['base']:.0%} | {r['weight']:.0%} | {r['seq_false']:.1%} | "
            f"{r['fixed_false']:.1%} | {fmt_s(r['fixed_median_s'])} | {r['seq_passed']:.0%} | "
            f"{fmt_s(r['seq_pass_median_s'])} |"
        )
    lines += [
        "",
        f"**A/B** (the candidate at 2x and 10x the base rate from its first request, "
        f"{AB_WEIGHT:.0%} weight, {args.runs} runs, at most {args.seconds} s each): time from "
        "exposure to rollback and the candidate's failed requests until then, median / p95; "
        "ratio = sequential / fixed.",
        "",
        "| base | regression | caught, seq / fixed | time to rollback, sequential | fixed | "
        "ratio (median) | failed requests, sequential | fixed | ratio (median) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ab:
        lines.append(
            f"| {r['base']:.0%} | {r['factor']:g}x | {r['seq_caught']:.0%} / "
            f"{r['fixed_caught']:.0%} | {r['seq_t50']:g} / {r['seq_t95']:g} s | "
            f"{r['fixed_t50']:g} / {r['fixed_t95']:g} s | {ratio(r['seq_t50'], r['fixed_t50'])} | "
            f"{r['seq_f50']:g} / {r['seq_f95']:g} | {r['fixed_f50']:g} / {r['fixed_f95']:g} | "
            f"{ratio(r['seq_f50'], r['fixed_f50'])} |"
        )
    worst = max(r["seq_false"] for r in aa)
    fixed_best = min(r["fixed_false"] for r in aa)
    ten = [r for r in ab if r["factor"] == 10.0]
    lines += [
        "",
        f"Targets (issue 12): false rollbacks at most 1 % at alpha 0.01 where the fixed rule "
        f"exceeds 20 % (here: at most {worst:.1%} against at least {fixed_best:.0%}); a 10x "
        "regression caught in at most 2 s median (here: "
        + ", ".join(f"{r['seq_t50']:g} s at base {r['base']:.0%}" for r in ten)
        + ").",
    ]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    doc = DOC.read_text()
    if HEADING in doc:
        start = doc.index(HEADING)
        end = doc.find("\n## ", start + len(HEADING))
        doc = doc[:start] + text + (doc[end + 1 :] if end != -1 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    DOC.write_text(doc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs per row (default 1000)")
    parser.add_argument("--seconds", type=int, default=300, help="length of a run (default 300)")
    parser.add_argument("--rps", type=int, default=500, help="requests per second (default 500)")
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--max-ratio", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--write", action="store_true", help=f"replace the section in {DOC.name}")
    args = parser.parse_args()
    if args.runs < 1 or args.seconds < 1 or args.rps < 1:
        parser.error("--runs, --seconds and --rps must be at least 1")
    rng = np.random.default_rng(args.seed)
    started = time.monotonic()
    aa = run_aa(args, rng)
    ab = run_ab(args, rng)
    text = report(args, aa, ab, time.monotonic() - started)
    print(text)
    if args.write:
        write_section(text)
        print(f"wrote the section to {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
