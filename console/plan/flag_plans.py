"""The parts of plan files only ``strategy: flag`` and ``strategy: experiment`` have.

``load.py`` walks the common keys (service, steps, analysis, notify) and calls these for
the rest: the flag and the variant it rolls out, and an experiment's arms, duration and
primary metric. Every problem is an error with file, line and field, like the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from yaml.nodes import Node, ScalarNode, SequenceNode

from console.plan import rules
from console.plan.model import (
    COUNTER_METRIC,
    EXPERIMENT_METRICS,
    SEQUENTIAL,
    SLOW_REQUESTS,
    Arm,
    ExperimentSpec,
    Goal,
    PrimaryMetric,
)
from console.plan.yaml_nodes import (
    BAD,
    PlanReader,
    duration_field,
    int_field,
    mapping_keys,
    name_field,
    scalar,
    seq_items,
)

# flagd flag keys and variant names: free strings there; here a readable, bounded subset.
FLAG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
PROMETHEUS_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,199}")
MAX_ARMS = 10
EXPERIMENT_KEYS = ("arms", "duration", "metric", "minRequests", "confidence", "interval")
METRIC_KEYS = ("name", "counter", "goal", "slowerThan", "test", "alpha")
SEQUENTIAL_OK = ("error-rate", SLOW_REQUESTS, COUNTER_METRIC)


def flag_name(ctx: PlanReader, node: Node, path: str, what: str) -> Any:
    """A flag key or variant name. A plain ``on``/``off``/``yes``/``no`` is the name as
    written (YAML would read it as true/false; flagd variants are often called that)."""
    plain = isinstance(node, ScalarNode) and node.style is None
    if plain and node.tag.endswith(":bool"):
        return node.value
    v = scalar(ctx, node, path, what)
    if v is BAD:
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        v = str(v) if plain else v
    if not isinstance(v, str):
        return ctx.error(node, path, f"expected {what}, got {rules.got(v)}")
    if not FLAG_NAME.fullmatch(v):
        return ctx.error(
            node,
            path,
            f"{v!r} is not allowed: letters, digits, '_', '.' and '-', starting with a "
            "letter or digit, at most 63 characters (like new-gradebook or on)",
        )
    return v


def experiment(
    ctx: PlanReader, root: Node, get: Callable[[str], Node | None], flag: str | None
) -> ExperimentSpec | None:
    """The experiment's spec from the plan's top-level keys; None after an error."""
    arms_node = get("arms")
    arms: Any = BAD
    if arms_node is None:
        if "arms" not in ctx.suggested:
            ctx.error(
                root,
                "arms",
                "required for an experiment: two or more arms, the first the control, like "
                "[{name: off, weight: 50}, {name: on, weight: 50}]",
            )
    else:
        arms = _arms(ctx, arms_node, flag)
    duration: Any = BAD
    if (node := get("duration")) is None:
        if "duration" not in ctx.suggested:
            ctx.error(root, "duration", "required for an experiment: how long it runs, like 30m")
    else:
        duration = duration_field(ctx, node, "duration", positive=True)
    metric: Any = BAD
    if (node := get("metric")) is None:
        if "metric" not in ctx.suggested:
            ctx.error(
                root,
                "metric",
                "required for an experiment: the primary metric, like {name: error-rate} or "
                "{counter: lms_enrollments_completed_total}",
            )
    else:
        metric = _metric(ctx, node)
    vals: dict[str, Any] = {}
    if (node := get("minRequests")) is not None:
        vals["min_requests"] = int_field(ctx, node, "minRequests", 1, 10**9)
    if (node := get("interval")) is not None:
        vals["interval"] = duration_field(ctx, node, "interval", lo=0.1)
    if (node := get("confidence")) is not None:
        vals["confidence"] = _fraction(ctx, node, "confidence", 0.5, 0.999)
    if BAD in (arms, duration, metric) or any(v is BAD for v in vals.values()):
        return None
    return ExperimentSpec(arms=arms, duration=duration, metric=metric, **vals)


def _fraction(ctx: PlanReader, node: Node, path: str, lo: float, hi: float) -> Any:
    v = scalar(ctx, node, path, f"a number from {lo} to {hi}")
    if v is BAD:
        return v
    if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
        return ctx.error(node, path, f"expected a number from {lo} to {hi}, got {rules.got(v)}")
    return float(v)


def _arms(ctx: PlanReader, node: Node, flag: str | None) -> Any:
    items = seq_items(ctx, node, "arms", "arms", MAX_ARMS)
    if not isinstance(node, SequenceNode) or len(node.value) > MAX_ARMS:
        return BAD  # seq_items said why
    out: list[Arm] = []
    seen: dict[str, int] = {}
    bad = False
    what = "a variant of the flag" if flag else "a version"
    for i, item in enumerate(items):
        path = f"arms[{i}]"
        keys = mapping_keys(ctx, item, path, ("name", "weight"), what="an arm: {name, weight}")
        if keys is None:
            bad = True
            continue
        name: Any = BAD
        weight: Any = BAD
        if "name" not in keys:
            ctx.error(item, f"{path}.name", f"required: {what}")
        else:
            n = keys["name"][1]
            if flag:
                name = flag_name(ctx, n, f"{path}.name", "a variant name")
            else:
                name = name_field(ctx, n, f"{path}.name")
            if name is not BAD and name in seen:
                name = ctx.error(
                    n, f"{path}.name", f"{name!r} is already an arm (arm {seen[name]})"
                )
        if "weight" not in keys:
            ctx.error(item, f"{path}.weight", "required: the arm's percent of users, 1 to 99")
        else:
            weight = int_field(ctx, keys["weight"][1], f"{path}.weight", 1, 99, " percent")
        if BAD in (name, weight):
            bad = True
            continue
        seen[name] = i
        out.append(Arm(name, weight))
    if not bad and len(out) < 2:
        return ctx.error(node, "arms", f"an experiment needs two or more arms, got {len(out)}")
    total = sum(a.weight for a in out)
    if not bad and total != 100:
        shown = " + ".join(str(a.weight) for a in out)
        return ctx.error(
            node, "arms", f"the arms' weights must add up to 100, got {shown} = {total}"
        )
    return BAD if bad else tuple(out)


def _metric(ctx: PlanReader, node: Node) -> Any:
    path = "metric"
    keys = mapping_keys(
        ctx, node, path, METRIC_KEYS, what="a primary metric: {name: error-rate} or {counter: ...}"
    )
    if keys is None:
        return BAD
    bad = False
    name: Any = None
    counter: Any = None
    if "counter" in keys:
        cnode = keys["counter"][1]
        counter = scalar(ctx, cnode, f"{path}.counter", "a Prometheus counter name")
        if counter is not BAD and (
            not isinstance(counter, str) or not PROMETHEUS_NAME.fullmatch(counter)
        ):
            counter = ctx.error(
                cnode,
                f"{path}.counter",
                f"{counter!r} is not a Prometheus metric name (like "
                "lms_enrollments_completed_total)",
            )
        bad |= counter is BAD
    if "name" in keys:
        nnode = keys["name"][1]
        name = scalar(ctx, nnode, f"{path}.name", "a metric name")
        if name is not BAD and name not in EXPERIMENT_METRICS:
            hint = rules.did_you_mean(str(name), EXPERIMENT_METRICS)
            name = ctx.error(
                nnode,
                f"{path}.name",
                f"{name!r} is not a primary metric: {', '.join(EXPERIMENT_METRICS)}"
                + (f" (did you mean {hint}?)" if hint else ""),
            )
        elif name == COUNTER_METRIC and counter is None:
            name = ctx.error(nnode, f"{path}.counter", "required with name: counter")
        elif counter is not None and name not in (COUNTER_METRIC, BAD):
            ctx.error(nnode, f"{path}.name", f"give name: {name} or counter: ..., not both")
            bad = True
        bad |= name is BAD
    elif counter is None:
        ctx.error(node, f"{path}.name", "required: error-rate, latency-p95, ... or counter: NAME")
        bad = True
    if counter not in (None, BAD):
        name = COUNTER_METRIC
    goal: Any = Goal.HIGHER if name == COUNTER_METRIC else Goal.LOWER
    if "goal" in keys:
        g = scalar(ctx, keys["goal"][1], f"{path}.goal", "lower or higher")
        try:
            goal = Goal(g)
        except ValueError:
            goal = ctx.error(
                keys["goal"][1], f"{path}.goal", f"{g!r} is not allowed: lower or higher"
            )
    slower_than: Any = None
    if "slowerThan" in keys:
        snode = keys["slowerThan"][1]
        if name != SLOW_REQUESTS:
            slower_than = ctx.error(snode, f"{path}.slowerThan", "applies only to slow-requests")
        else:
            slower_than = duration_field(ctx, snode, f"{path}.slowerThan", positive=True)
    elif name == SLOW_REQUESTS:
        slower_than = ctx.error(
            node, f"{path}.slowerThan", "required with slow-requests: the latency bound, like 300ms"
        )
    test: Any = None
    if "test" in keys:
        tnode = keys["test"][1]
        test = scalar(ctx, tnode, f"{path}.test", "sequential")
        if test is not BAD and test != SEQUENTIAL:
            test = ctx.error(tnode, f"{path}.test", f"{test!r} is not allowed: sequential")
        elif test is not BAD and name not in (*SEQUENTIAL_OK, BAD):
            test = ctx.error(
                tnode,
                f"{path}.test",
                f"the sequential test counts requests: {', '.join(SEQUENTIAL_OK)}; "
                f"{name} is judged at the end of the duration",
            )
    alpha: Any = 0.05
    if "alpha" in keys:
        alpha = _fraction(ctx, keys["alpha"][1], f"{path}.alpha", 0.0001, 0.5)
    if bad or BAD in (goal, slower_than, test, alpha):
        return BAD
    return PrimaryMetric(
        name=name,
        goal=goal,
        counter=counter,
        slower_than=slower_than,
        test=test,
        alpha=alpha,
    )
