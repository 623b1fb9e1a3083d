"""YAML node helpers for plan validation: typed scalars and checked mappings with line numbers.

Each helper records a ``FieldError`` in the ``PlanReader`` and returns ``BAD`` instead of raising,
so that one pass over a plan reports every problem. Used by ``console/plan.py`` and
``console/plan_metrics.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from backends.units import format_duration
from console.plan import rules
from console.plan.rules import FieldError, parse_duration

MERGE_TAG = "tag:yaml.org,2002:merge"

MAX_LIST = 100  # metrics, match rules, webhooks

BAD: Any = object()  # a value that failed validation (its error is already recorded)


@dataclass
class PlanReader:
    source: str
    errors: list[FieldError]
    warnings: list[FieldError]
    constructor: yaml.constructor.SafeConstructor
    # Field paths some unknown key was probably meant to be (``steps`` for ``step``): a
    # "required" error for them would only repeat the "did you mean" one.
    suggested: set[str] = dataclasses.field(default_factory=set)

    def error(self, node: Node | int, field: str, message: str) -> Any:
        self.errors.append(FieldError(self.source, line_of(node), field, message))
        return BAD

    def warn(self, node: Node | int, field: str, message: str) -> None:
        self.warnings.append(FieldError(self.source, line_of(node), field, message))


def line_of(node: Node | int) -> int:
    return node if isinstance(node, int) else node.start_mark.line + 1


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def node_kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return rules.kind(construct_quiet(node))


def construct_quiet(node: Node) -> Any:
    try:
        return yaml.constructor.SafeConstructor().construct_object(node)
    except Exception:
        return "?"


def scalar(ctx: PlanReader, node: Node, path: str, expected: str) -> Any:
    """The Python value of a scalar node, or an error naming ``expected``."""
    if not isinstance(node, ScalarNode):
        return ctx.error(node, path, f"expected {expected}, got {node_kind(node)}")
    try:
        return ctx.constructor.construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        return ctx.error(node, path, f"expected {expected}: {exc}")


def mapping_keys(
    ctx: PlanReader,
    node: Node,
    path: str,
    allowed: tuple[str, ...],
    *,
    elsewhere: Callable[[str], str | None] = lambda key: None,
    what: str = "a mapping",
) -> dict[str, tuple[Node, Node]] | None:
    """Check a mapping's keys: strings, no duplicates, none unknown. Key -> (key, value) nodes."""
    if not isinstance(node, MappingNode):
        ctx.error(node, path, f"expected {what}, got {node_kind(node)}")
        return None
    # Keys written in this mapping (not brought in by ``<<``), remembered on the node because
    # flattening rewrites node.value and an aliased node may be checked again.
    explicit: set[int] | None = getattr(node, "_rollout_explicit_keys", None)
    if explicit is None:
        explicit = {id(k) for k, _ in node.value if k.tag != MERGE_TAG}
        node._rollout_explicit_keys = explicit  # type: ignore[attr-defined]
    try:
        ctx.constructor.flatten_mapping(node)  # resolves ``<<: *anchor`` merge keys
    except yaml.YAMLError as exc:
        ctx.error(node, path, f"bad merge key: {getattr(exc, 'problem', exc)}")
        return None
    out: dict[str, tuple[Node, Node]] = {}
    for knode, vnode in node.value:
        key = construct_quiet(knode) if isinstance(knode, ScalarNode) else None
        if not isinstance(key, str):
            shown = "a complex key" if key is None else repr(key)
            ctx.error(
                knode, path, f"keys must be names; {shown} is not. Allowed: {', '.join(allowed)}"
            )
            continue
        field = join_path(path, key)
        if key in out:
            if id(knode) in explicit and id(out[key][0]) in explicit:
                ctx.error(knode, field, f"duplicate key (first on line {line_of(out[key][0])})")
                continue
            # YAML merge keys: a key written here overrides a merged one; between two merged
            # mappings (``<<: [*a, *b]``) the earlier one in the list wins.
            if id(knode) not in explicit:
                continue
            del out[key]
        if key not in allowed:
            why = elsewhere(key)
            if why is None:
                hint = rules.did_you_mean(key, allowed)
                if hint:
                    ctx.suggested.add(join_path(path, hint))
                why = (
                    f"unknown key; did you mean {hint}?"
                    if hint
                    else (f"unknown key; allowed here: {', '.join(allowed)}")
                )
            ctx.error(knode, field, why)
            continue
        out[key] = (knode, vnode)
    return out


def seq_items(
    ctx: PlanReader, node: Node, path: str, what: str, limit: int = MAX_LIST
) -> list[Node]:
    if not isinstance(node, SequenceNode):
        ctx.error(node, path, f"expected a list of {what}, got {node_kind(node)}")
        return []
    if len(node.value) > limit:
        ctx.error(node, path, f"at most {limit} {what}, got {len(node.value)}")
        return []
    return list(node.value)


def int_field(ctx: PlanReader, node: Node, path: str, lo: int, hi: int, unit: str = "") -> Any:
    expected = f"an integer{unit} from {lo} to {hi}"
    v = scalar(ctx, node, path, expected)
    if v is BAD:
        return v
    if isinstance(v, float) and v.is_integer() and lo <= v <= hi:
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        return ctx.error(node, path, f"expected {expected}, got {rules.got(v)}")
    if not lo <= v <= hi:
        return ctx.error(node, path, f"{v} is out of range: {expected}")
    return v


def duration_field(
    ctx: PlanReader, node: Node, path: str, *, lo: float = 0.0, positive: bool = False
) -> Any:
    v = scalar(ctx, node, path, "a duration like 500ms, 30s, 5m")
    if v is BAD:
        return v
    try:
        d = parse_duration(v)
    except ValueError as exc:
        return ctx.error(node, path, str(exc))
    if positive and d <= 0:
        return ctx.error(node, path, f"must be longer than 0, got {v!r}")
    if d < lo:
        return ctx.error(node, path, f"must be at least {format_duration(lo)}, got {v!r}")
    if d > rules.MAX_DURATION:
        return ctx.error(node, path, f"{v!r} is longer than the limit of 30 days")
    return d


def name_field(ctx: PlanReader, node: Node, path: str, *, image_ok: bool = False) -> Any:
    what = "a version name or image reference" if image_ok else "a name"
    v = scalar(ctx, node, path, what)
    if v is BAD:
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return ctx.error(node, path, f'{v!r} is a number; quote it if it is a name: "{v}"')
    if not isinstance(v, str):
        return ctx.error(node, path, f"expected {what}, got {rules.kind(v)}")
    if rules.DNS_LABEL.fullmatch(v) or (image_ok and rules.IMAGE_REF.fullmatch(v)):
        return v
    also = "; or an image reference like registry.example.org/lms/courses:v2" if image_ok else ""
    return ctx.error(
        node,
        path,
        f"{v!r} is not allowed: lowercase letters, digits and '-', "
        f"starting and ending with a letter or digit, at most 63 "
        f"characters (like v2 or courses){also}",
    )
