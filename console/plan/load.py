"""Plan files: YAML text -> a validated ``Plan`` (console/plan_model.py), or every error at once.

The YAML is composed into nodes (``yaml.compose``) rather than loaded, so every message can
name the file, the 1-based line, the field path (``analysis.metrics[1].max``) and what is
allowed. Nothing here raises anything but ``PlanError`` for bad input: syntax errors, binary
junk, non-UTF-8 bytes, huge or deeply nested documents all become a ``PlanError``.
The format itself is documented in docs/plan-reference.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from backends.base import MatchRule, Strategy
from backends.units import format_duration
from console.plan import flag_plans, rules
from console.plan.analysis_spec import analysis_block
from console.plan.model import (
    DEFAULT_PROGRESS_DEADLINE,
    AnalysisSpec,
    BlueGreenSpec,
    PauseStep,
    Plan,
    RollingSpec,
    SetWeightStep,
    Step,
)
from console.plan.rules import FieldError, PlanError, parse_duration
from console.plan.summary import summarize
from console.plan.yaml_nodes import (
    BAD,
    PlanReader,
    construct_quiet,
    duration_field,
    int_field,
    line_of,
    mapping_keys,
    name_field,
    node_kind,
    scalar,
    seq_items,
)

__all__ = [
    "FieldError",
    "PlanError",
    "check_file",
    "check_plan",
    "format_duration",
    "load_plan",
    "parse_duration",
    "parse_plan",
    "plan_from_node",
    "summarize",
]

MAX_BYTES = 1_000_000  # a plan is a page of YAML; anything bigger is a mistake, not a plan
MAX_STEPS = 200

_COMMON = ("service", "strategy", "stable", "candidate", "notify", "progressDeadline")
_CANARY_ONLY = ("steps",)
_BG_ONLY = (
    "previewAnalysis",
    "autoPromote",
    "postPromotionAnalysis",
    "scaleDownDelay",
    "previewDuration",
)
_ROLLING_ONLY = ("instances", "maxSurge", "maxUnavailable", "minReady", "pauseBetweenBatches")
_FLAG_COMMON = ("service", "strategy", "flag", "notify")
_KEYS_BY_STRATEGY: dict[Strategy, tuple[str, ...]] = {
    Strategy.CANARY: (*_COMMON, "analysis", "match", "mirror", *_CANARY_ONLY),
    Strategy.BLUEGREEN: (*_COMMON, "match", "mirror", *_BG_ONLY),
    Strategy.ROLLING: (*_COMMON, "analysis", *_ROLLING_ONLY),
    Strategy.FLAG: (*_FLAG_COMMON, "variant", "steps", "analysis", "progressDeadline"),
    Strategy.EXPERIMENT: (*_FLAG_COMMON, *flag_plans.EXPERIMENT_KEYS),
}
_ALL_KEYS = tuple(dict.fromkeys(k for keys in _KEYS_BY_STRATEGY.values() for k in keys))
_WHY_NOT: dict[tuple[str, Strategy], str] = {
    ("analysis", Strategy.BLUEGREEN): "blue/green plans use previewAnalysis and "
    "postPromotionAnalysis instead of analysis",
    ("match", Strategy.ROLLING): "a rolling update replaces instances in place, so there is no "
    "separate candidate to route headers to; use canary or bluegreen",
    ("mirror", Strategy.ROLLING): "a rolling update replaces instances in place, so there is no "
    "separate candidate to mirror to; use canary or bluegreen",
    ("candidate", Strategy.FLAG): "a flag rollout names the variant to roll out: variant: on",
    ("stable", Strategy.FLAG): "the stable side of a flag rollout is the flag's default variant "
    "when it starts; it is not named in the plan",
    ("candidate", Strategy.EXPERIMENT): "an experiment names its arms instead: "
    "arms: [{name: off, weight: 50}, {name: on, weight: 50}]",
    ("stable", Strategy.EXPERIMENT): "an experiment's control is its first arm",
    ("steps", Strategy.EXPERIMENT): "an experiment holds one fixed split (arms) for its duration",
    ("analysis", Strategy.EXPERIMENT): "an experiment is judged by its primary metric: "
    "metric: {name: error-rate}",
    ("match", Strategy.FLAG): "a flag's variants are given to users by the flag's own targeting",
    ("mirror", Strategy.FLAG): "a flag's variants run inside one version: nothing to mirror to",
}
_FLAGGED = (Strategy.FLAG, Strategy.EXPERIMENT)
_STRATEGIES = "canary, bluegreen, rolling, flag or experiment"

# --------------------------------------------------------------------------- public API


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; raises ``PlanError`` (never anything else) on bad input."""
    return check_file(path)[0]


def parse_plan(text: str, source: str = "<plan>") -> Plan:
    """Validate plan YAML ``text``; ``source`` names it in messages and in ``Plan.source``."""
    return check_plan(text, source)[0]


def check_file(path: str | Path) -> tuple[Plan, tuple[FieldError, ...]]:
    """Like ``load_plan``, and also return the warnings (legal but probably unintended)."""
    source = str(path)
    p = Path(path)
    try:
        if p.is_dir():
            raise PlanError([FieldError(source, 0, "", "is a directory, not a plan file")])
        with p.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise PlanError([FieldError(source, 0, "", "no such file")]) from None
    except PermissionError:
        raise PlanError([FieldError(source, 0, "", "permission denied")]) from None
    except OSError as exc:
        raise PlanError(
            [FieldError(source, 0, "", f"cannot read: {exc.strerror or exc}")]
        ) from None
    if len(data) > MAX_BYTES:
        raise PlanError(
            [FieldError(source, 0, "", f"larger than {MAX_BYTES} bytes: not a plan file")]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        msg = f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        raise PlanError([FieldError(source, line, "", msg)]) from None
    return check_plan(text, source)


def check_plan(text: str, source: str = "<plan>") -> tuple[Plan, tuple[FieldError, ...]]:
    """Like ``parse_plan``, and also return the warnings (legal but probably unintended)."""
    if len(text) > MAX_BYTES:
        raise PlanError([FieldError(source, 0, "", f"larger than {MAX_BYTES} characters")])
    root = _compose(text.removeprefix("\ufeff"), source)
    ctx = PlanReader(source, [], [], yaml.constructor.SafeConstructor())
    try:
        plan = _plan(ctx, root)
    except RecursionError:
        # Only reachable through pathological merge keys (``<<``) or aliases.
        raise PlanError([FieldError(source, 1, "", "nested too deeply")]) from None
    if ctx.errors:
        raise PlanError(sorted(ctx.errors, key=lambda e: e.line))
    assert plan is not None
    return plan, tuple(sorted(ctx.warnings, key=lambda e: e.line))


def plan_from_node(ctx: PlanReader, node: Node, prefix: str = "") -> Plan | None:
    """Validate a plan written inside another YAML document (a drill scenario's ``plan:``).

    Errors go to ``ctx`` with the enclosing file's lines and ``prefix`` before each field
    (``plan.steps[0]``); None when the plan has errors.
    """
    sub = PlanReader(ctx.source, [], [], ctx.constructor)
    plan = None
    if not isinstance(node, MappingNode):
        sub.error(
            node,
            "",
            "a plan is a mapping of keys (service: ..., strategy: ...), not " + node_kind(node),
        )
    else:
        try:
            plan = _plan(sub, node)
        except RecursionError:
            sub.error(node, "", "nested too deeply")
    for kept, found in ((ctx.errors, sub.errors), (ctx.warnings, sub.warnings)):
        for e in found:
            field = f"{prefix}.{e.field}" if prefix and e.field else prefix or e.field
            kept.append(FieldError(e.file, e.line, field, e.message))
    return None if sub.errors else plan


def _compose(text: str, source: str) -> Node:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = exc.problem or exc.context or "syntax error"
        if exc.context and exc.problem:
            started = exc.context_mark.line + 1 if exc.context_mark else line
            what += f" ({exc.context}" + (
                f" started on line {started})" if started != line else ")"
            )
        raise PlanError([FieldError(source, line, "", f"not valid YAML: {what}")]) from None
    except yaml.YAMLError as exc:  # e.g. ReaderError: control characters, binary junk
        raise PlanError([FieldError(source, 1, "", f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise PlanError([FieldError(source, 1, "", "not valid YAML: nested too deeply")]) from None
    if root is None or (isinstance(root, ScalarNode) and root.tag.endswith(":null")):
        raise PlanError(
            [
                FieldError(
                    source,
                    1,
                    "",
                    "empty file: a plan needs at least service and candidate (and steps for a canary)",
                )
            ]
        )
    if not isinstance(root, MappingNode):
        raise PlanError(
            [
                FieldError(
                    source,
                    line_of(root),
                    "",
                    f"a plan is a mapping of keys (service: ..., "
                    f"strategy: ...), not {node_kind(root)}",
                )
            ]
        )
    return root


# --------------------------------------------------------------------------- the plan


def _plan(ctx: PlanReader, root: Node) -> Plan | None:
    strategy: Strategy | None = Strategy.CANARY
    keys = mapping_keys(ctx, root, "", _ALL_KEYS)
    if keys is None:
        return None
    if "strategy" in keys:
        v = scalar(ctx, keys["strategy"][1], "strategy", _STRATEGIES)
        if v is BAD:
            strategy = None
        else:
            try:
                strategy = Strategy(v)
            except ValueError:
                hint = rules.did_you_mean(str(v), [s.value for s in Strategy])
                ctx.error(
                    keys["strategy"][1],
                    "strategy",
                    f"{v!r} is not a strategy: {_STRATEGIES}"
                    + (f" (did you mean {hint}?)" if hint else ""),
                )
                strategy = None
    if strategy is not None:
        allowed = _KEYS_BY_STRATEGY[strategy]
        for key, (knode, _) in keys.items():
            if key not in allowed:
                ctx.error(knode, key, _WHY_NOT.get((key, strategy)) or _owner(key, strategy))

    def get(key: str) -> Node | None:
        if strategy is not None and key not in _KEYS_BY_STRATEGY[strategy]:
            return None
        return keys[key][1] if key in keys else None

    service = candidate = BAD
    for key in ("service",) if strategy in _FLAGGED else ("service", "candidate"):
        node = get(key)
        if node is None and key in ctx.suggested:
            continue
        if node is None:
            ctx.error(
                root,
                key,
                "required: the service to roll out (like courses)"
                if key == "service"
                else "required: the version (or image) to roll out (like v2)",
            )
            continue
        value = name_field(ctx, node, key, image_ok=key == "candidate")
        if key == "service":
            service = value
        else:
            candidate = value
    stable = None
    if (node := get("stable")) is not None:
        stable = name_field(ctx, node, "stable")
        if stable is not BAD and stable == candidate:
            ctx.error(node, "stable", f"stable and candidate are both {stable!r}; they must differ")

    flag: str | None = None
    if strategy in _FLAGGED:
        flag, candidate, stable = _flag_and_variant(ctx, root, get, strategy)
    steps: tuple[Step, ...] = ()
    if strategy in (Strategy.CANARY, Strategy.FLAG):
        node = get("steps")
        if node is None and "steps" not in ctx.suggested:
            what = "a canary" if strategy is Strategy.CANARY else "a flag rollout"
            ctx.error(
                root,
                "steps",
                f"required for {what}: a list of {{setWeight: N}} and {{pause: ...}} steps",
            )
        elif node is not None:
            steps = _steps(ctx, node)

    analysis: AnalysisSpec | None = AnalysisSpec()
    if strategy in (Strategy.BLUEGREEN, Strategy.EXPERIMENT):
        analysis = None
    elif (node := get("analysis")) is not None:
        analysis = analysis_block(ctx, node, "analysis")
    match: tuple[MatchRule, ...] = ()
    if (node := get("match")) is not None:
        match = _match(ctx, node)
    mirror = 0
    if (node := get("mirror")) is not None:
        mirror = int_field(ctx, node, "mirror", 0, 100, " percent")
    webhooks: tuple[str, ...] = ()
    if (node := get("notify")) is not None:
        webhooks = _notify(ctx, node)
    progress_deadline = DEFAULT_PROGRESS_DEADLINE
    if (node := get("progressDeadline")) is not None:
        progress_deadline = duration_field(ctx, node, "progressDeadline", lo=1.0)

    bluegreen = _bluegreen(ctx, get) if strategy is Strategy.BLUEGREEN else None
    rolling = _rolling(ctx, get) if strategy is Strategy.ROLLING else None
    experiment = None
    if strategy is Strategy.EXPERIMENT:
        experiment = flag_plans.experiment(ctx, root, get, flag)
        if experiment is not None:
            stable, candidate = experiment.arms[0].name, experiment.arms[1].name
    if ctx.errors or strategy is None:
        return None
    plan = Plan(
        service=service,
        strategy=strategy,
        candidate=candidate,
        stable=stable,
        steps=steps,
        analysis=analysis,
        match=match,
        mirror=mirror,
        bluegreen=bluegreen,
        rolling=rolling,
        webhooks=webhooks,
        source=ctx.source,
        progress_deadline=progress_deadline,
        flag=flag,
        experiment=experiment,
    )
    rules.warn_plan(plan, lambda field, msg: ctx.warn(_field_line(root, field), field, msg))
    return plan


def _flag_and_variant(
    ctx: PlanReader, root: Node, get: Callable[[str], Node | None], strategy: Strategy
) -> tuple[Any, Any, None]:
    """``flag`` (required for a flag rollout, optional for an experiment: without it the
    arms are versions) and a flag rollout's ``variant`` (its candidate)."""
    flag: Any = None
    if (node := get("flag")) is not None:
        flag = flag_plans.flag_name(ctx, node, "flag", "a flag key (like new-gradebook)")
    elif strategy is Strategy.FLAG and "flag" not in ctx.suggested:
        flag = ctx.error(
            root, "flag", "required for a flag rollout: the flag's key, like new-gradebook"
        )
    variant: Any = BAD
    if strategy is Strategy.FLAG:
        if (node := get("variant")) is not None:
            variant = flag_plans.flag_name(ctx, node, "variant", "a variant name (like on)")
        elif "variant" not in ctx.suggested:
            ctx.error(
                root, "variant", "required for a flag rollout: the variant to roll out, like on"
            )
    return flag, variant, None


def _field_line(root: Node, field: str) -> int:
    """The line of the node a field path names, or of its closest existing parent."""
    node = root
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", field):
        if name and isinstance(node, MappingNode):
            found = [v for k, v in node.value if isinstance(k, ScalarNode) and k.value == name]
            if not found:
                break
            node = found[0]
        elif index and isinstance(node, SequenceNode) and int(index) < len(node.value):
            node = node.value[int(index)]
        else:
            break
    return line_of(node)


def _owner(key: str, strategy: Strategy) -> str:
    owners = [s.value for s, keys in _KEYS_BY_STRATEGY.items() if key in keys]
    return f"{key} applies only to strategy {' or '.join(owners)} (this plan is {strategy.value})"


def _steps(ctx: PlanReader, node: Node) -> tuple[Step, ...]:
    items = seq_items(ctx, node, "steps", "steps", MAX_STEPS)
    if isinstance(node, SequenceNode) and not node.value:
        ctx.error(
            node,
            "steps",
            "a canary needs at least one step, e.g. [{setWeight: 10}, "
            "{pause: 30s}, {setWeight: 100}]",
        )
    out: list[Step] = []
    for i, item in enumerate(items):
        path = f"steps[{i}]"
        keys = mapping_keys(
            ctx, item, path, ("setWeight", "pause"), what="a step: {setWeight: N} or {pause: ...}"
        )
        if keys is None:
            continue
        if len(keys) != 1:
            if not keys and isinstance(item, MappingNode) and item.value:
                continue  # its only key was unknown, already reported
            ctx.error(item, path, "a step has exactly one key: setWeight or pause")
            continue
        if "setWeight" in keys:
            w = int_field(ctx, keys["setWeight"][1], f"{path}.setWeight", 0, 100, " percent")
            if w is not BAD:
                out.append(SetWeightStep(weight=w))
        else:
            d = _pause(ctx, keys["pause"][1], f"{path}.pause")
            if d is not BAD:
                out.append(PauseStep(duration=d))
    return tuple(out)


def _pause(ctx: PlanReader, node: Node, path: str) -> Any:
    """``{}`` or null: a manual gate (None); ``30s`` or ``{duration: 30s}``: timed."""
    if isinstance(node, MappingNode):
        keys = mapping_keys(ctx, node, path, ("duration",))
        if keys is None:
            return BAD
        if "duration" not in keys:
            return None if not node.value else BAD
        node, path = keys["duration"][1], f"{path}.duration"
    elif isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return None
    return duration_field(ctx, node, path, positive=True)


def _match(ctx: PlanReader, node: Node) -> tuple[MatchRule, ...]:
    out: list[MatchRule] = []
    for i, item in enumerate(seq_items(ctx, node, "match", "match rules")):
        path = f"match[{i}]"
        keys = mapping_keys(
            ctx,
            item,
            path,
            ("header", "cookie"),
            what="a match rule: {header: {NAME: VALUE}} or {cookie: {NAME: VALUE}}",
        )
        if keys is None:
            continue
        parts: dict[str, dict[str, str]] = {"header": {}, "cookie": {}}
        for kind, (_, vnode) in keys.items():
            parts[kind] = _pairs(ctx, vnode, f"{path}.{kind}", kind)
        if not keys and not (isinstance(item, MappingNode) and item.value):
            ctx.error(
                item, path, "an empty rule would match every request: give a header or a cookie"
            )
        out.append(MatchRule(headers=parts["header"], cookies=parts["cookie"]))
    return tuple(out)


def _pairs(ctx: PlanReader, node: Node, path: str, kind: str) -> dict[str, str]:
    if not isinstance(node, MappingNode) or not node.value:
        ctx.error(
            node,
            path,
            f'expected a mapping of {kind} name to exact value, like {{x-lms-beta: "true"}}',
        )
        return {}
    names = tuple(str(construct_quiet(k)) for k, _ in node.value if isinstance(k, ScalarNode))
    keys = mapping_keys(ctx, node, path, names)
    out: dict[str, str] = {}
    for name, (knode, vnode) in (keys or {}).items():
        field = f"{path}.{name}"
        pattern = rules.HEADER_NAME if kind == "header" else rules.COOKIE_NAME
        if not pattern.fullmatch(name):
            ctx.error(knode, field, f"{name!r} is not a valid {kind} name")
        v = scalar(ctx, vnode, field, "a string")
        if v is BAD:
            continue
        if not isinstance(v, str):
            shown = str(v).lower() if isinstance(v, bool) else str(v)
            ctx.error(vnode, field, f'expected a string, got {rules.kind(v)}; quote it: "{shown}"')
        elif not rules.HEADER_VALUE.fullmatch(v):
            ctx.error(vnode, field, "the value holds characters not allowed in a " + kind)
        else:
            out[name] = v
    return out


def _notify(ctx: PlanReader, node: Node) -> tuple[str, ...]:
    keys = mapping_keys(ctx, node, "notify", ("webhooks",), what="{webhooks: [URL, ...]}")
    if not keys or "webhooks" not in keys:
        return ()
    out: list[str] = []
    for i, item in enumerate(seq_items(ctx, keys["webhooks"][1], "notify.webhooks", "URLs")):
        path = f"notify.webhooks[{i}]"
        v = scalar(ctx, item, path, "an http(s) URL")
        if v is BAD:
            continue
        if not isinstance(v, str) or not rules.URL.fullmatch(v):
            ctx.error(item, path, f"{v!r} is not an http:// or https:// URL with a host")
        else:
            out.append(v)
    return tuple(out)


def _bluegreen(ctx: PlanReader, get: Callable[[str], Node | None]) -> BlueGreenSpec:
    base = BlueGreenSpec()
    vals: dict[str, Any] = {}
    for key, attr in (
        ("previewAnalysis", "preview_analysis"),
        ("postPromotionAnalysis", "post_promotion_analysis"),
    ):
        if (node := get(key)) is not None:
            vals[attr] = analysis_block(ctx, node, key)
    if (node := get("autoPromote")) is not None:
        v = construct_quiet(node) if isinstance(node, ScalarNode) else None
        if v is True:
            vals["auto_promote"] = 0.0
        elif v is False:
            vals["auto_promote"] = None
        else:
            try:
                d = parse_duration(v)
            except ValueError:
                d = ctx.error(
                    node,
                    "autoPromote",
                    f"expected true, false or a duration like 30s, got {rules.got(v)}",
                )
            else:
                if d > rules.MAX_DURATION:
                    d = ctx.error(node, "autoPromote", f"{v!r} is longer than the limit of 30 days")
            vals["auto_promote"] = d
    for key, attr in (
        ("scaleDownDelay", "scale_down_delay"),
        ("previewDuration", "preview_duration"),
    ):
        if (node := get(key)) is not None:
            vals[attr] = duration_field(ctx, node, key)
    if any(v is BAD for v in vals.values()):
        return base
    return BlueGreenSpec(**{**base.__dict__, **vals})


def _rolling(ctx: PlanReader, get: Callable[[str], Node | None]) -> RollingSpec:
    base = RollingSpec()
    vals: dict[str, Any] = {}
    for key, attr, lo, hi in (
        ("instances", "instances", 1, 1000),
        ("maxSurge", "max_surge", 0, 1000),
        ("maxUnavailable", "max_unavailable", 0, 1000),
    ):
        if (node := get(key)) is not None:
            vals[attr] = int_field(ctx, node, key, lo, hi)
    for key, attr in (("minReady", "min_ready"), ("pauseBetweenBatches", "pause_between_batches")):
        if (node := get(key)) is not None:
            vals[attr] = duration_field(ctx, node, key)
    if any(v is BAD for v in vals.values()):
        return base
    spec = RollingSpec(**{**base.__dict__, **vals})
    if spec.max_surge == 0 and spec.max_unavailable == 0:
        node = get("maxSurge") or get("maxUnavailable")
        ctx.error(
            node if node is not None else 1,
            "maxSurge",
            "maxSurge and maxUnavailable are both 0: no instance could ever be replaced; "
            "set maxSurge: 1 (add one new instance at a time)",
        )
    return spec
