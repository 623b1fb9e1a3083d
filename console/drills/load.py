"""Scenario files: YAML text -> a validated ``Scenario``, or every error at once. Pure.

Same approach and messages as plan files (``console.plan.load``): the YAML is composed into
nodes so that each error names the file, the line and the field
(``timeline[2].fault.errors``); the scenario's ``plan:`` is checked by the plan validator
itself. Raises ``ScenarioError`` (a ``PlanError``) and nothing else for bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from console.drills.model import (
    ACTIONS,
    CLEAR,
    EVENT_KINDS,
    FAULT,
    FAULT_FIELDS,
    KILL,
    LOAD,
    METRICS,
    Automatic,
    DemoSettings,
    Event,
    Expect,
    Scenario,
    canonical,
)
from console.plan import rules
from console.plan.load import plan_from_node
from console.plan.rules import FieldError, PlanError
from console.plan.yaml_nodes import (
    BAD,
    PlanReader,
    duration_field,
    mapping_keys,
    name_field,
    node_kind,
    scalar,
    seq_items,
)

MAX_BYTES = 200_000
MAX_LIMIT = 600.0  # a drill is minutes at most: its report compares seconds

_KEYS = (
    "name",
    "title",
    "goal",
    "plan",
    "timeline",
    "incident",
    "expect",
    "automatic",
    "limit",
    "debrief",
    "hint",
    "slow",
    "demo",
)
_REQUIRED = ("name", "goal", "plan", "timeline", "expect", "limit", "debrief")


class ScenarioError(PlanError):
    """A scenario file was rejected; ``errors`` lists every problem, in line order."""


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raises ``ScenarioError`` on bad input."""
    source = str(path)
    p = Path(path)
    try:
        if p.is_dir():
            raise ScenarioError([FieldError(source, 0, "", "is a directory, not a scenario")])
        data = p.read_bytes()[: MAX_BYTES + 1]
    except FileNotFoundError:
        raise ScenarioError([FieldError(source, 0, "", "no such file")]) from None
    except OSError as exc:
        raise ScenarioError(
            [FieldError(source, 0, "", f"cannot read: {exc.strerror or exc}")]
        ) from None
    if len(data) > MAX_BYTES:
        raise ScenarioError([FieldError(source, 0, "", f"larger than {MAX_BYTES} bytes")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError([FieldError(source, line, "", "not UTF-8 text")]) from None
    return parse_scenario(text, source)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate scenario YAML ``text``; ``source`` names it in messages."""
    root = _compose(text.removeprefix("\ufeff"), source)
    ctx = PlanReader(source, [], [], yaml.constructor.SafeConstructor())
    try:
        scenario = _scenario(ctx, root)
    except RecursionError:
        raise ScenarioError([FieldError(source, 1, "", "nested too deeply")]) from None
    if ctx.errors or scenario is None:
        raise ScenarioError(sorted(ctx.errors, key=lambda e: e.line))
    return scenario


def _compose(text: str, source: str) -> Node:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "syntax error"
        line = mark.line + 1 if mark else 1
        raise ScenarioError([FieldError(source, line, "", f"not valid YAML: {what}")]) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ScenarioError([FieldError(source, 1, "", f"not valid YAML: {exc}")]) from None
    if root is None or not isinstance(root, MappingNode):
        got = "empty" if root is None else node_kind(root)
        raise ScenarioError(
            [FieldError(source, 1, "", f"a scenario is a mapping (name:, plan:, ...), not {got}")]
        )
    return root


def _text(ctx: PlanReader, node: Node, path: str) -> Any:
    v = scalar(ctx, node, path, "text")
    if v is BAD:
        return v
    if not isinstance(v, str) or not v.strip():
        return ctx.error(node, path, f"expected text, got {rules.got(v)}")
    return v.strip()


def _number(ctx: PlanReader, node: Node, path: str, lo: float, hi: float) -> Any:
    v = scalar(ctx, node, path, f"a number from {lo:g} to {hi:g}")
    if v is BAD:
        return v
    if isinstance(v, str) and v.endswith("%"):
        try:
            v = float(v[:-1]) / 100
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, int | float):
        return ctx.error(node, path, f"expected a number from {lo:g} to {hi:g}, got {rules.got(v)}")
    if not lo <= v <= hi:
        return ctx.error(node, path, f"{v:g} is out of range: {lo:g} to {hi:g}")
    return float(v)


def _bool(ctx: PlanReader, node: Node, path: str) -> Any:
    v = scalar(ctx, node, path, "true or false")
    if v is BAD or isinstance(v, bool):
        return v
    return ctx.error(node, path, f"expected true or false, got {rules.got(v)}")


def _action(ctx: PlanReader, node: Node, path: str) -> Any:
    v = scalar(ctx, node, path, "an action")
    if v is BAD:
        return v
    if v not in ACTIONS:
        hint = rules.did_you_mean(str(v), ACTIONS)
        more = f" (did you mean {hint}?)" if hint else ""
        return ctx.error(node, path, f"{v!r} is not an action: {', '.join(ACTIONS)}{more}")
    return v


def _scenario(ctx: PlanReader, root: Node) -> Scenario | None:
    keys = mapping_keys(ctx, root, "", _KEYS)
    if keys is None:
        return None
    for key in _REQUIRED:
        if key not in keys and key not in ctx.suggested:
            ctx.error(root, key, "required (see docs/drills.md)")

    def node(key: str) -> Node | None:
        return keys[key][1] if key in keys else None

    name = name_field(ctx, n, "name") if (n := node("name")) is not None else BAD
    texts = {k: _text(ctx, n, k) for k in ("title", "goal", "debrief", "hint") if (n := node(k))}
    plan = None
    plan_yaml = ""
    if (n := node("plan")) is not None:
        plan = plan_from_node(ctx, n, "plan")
        plan_yaml = yaml.serialize(n, Dumper=yaml.SafeDumper)
    limit = BAD
    if (n := node("limit")) is not None:
        limit = duration_field(ctx, n, "limit", positive=True)
        if limit is not BAD and limit > MAX_LIMIT:
            limit = ctx.error(n, "limit", f"at most {MAX_LIMIT:g}s: a drill is a few minutes")
    service = plan.service if plan is not None else None
    timeline: list[Event] = []
    if (n := node("timeline")) is not None:
        for i, item in enumerate(seq_items(ctx, n, "timeline", "timeline entries")):
            event = _event(ctx, item, f"timeline[{i}]", service)
            if event is not None and isinstance(limit, float) and event.at >= limit:
                ctx.error(
                    item, f"timeline[{i}].at", f"{event.at:g}s is not before limit {limit:g}s"
                )
            elif event is not None:
                timeline.append(event)
        if not timeline and not ctx.errors:
            ctx.error(n, "timeline", "at least one entry: the incident the drill plays")
    timeline.sort(key=lambda e: e.at)
    incident: Any = timeline[0].at if timeline else 0.0
    if (n := node("incident")) is not None:
        incident = duration_field(ctx, n, "incident")
    expect = _expect(ctx, n) if (n := node("expect")) is not None else None
    automatic = Automatic(None, None)
    if (n := node("automatic")) is not None:
        automatic = _automatic(ctx, n)
    slow = None
    if (n := node("slow")) is not None:
        slow = duration_field(ctx, n, "slow", positive=True)
    demo = DemoSettings()
    if (n := node("demo")) is not None:
        demo = _demo(ctx, n)
    if ctx.errors or plan is None or expect is None:
        return None
    return Scenario(
        name=name,
        title=texts.get("title") or name,
        goal=texts["goal"],
        plan=plan,
        plan_yaml=plan_yaml,
        timeline=tuple(timeline),
        incident=incident,
        expect=expect,
        automatic=automatic,
        limit=limit,
        debrief=texts["debrief"],
        hint=texts.get("hint", ""),
        slow=slow,
        demo=demo,
        source=ctx.source,
    )


def _event(ctx: PlanReader, item: Node, path: str, service: str | None) -> Event | None:
    keys = mapping_keys(ctx, item, path, ("at", *EVENT_KINDS), what="a mapping (at: and one of "
                        + ", ".join(EVENT_KINDS) + ")")  # fmt: skip
    if keys is None:
        return None
    at = duration_field(ctx, keys["at"][1], f"{path}.at") if "at" in keys else None
    if at is None:
        ctx.error(item, f"{path}.at", "required: when this happens, e.g. 10s")
    kinds = [k for k in EVENT_KINDS if k in keys]
    if len(kinds) != 1:
        ctx.error(item, path, f"exactly one of {', '.join(EVENT_KINDS)}, got {len(kinds)}")
        return None
    kind = kinds[0]
    vnode = keys[kind][1]
    where = f"{path}.{kind}"
    data: dict[str, Any] | None
    if kind in (FAULT, CLEAR):
        data = _fault(ctx, vnode, where, service, kind == FAULT)
    elif kind == LOAD:
        fields = mapping_keys(ctx, vnode, where, ("rps",))
        data = None
        if fields is not None and "rps" not in fields:
            ctx.error(vnode, f"{where}.rps", "required: requests per second")
        elif fields is not None:
            rps = _number(ctx, fields["rps"][1], f"{where}.rps", 0, 10000)
            data = None if rps is BAD else {"rps": rps}
    elif kind == METRICS:
        v = scalar(ctx, vnode, where, "down or up")
        data = {"available": v == "up"} if v in ("down", "up") else None
        if v is not BAD and data is None:
            ctx.error(vnode, where, f"expected down or up, got {rules.got(v)}")
    elif kind == KILL:
        v = scalar(ctx, vnode, where, "driver")
        data = {"what": "driver"} if v == "driver" else None
        if v is not BAD and data is None:
            ctx.error(vnode, where, f"expected driver (the process that drives the rollout), got {rules.got(v)}")  # fmt: skip
    else:
        data = _flag(ctx, vnode, where, service)
    if at is None or at is BAD or data is None:
        return None
    return Event(at=at, kind=kind, data=data)


def _fault(
    ctx: PlanReader, node: Node, path: str, service: str | None, inject: bool
) -> dict[str, Any] | None:
    if isinstance(node, ScalarNode) and not inject:  # `clear: v2`
        v = name_field(ctx, node, path)
        return None if v is BAD else {"version": v, "service": service}
    allowed = ("version", "service", *FAULT_FIELDS) if inject else ("version", "service")
    fields = mapping_keys(ctx, node, path, allowed)
    if fields is None:
        return None
    out: dict[str, Any] = {"service": service}
    ok = True
    for key, (_, vnode) in fields.items():
        where = f"{path}.{key}"
        if key in ("version", "service"):
            v = name_field(ctx, vnode, where)
        elif key in ("errors", "gradebook_bug"):
            v = _number(ctx, vnode, where, 0, 1)
        elif key in ("latency", "jitter"):
            v = duration_field(ctx, vnode, where)
            if v is not BAD and v > 60:
                v = ctx.error(vnode, where, "at most 60s")
        else:
            v = _bool(ctx, vnode, where)
        ok = ok and v is not BAD
        out[key] = v
    if "version" not in fields:
        ctx.error(node, f"{path}.version", "required: the version it happens to, like v2")
        return None
    if inject and not any(k in fields for k in FAULT_FIELDS):
        ctx.error(node, path, f"say what goes wrong: one or more of {', '.join(FAULT_FIELDS)}")
        return None
    if out["service"] is None:
        ok = False
    return out if ok else None


def _flag(ctx: PlanReader, node: Node, path: str, service: str | None) -> dict[str, Any] | None:
    fields = mapping_keys(ctx, node, path, ("flag", "variant", "service"))
    if fields is None:
        return None
    out: dict[str, Any] = {"service": service}
    for key in ("flag", "variant"):
        if key not in fields:
            ctx.error(node, f"{path}.{key}", "required")
    for key, (_, vnode) in fields.items():
        out[key] = _text(ctx, vnode, f"{path}.{key}")
    if any(v is BAD for v in out.values()) or len(out) < 3:
        return None
    return out


def _expect(ctx: PlanReader, node: Node) -> Expect | None:
    fields = mapping_keys(ctx, node, "expect", ("action", "within", "wrong"))
    if fields is None:
        return None
    action: Any = BAD
    within: Any = BAD
    if "action" in fields:
        action = _action(ctx, fields["action"][1], "expect.action")
    else:
        ctx.error(node, "expect.action", f"required: one of {', '.join(ACTIONS)}")
    if "within" in fields:
        within = duration_field(ctx, fields["within"][1], "expect.within", positive=True)
    else:
        ctx.error(node, "expect.within", "required: how long after the incident, e.g. 20s")
    wrong: list[str] = []
    if "wrong" in fields:
        for i, item in enumerate(seq_items(ctx, fields["wrong"][1], "expect.wrong", "actions")):
            v = _action(ctx, item, f"expect.wrong[{i}]")
            if v is not BAD and action is not BAD and canonical(v) == canonical(action):
                ctx.error(item, f"expect.wrong[{i}]", f"{v} is the expected action")
            elif v is not BAD:
                wrong.append(canonical(v))
    elif action is not BAD:
        wrong = [a for a in dict.fromkeys(map(canonical, ACTIONS)) if a != canonical(action)]
    if action is BAD or within is BAD:
        return None
    return Expect(action=canonical(action), within=within, wrong=tuple(dict.fromkeys(wrong)))


def _automatic(ctx: PlanReader, node: Node) -> Automatic:
    if isinstance(node, ScalarNode) and construct_text(node) == "never":
        return Automatic(None, None)
    fields = mapping_keys(ctx, node, "automatic", ("action", "after"), what="never or a mapping")
    if fields is None:
        return Automatic(None, None)
    action = None
    after = None
    if "action" in fields:
        v = _action(ctx, fields["action"][1], "automatic.action")
        action = None if v is BAD else canonical(v)
    if "after" in fields:
        v = duration_field(ctx, fields["after"][1], "automatic.after")
        after = None if v is BAD else v
    if action is None or after is None:
        ctx.error(node, "automatic", "needs action and after (or say: never)")
    return Automatic(action, after)


def construct_text(node: ScalarNode) -> str:
    return str(node.value)


def _demo(ctx: PlanReader, node: Node) -> DemoSettings:
    fields = mapping_keys(ctx, node, "demo", ("rps", "instances", "controller"))
    if fields is None:
        return DemoSettings()
    values: dict[str, Any] = {}
    if "rps" in fields:
        values["rps"] = _number(ctx, fields["rps"][1], "demo.rps", 1, 2000)
    if "instances" in fields:
        v = _number(ctx, fields["instances"][1], "demo.instances", 1, 10)
        values["instances"] = v if v is BAD else int(v)
    if "controller" in fields:
        values["controller"] = _bool(ctx, fields["controller"][1], "demo.controller")
    if any(v is BAD for v in values.values()):
        return DemoSettings()
    return DemoSettings(**values)
