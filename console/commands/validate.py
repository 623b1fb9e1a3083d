"""``rollout validate PLAN [PLAN...] [--env NAME]``: check plan files; summarize the good,
list every error.

Exit 0 when every file is a valid plan (its summary on stdout, warnings on stderr); exit 2
when any is not, with each problem on stderr as ``FILE:LINE: FIELD: message``. With
``--env`` each valid plan is also checked against that environment (service, candidate,
routing it needs: the checks ``auto`` makes before starting); exit 4 if it cannot be reached.
"""

from __future__ import annotations

import argparse
import sys

from backends.base import BackendError, Environment, Strategy
from backends.units import format_duration, parse_duration
from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT, EXIT_OK
from console.config import kubeflags
from console.config.settings import ConfigError, environment_name
from console.plan.load import PlanError, check_file, summarize
from console.plan.model import Plan


def run(args: argparse.Namespace) -> int:
    """Validate each file in ``args.plan``; 0 if all are valid, else 2."""
    status = EXIT_OK
    env = None
    if getattr(args, "env", None) or kubeflags.current().given():
        from console.config.environments import open_environment

        try:
            env = open_environment(getattr(args, "env", None))
        except ConfigError as exc:
            print(f"rollout validate: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except BackendError as exc:
            where = environment_name(getattr(args, "env", None))
            print(f"rollout validate: cannot reach environment '{where}': {exc}", file=sys.stderr)
            return EXIT_BACKEND
    for i, path in enumerate(args.plan):
        try:
            plan, warnings = check_file(path)
        except PlanError as exc:
            for error in exc.errors:
                print(error, file=sys.stderr)
            n = len(exc.errors)
            print(f"{path}: invalid plan ({n} error{'s' * (n != 1)})", file=sys.stderr)
            status = EXIT_BAD_INPUT
            continue
        if i:
            print()
        print(summarize(plan))
        for w in warnings:
            where = f"{w.file}:{w.line}" if w.line else w.file
            print(f"{where}: {w.field}: warning: {w.message}", file=sys.stderr)
        rps, error_rate = getattr(args, "rps", None), getattr(args, "error_rate", 0.01)
        since = getattr(args, "since", None)
        if since is not None:
            if env is None:
                print(
                    "rollout validate: --since needs --env (where to read traffic)", file=sys.stderr
                )
                return EXIT_BAD_INPUT
            measured = _traffic(env, plan, since)
            if isinstance(measured, str):
                print(f"rollout validate: {measured}", file=sys.stderr)
                status = max(status, EXIT_BACKEND)
                continue
            rps, error_rate = measured
        if rps is not None:
            status = max(status, _advise(plan, rps, error_rate, path))
        if env is not None:
            from console.driver.preflight import preflight

            refusal = preflight(env, plan)
            if refusal is not None:
                print(f"{refusal.message} (environment '{env.name}')", file=sys.stderr)
                status = max(status, refusal.code)
    return status


def _advise(plan: Plan, rps: float, error_rate: float, path: str) -> int:
    """Print the per-step advice (console/analysis/advice.py); warnings go to stderr."""
    from console.analysis.advice import advise, render

    if plan.strategy is not Strategy.CANARY or not plan.steps:
        print(f"{path}: --rps: advice is for canary steps; this plan has none", file=sys.stderr)
        return EXIT_OK
    try:
        advice = advise(plan, rps, error_rate)
    except ValueError as exc:
        print(f"rollout validate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for line in render(advice):
        if line.startswith("warning:"):
            print(f"{path}: {line}", file=sys.stderr)
        else:
            print(line)
    return EXIT_OK


def _traffic(env: Environment, plan: Plan, since: str) -> tuple[float, float] | str:
    """The service's requests a second and error rate over ``since`` (all versions that
    served in that time), or why they cannot be read."""
    try:
        window = parse_duration(since)
    except ValueError as exc:
        return f"--since {since!r}: {exc}"
    if env.metrics is None:
        return f"environment '{env.name}' has no metrics source"
    versions = [v for v in (plan.stable, plan.candidate) if v]
    try:
        if env.traffic is not None:
            split = env.traffic.get_split(plan.service)
            versions += [v for v, w in split.weights.items() if w > 0 and v not in versions]
        samples = env.metrics.sample(plan.service, versions, window)
    except Exception as exc:  # any backend failure: say it, do not advise on nothing
        return f"cannot read {plan.service}'s traffic from '{env.name}': {exc}"
    requests = failures = 0.0
    spans = []
    for s in samples.values():
        if s.requests:
            requests += s.requests
            failures += s.failures if s.failures is not None else (s.error_ratio or 0) * s.requests
            spans.append(s.window)
    if requests <= 0 or not spans:
        return f"no requests to {plan.service} in the last {format_duration(window)}"
    rate = failures / requests
    span = max(spans)  # the window the source answered for (the demo keeps 15 minutes)
    print(
        f"traffic of {plan.service} over the last {format_duration(span)}: "
        f"{requests / span:.3g} requests/s, {rate * 100:.3g}% errors"
    )
    return requests / span, min(max(rate, 1e-4), 0.5)
