"""``rollout analyze PLAN --env NAME --since 30m``: would this plan's analysis have passed?

Fetches the past window's metrics with range queries (one point per analysis interval, each
over the analysis window), replays the plan's analysis step by step (``console.analysis.whatif``, with
the same verdict logic as a live rollout) and prints the timeline, the first failing metric
and when the rollout would have been rolled back or paused. Exit codes: 0 would have passed,
1 would NOT have passed (failed, or inconclusive: too little data, so the rollout would have
paused for a human or held), 2 bad input, 4 a backend could not be reached.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from backends.base import BackendError, MetricSample, NotFound, Unsupported
from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from console.plan.model import BUILTIN_METRICS, AnalysisSpec, Plan

_errors: list[str] = []  # this run's error messages, for the --json error object


def _error(message: str) -> None:
    _errors.append(message)
    print(f"rollout analyze: {message}", file=sys.stderr, flush=True)


def analysis_to_replay(plan: Plan) -> tuple[AnalysisSpec | None, str]:
    """The analysis block to replay and what it is called: the plan's, or blue/green's
    preview analysis (else its post-promotion analysis)."""
    if plan.analysis is not None:
        return plan.analysis, "analysis"
    bg = plan.bluegreen
    if bg is not None and bg.preview_analysis is not None:
        return bg.preview_analysis, "previewAnalysis"
    if bg is not None and bg.post_promotion_analysis is not None:
        return bg.post_promotion_analysis, "postPromotionAnalysis"
    return None, ""


def fetch(
    metrics: Any,
    service: str,
    spec: AnalysisSpec,
    versions: Sequence[str],
    times: Sequence[float],
) -> tuple[dict[str, list[MetricSample]], dict[str, dict[str, list[tuple[float, Any]]]], str]:
    """Range queries for the built-in samples and each custom metric at ``times``.

    Returns (samples, custom, note); raises Unsupported, BackendError.
    """
    interval, window = spec.interval, spec.effective_window
    builtins = [m.name for m in spec.metrics if m.query is None and m.name in BUILTIN_METRICS]
    note = ""
    if hasattr(metrics, "require"):
        metrics.require(builtins)
    if {"window", "until"} <= set(inspect.signature(metrics.history).parameters):
        samples = metrics.history(
            service, list(versions), times[0], interval, window=window, until=times[-1]
        )
    else:
        # A backend without explicit windows (the in-process demo metrics): its samples
        # cover one step each, ending at since + step, since + 2 step, ...
        samples = metrics.history(service, list(versions), times[0] - interval, interval)
        if abs(window - interval) > 1e-9:
            note = f"(this metrics source measures {interval:g}s windows, not {window:g}s)"
    custom: dict[str, dict[str, list[tuple[float, Any]]]] = {}
    for m in spec.metrics:
        if m.query is None:
            continue
        if not hasattr(metrics, "query_range"):
            raise Unsupported(
                f"custom metric '{m.name}' needs Prometheus; this environment's metrics "
                "source cannot evaluate PromQL over a past window"
            )
        custom[m.name] = metrics.query_range(
            service, list(versions), m.query, window, times[0], times[-1], interval
        )
    return samples, custom, note


def run(args: argparse.Namespace) -> int:
    """Load the plan and environment, fetch the window, replay, print; exit 0/1/2/4.

    With ``--json`` an error is also one JSON object on stdout (``exit_code``, ``error``), so a
    script parsing stdout gets an answer whatever happens.
    """
    _errors.clear()
    code = _run(args)
    if getattr(args, "json", False) and _errors and code in (EXIT_BAD_INPUT, EXIT_BACKEND):
        error = "\n".join(_errors)
        print(json.dumps({"plan": str(args.plan), "exit_code": code, "error": error}))
    return code


def _run(args: argparse.Namespace) -> int:
    from backends.prometheus.client import QueryRejected
    from console.analysis.whatif import (
        WhatIfError,
        evaluation_times,
        observations,
        replay,
    )
    from console.config.environments import open_environment
    from console.config.settings import ConfigError, environment_name
    from console.plan.load import PlanError, load_plan, parse_duration
    from console.view.whatif import render_text

    try:
        plan = load_plan(args.plan)
    except PlanError as exc:
        _errors.append(str(exc))
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        _error(f"{args.plan}: cannot read: {exc.strerror or exc}")
        return EXIT_BAD_INPUT
    try:
        since = parse_duration(str(args.since))
    except (PlanError, ValueError) as exc:
        _error(f"--since {args.since!r}: {exc}")
        return EXIT_BAD_INPUT
    if since <= 0:
        _error(f"--since {args.since!r}: must be a positive duration, e.g. 30m")
        return EXIT_BAD_INPUT
    spec, block = analysis_to_replay(plan)
    if spec is None:
        _error(f"{plan.source or args.plan}: the plan has no analysis block to replay")
        return EXIT_BAD_INPUT
    try:
        env = open_environment(args.env)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_BAD_INPUT
    except BackendError as exc:
        _error(f"cannot reach environment '{environment_name(args.env)}': {exc}")
        return EXIT_BACKEND
    except ValueError as exc:  # a metrics entry the backend rejects (PrometheusConfigError)
        _error(f"environment '{environment_name(args.env)}': {exc}")
        return EXIT_BAD_INPUT
    if env.metrics is None:
        _error(f"environment '{env.name}' has no metrics source to analyse")
        return EXIT_BAD_INPUT
    if env.traffic is not None:
        # As `rollout auto` does: a typo in `service` is bad input, not an outage.
        try:
            known = env.traffic.services()
        except BackendError as exc:
            _error(f"{env.name}: cannot list services: {exc}")
            return EXIT_BACKEND
        if plan.service not in known:
            _error(
                f"{plan.source or args.plan}: service '{plan.service}' not found in environment "
                f"'{env.name}'; known: {', '.join(sorted(known)) or 'none'}"
            )
            return EXIT_BAD_INPUT

    end = time.time()
    try:
        times = evaluation_times(end - since, end, spec.interval, spec.effective_window)
    except WhatIfError as exc:
        _error(str(exc))
        return EXIT_BAD_INPUT
    versions = [plan.candidate] + ([plan.stable] if plan.stable else [])
    try:
        samples, custom, note = fetch(env.metrics, plan.service, spec, versions, times)
    except (Unsupported, QueryRejected, NotFound) as exc:
        _error(f"{plan.source or args.plan}: {exc}")
        return EXIT_BAD_INPUT
    except BackendError as exc:
        _error(f"metrics source of environment '{env.name}' unavailable: {exc}")
        return EXIT_BACKEND

    obs = observations(times, samples, custom, spec.interval)
    result = replay(spec, plan.candidate, plan.stable, obs, start=end - since, end=end)
    if args.json:
        doc = {
            "plan": plan.source or str(args.plan),
            "service": plan.service,
            "environment": env.name,
            "metrics_source": getattr(env.metrics, "name", type(env.metrics).__name__),
            "block": block,
            "exit_code": EXIT_OK if result.passed else EXIT_FAILED,
            **result.to_dict(),
        }
        print(json.dumps(doc))
    else:
        source = getattr(env.metrics, "name", env.name)
        header = (
            f"rollout analyze {plan.source or args.plan}: {block} of {plan.service} "
            f"against {env.name} ({source}), last {args.since}"
        )
        print(render_text(result, header + (f"\n{note}" if note else "")))
    return EXIT_OK if result.passed else EXIT_FAILED
