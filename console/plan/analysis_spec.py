"""Analysis blocks of a plan file (``analysis``, ``previewAnalysis``, ...) -> ``AnalysisSpec``.

Part of plan validation (``console/plan.py``); the thresholds' units depend on the metric:
latencies are durations, error-rate is a ratio (or a percent string), the rest plain numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from yaml.nodes import Node, ScalarNode, SequenceNode

from console.plan import rules
from console.plan.model import (
    BASELINE_STABLE,
    BUILTIN_METRICS,
    LATENCY_METRICS,
    RATIO_METRICS,
    SEQUENTIAL,
    SEQUENTIAL_METRICS,
    SLOW_REQUESTS,
    AnalysisSpec,
    MetricSpec,
    OnFailure,
)
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
COMPARISON_KEYS = ("baseline", "maxIncrease", "maxRatio", "test", "alpha", "slowerThan")
METRIC_KEYS = ("name", "min", "max", "query", *COMPARISON_KEYS)
# Names that take no query: the built-ins, and slow requests counted from their buckets.
KNOWN_METRICS = (*BUILTIN_METRICS, SLOW_REQUESTS)
MAX_RATIO_LIMIT = 1000.0
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
            hint = rules.did_you_mean(str(name), KNOWN_METRICS)
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
        if name in KNOWN_METRICS and query is not None:
            ctx.error(
                keys["query"][0],
                f"{path}.query",
                f"{name} is a built-in metric and "
                "takes no query; give a custom metric another name",
            )
            bad = True
        elif name not in KNOWN_METRICS and query is None:
            hint = rules.did_you_mean(name, KNOWN_METRICS)
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
    known = name if isinstance(name, str) and query is None and name in KNOWN_METRICS else None
    compared = _comparison(ctx, node, keys, path, known, custom=query is not None)
    bad = bad or compared is BAD
    if compared is not BAD and compared.get("test") and bounds:
        key = "min" if "min" in keys else "max"
        ctx.error(
            keys[key][0],
            f"{path}.{key}",
            "a sequential metric is judged against the stable only; drop min and max "
            "(the test catches a large regression within seconds)",
        )
        bad = True
    if not bounds and not any(k in keys for k in ("baseline", "maxIncrease", "maxRatio", "test")):
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
        **compared,
    )


def _comparison(
    ctx: PlanReader,
    node: Node,
    keys: dict[str, tuple[Node, Node]],
    path: str,
    known: str | None,
    *,
    custom: bool,
) -> Any:
    """``baseline``, ``maxIncrease``, ``maxRatio``, ``test``, ``alpha``, ``slowerThan`` ->
    MetricSpec fields, or BAD. ``known``: the built-in metric's name (None: custom or bad)."""
    out: dict[str, Any] = {}
    bad = False

    def value(key: str) -> Node:
        return keys[key][1]

    def where(key: str) -> str:
        return f"{path}.{key}"

    if "baseline" in keys:
        v = scalar(ctx, value("baseline"), where("baseline"), "stable")
        if v is not BAD and v != BASELINE_STABLE:
            v = ctx.error(
                value("baseline"),
                where("baseline"),
                f"{v!r} is not allowed: stable (the version the candidate replaces)",
            )
        elif v is not BAD and custom:
            v = ctx.error(
                keys["baseline"][0],
                where("baseline"),
                "baseline applies to the built-in metrics; a custom query is judged by min and max",
            )
        elif v is not BAD and known == "request-rate":
            v = ctx.error(
                keys["baseline"][0],
                where("baseline"),
                "request-rate follows the weights (the candidate gets less traffic by design), "
                "so it is not compared with the stable",
            )
        out["baseline"] = v
    if "maxIncrease" in keys:
        v = _threshold(ctx, value("maxIncrease"), where("maxIncrease"), known)
        if v is not BAD and v <= 0:
            v = ctx.error(
                value("maxIncrease"),
                where("maxIncrease"),
                f"must be above 0, got {value('maxIncrease').value}: "
                "how much worse than the stable the candidate may be",
            )
        out["max_increase"] = v
    if "maxRatio" in keys:
        out["max_ratio"] = _max_ratio(ctx, value("maxRatio"), where("maxRatio"))
    if "test" in keys:
        v = scalar(ctx, value("test"), where("test"), "sequential")
        if v is not BAD and v != SEQUENTIAL:
            v = ctx.error(
                value("test"),
                where("test"),
                f"{v!r} is not allowed: sequential (or leave test out: each window on its own)",
            )
        elif v is not BAD and known not in SEQUENTIAL_METRICS and not custom and known:
            v = ctx.error(
                keys["test"][0],
                where("test"),
                "the sequential test counts requests: it applies to "
                + " and ".join(SEQUENTIAL_METRICS)
                + " (for latency, count slow-requests with slowerThan)",
            )
        elif v is not BAD and custom:
            v = ctx.error(
                keys["test"][0],
                where("test"),
                "the sequential test applies to " + " and ".join(SEQUENTIAL_METRICS),
            )
        out["test"] = v
    if "alpha" in keys:
        out["alpha"] = _alpha(ctx, value("alpha"), where("alpha"))
    if "slowerThan" in keys:
        v = duration_field(ctx, value("slowerThan"), where("slowerThan"), positive=True)
        if v is not BAD and known != SLOW_REQUESTS and known is not None:
            v = ctx.error(
                keys["slowerThan"][0],
                where("slowerThan"),
                f"slowerThan applies only to {SLOW_REQUESTS} (the latency above which a "
                "request counts as slow)",
            )
        out["slower_than"] = v
    if any(v is BAD for v in out.values()):
        return BAD

    # How the keys go together (each problem once, at the key that needs a partner).
    if known == SLOW_REQUESTS and "slowerThan" not in keys:
        ctx.error(
            node,
            where("slowerThan"),
            f"required for {SLOW_REQUESTS}: the latency above which a request is slow, like 500ms",
        )
        bad = True
    for key, partners, message in _NEEDS[:2]:
        bad = _needs(ctx, keys, where, key, partners, message) or bad
    if "maxIncrease" in keys and "maxRatio" in keys:
        first, second = sorted(("maxIncrease", "maxRatio"), key=lambda k: line_of(keys[k][0]))
        ctx.error(
            keys[second][0],
            where(second),
            f"give maxIncrease or maxRatio, not both ({first} is on line "
            f"{line_of(keys[first][0])})",
        )
        bad = True
    for key, partners, message in _NEEDS[2:]:
        bad = _needs(ctx, keys, where, key, partners, message) or bad
    return BAD if bad else out


def _max_ratio(ctx: PlanReader, node: Node, path: str) -> Any:
    v = scalar(ctx, node, path, "a number above 1")
    if v is BAD:
        return v
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return ctx.error(node, path, f"expected a number above 1 (like 1.5), got {rules.got(v)}")
    if v <= 1:
        return ctx.error(
            node,
            path,
            f"{v} would fail a candidate exactly as good as the stable; use a number above 1 "
            "(1.5: up to one and a half times the stable's value)",
        )
    if v > MAX_RATIO_LIMIT:
        return ctx.error(node, path, f"{v} is out of range: at most {MAX_RATIO_LIMIT:g}")
    return float(v)


def _alpha(ctx: PlanReader, node: Node, path: str) -> Any:
    v = scalar(ctx, node, path, "a number above 0 and at most 0.5")
    if v is BAD:
        return v
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 0.5:
        return ctx.error(
            node,
            path,
            f"expected a number above 0 and at most 0.5 (0.01: at most 1 in 100 good "
            f"candidates rolled back), got {rules.got(v)}",
        )
    return float(v)


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
    if builtin in RATIO_METRICS:
        written = v  # quoted in the message as the user wrote it ("150%", not 1.5)
        if isinstance(v, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", v)):
            v = float(m.group(1)) / 100
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
            what, means = (
                ("an error ratio", "fail") if builtin == "error-rate" else ("a ratio", "are slow")
            )
            return ctx.error(
                node,
                path,
                f"{written!r} is not {what}: a number from 0 to 1 "
                f'(0.05 or "5%" means 5% of requests {means})',
            )
        return float(v)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return ctx.error(node, path, f"expected a number, got {rules.got(v)}")
    if not math.isfinite(v):
        return ctx.error(node, path, f"expected a number, got {v} (not finite)")
    if builtin == "request-rate" and v < 0:
        return ctx.error(node, path, f"{v} is negative: request-rate is requests per second")
    return float(v)


# A comparison key and the keys it needs beside it (any one of them), with the error given at
# the key when none is there.
_NEEDS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "maxIncrease",
        ("baseline",),
        "maxIncrease compares the candidate with the stable version: add baseline: stable",
    ),
    (
        "maxRatio",
        ("baseline",),
        "maxRatio compares the candidate with the stable version: add baseline: stable",
    ),
    (
        "baseline",
        ("maxIncrease", "maxRatio"),
        "baseline: stable needs maxIncrease or maxRatio: how much worse than the stable "
        "the candidate may be (like maxIncrease: 0.01 or maxRatio: 1.5)",
    ),
    (
        "test",
        ("baseline",),
        "the sequential test compares the candidate with the stable: add baseline: stable "
        "and maxIncrease or maxRatio",
    ),
    (
        "alpha",
        ("test",),
        "alpha is the sequential test's false-failure rate: it needs test: sequential",
    ),
)


def _needs(
    ctx: PlanReader,
    keys: Mapping[str, Any],
    where: Callable[[str], str],
    key: str,
    partners: tuple[str, ...],
    message: str,
) -> bool:
    """Report ``key`` given without any of ``partners``; True when it was."""
    if key not in keys or any(p in keys for p in partners):
        return False
    ctx.error(keys[key][0], where(key), message)
    return True
