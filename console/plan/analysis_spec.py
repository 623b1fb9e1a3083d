"""Analysis blocks of a plan file (``analysis``, ``previewAnalysis``, ...) -> ``AnalysisSpec``.

Part of plan validation (``console/plan.py``); the thresholds' units depend on the metric:
latencies are durations, error-rate is a ratio (or a percent string), the rest plain numbers.
"""

from __future__ import annotations

import math
import re
from typing import Any

from yaml.nodes import Node, ScalarNode, SequenceNode

from console.plan import rules
from console.plan.model import BUILTIN_METRICS, LATENCY_METRICS, AnalysisSpec, MetricSpec, OnFailure
from console.plan.rules import parse_duration
from console.plan.yaml_nodes import (
    BAD,
    PlanReader,
    construct_quiet,
    duration_field,
    int_field,
    join_path,
    line_of,
    mapping_keys,
    scalar,
    seq_items,
)

ANALYSIS_KEYS = (
    "interval",
    "window",
    "minRequests",
    "failureLimit",
    "inconclusiveLimit",
    "consecutiveErrorLimit",
    "onFailure",
    "metrics",
)
METRIC_KEYS = ("name", "min", "max", "query")
PLACEHOLDERS = ("service", "version", "namespace", "window")


def analysis_block(
    ctx: PlanReader, node: Node, path: str, *, allow_off: bool = True
) -> AnalysisSpec | None:
    if allow_off and isinstance(node, ScalarNode):
        v = construct_quiet(node)
        if v is False:
            return None
    keys = mapping_keys(
        ctx,
        node,
        path,
        ANALYSIS_KEYS,
        what="an analysis block (interval, metrics, ...)" + (" or false" if allow_off else ""),
    )
    if keys is None:
        return None
    base = AnalysisSpec()
    vals: dict[str, Any] = {}
    for key, attr, parse in (
        ("interval", "interval", lambda n, p: duration_field(ctx, n, p, lo=0.1)),
        ("window", "window", lambda n, p: duration_field(ctx, n, p, lo=0.1)),
        ("minRequests", "min_requests", lambda n, p: int_field(ctx, n, p, 0, 10**9)),
        ("failureLimit", "failure_limit", lambda n, p: int_field(ctx, n, p, 0, 1000)),
        ("inconclusiveLimit", "inconclusive_limit", lambda n, p: int_field(ctx, n, p, 1, 1000)),
        (
            "consecutiveErrorLimit",
            "consecutive_error_limit",
            lambda n, p: int_field(ctx, n, p, 1, 1000),
        ),
        ("onFailure", "on_failure", lambda n, p: _on_failure(ctx, n, p)),
        ("metrics", "metrics", lambda n, p: _metrics(ctx, n, p)),
    ):
        if key in keys:
            vals[attr] = parse(keys[key][1], join_path(path, key))
    if any(v is BAD for v in vals.values()):
        return base
    try:
        return AnalysisSpec(**{**base.__dict__, **vals})
    except TypeError:  # pragma: no cover -- the keys above are the dataclass's fields
        return base


def _on_failure(ctx: PlanReader, node: Node, path: str) -> Any:
    v = scalar(ctx, node, path, "rollback or pause")
    try:
        return OnFailure(v)
    except ValueError:
        return ctx.error(node, path, f"{v!r} is not allowed: rollback or pause")


def _metrics(ctx: PlanReader, node: Node, path: str) -> Any:
    items = seq_items(ctx, node, path, "metrics")
    if isinstance(node, SequenceNode) and not node.value:
        return ctx.error(
            node, path, "at least one metric (to turn analysis off, write `analysis: false`)"
        )
    out: list[MetricSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        m = _metric(ctx, item, f"{path}[{i}]")
        if m is None:
            continue
        if m.name in seen:
            ctx.error(
                item,
                f"{path}[{i}].name",
                f"metric {m.name!r} is already listed (line {seen[m.name]}); merge them",
            )
        seen[m.name] = line_of(item)
        out.append(m)
    return tuple(out) if len(out) == len(items) and items else BAD


def _metric(ctx: PlanReader, node: Node, path: str) -> MetricSpec | None:
    keys = mapping_keys(ctx, node, path, METRIC_KEYS, what="a metric: {name: ..., max: ...}")
    if keys is None:
        return None
    bad = False
    name: Any = None
    query: Any = None
    if "name" not in keys and f"{path}.name" in ctx.suggested:
        bad = True
    elif "name" not in keys:
        ctx.error(
            node,
            f"{path}.name",
            "required: a built-in ("
            + ", ".join(BUILTIN_METRICS)
            + ") or a custom name with a query",
        )
        bad = True
    else:
        name = scalar(ctx, keys["name"][1], f"{path}.name", "a metric name")
        if name is not BAD and (not isinstance(name, str) or not rules.METRIC_NAME.fullmatch(name)):
            hint = rules.did_you_mean(str(name), BUILTIN_METRICS)
            name = ctx.error(
                keys["name"][1],
                f"{path}.name",
                f"{name!r} is not a metric name: "
                "letters, digits, '-', '_' and '.'" + (f" (did you mean {hint}?)" if hint else ""),
            )
        bad = bad or name is BAD
    if "query" in keys:
        query = scalar(ctx, keys["query"][1], f"{path}.query", "a PromQL query string")
        if query is not BAD and (not isinstance(query, str) or not query.strip()):
            query = ctx.error(keys["query"][1], f"{path}.query", "expected a PromQL query string")
        elif query is not BAD:
            for ph in re.findall(r"\{\{\s*([^}]*?)\s*\}\}", query):
                if ph not in PLACEHOLDERS:
                    query = ctx.error(
                        keys["query"][1],
                        f"{path}.query",
                        f"unknown placeholder {{{{{ph}}}}}; allowed: "
                        + ", ".join(f"{{{{{p}}}}}" for p in PLACEHOLDERS),
                    )
                    break
        bad = bad or query is BAD
    if isinstance(name, str) and name is not BAD:
        if name in BUILTIN_METRICS and query is not None:
            ctx.error(
                keys["query"][0],
                f"{path}.query",
                f"{name} is a built-in metric and "
                "takes no query; give a custom metric another name",
            )
            bad = True
        elif name not in BUILTIN_METRICS and query is None:
            hint = rules.did_you_mean(name, BUILTIN_METRICS)
            ctx.error(
                keys["name"][1],
                f"{path}.name",
                f"{name!r} is not a built-in metric ("
                + ", ".join(BUILTIN_METRICS)
                + "); a custom metric needs a query"
                + (f" (did you mean {hint}?)" if hint else ""),
            )
            bad = True
    bounds: dict[str, Any] = {}
    for key in ("min", "max"):
        if key in keys:
            bounds[key] = _threshold(
                ctx,
                keys[key][1],
                f"{path}.{key}",
                name if isinstance(name, str) and query is None else None,
            )
            bad = bad or bounds[key] is BAD
    if not bounds:
        ctx.error(node, path, "needs a threshold: min, max or both")
        bad = True
    elif not bad and None not in (bounds.get("min"), bounds.get("max")):  # noqa: SIM102
        if bounds["min"] > bounds["max"]:
            lo, hi = keys["min"][1].value, keys["max"][1].value
            ctx.error(
                keys["min"][1], f"{path}.min", f"min {lo} is above max {hi}: no value could pass"
            )
            bad = True
    if bad:
        return None
    return MetricSpec(
        name=name,
        min=bounds.get("min"),
        max=bounds.get("max"),
        query=query if isinstance(query, str) else None,
    )


def _threshold(ctx: PlanReader, node: Node, path: str, builtin: str | None) -> Any:
    v = scalar(ctx, node, path, "a number")
    if v is BAD:
        return v
    if builtin in LATENCY_METRICS:
        try:
            d = parse_duration(v)
        except ValueError:
            return ctx.error(
                node,
                path,
                f"{v!r} is not a latency: a duration like 400ms or 1.5s (a bare number is seconds)",
            )
        if isinstance(v, int | float) and d > 10:
            ctx.warn(node, path, f"{v} seconds of latency; did you mean {v}ms?")
        return d
    if builtin == "error-rate":
        written = v  # quoted in the message as the user wrote it ("150%", not 1.5)
        if isinstance(v, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", v)):
            v = float(m.group(1)) / 100
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
            return ctx.error(
                node,
                path,
                f"{written!r} is not an error ratio: a number from 0 to 1 "
                '(0.05 or "5%" means 5% of requests fail)',
            )
        return float(v)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return ctx.error(node, path, f"expected a number, got {rules.got(v)}")
    if not math.isfinite(v):
        return ctx.error(node, path, f"expected a number, got {v} (not finite)")
    if builtin == "request-rate" and v < 0:
        return ctx.error(node, path, f"{v} is negative: request-rate is requests per second")
    return float(v)
