"""flagd flag definitions as plain data: parse and check, describe, change, serialize.

The format is flagd's (https://flagd.dev/schema/v0/flags.json): ``{"flags": {KEY: {"state":
"ENABLED"|"DISABLED", "variants": {...}, "defaultVariant": NAME|null, "targeting": JsonLogic,
"metadata": {...}}}, "$evaluators": {...}, "metadata": {...}}``. ``parse`` checks what the
schema says plus what flagd only finds at evaluation time (a variant named in targeting that
does not exist) and one rule of ours: a ``fractional`` split's weights are whole percents
summing to 100 (flagd itself would scale any sum). Every error names the file and the
field. Changes keep everything the console does not edit (metadata, ``$schema``,
``$evaluators``, other keys) as it was.

Pure: no I/O. ``backends/flagd/file.py`` reads and writes the file.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backends.base import (
    CohortRule,
    Flag,
    FlagFileError,
    UnknownFlag,
    UnknownVariant,
    percent_split,
)

SCHEMA = "https://flagd.dev/schema/v0/flags.json"
STATES = ("ENABLED", "DISABLED")
# JsonLogic operators whose operands a flag's variant names can appear as results of.
_BRANCH_OPS = ("if", "?:")


@dataclass(frozen=True)
class FlagDocument:
    """A checked flag file: its raw JSON (kept for what we do not edit) and its flags."""

    source: str  # the file, for messages
    raw: Mapping[str, Any]
    flags: Mapping[str, Flag]

    def flag(self, key: str) -> Flag:
        found = self.flags.get(key)
        if found is None:
            raise UnknownFlag(key, list(self.flags))
        return found


# --------------------------------------------------------------------------- parse


def parse(text: str | bytes, source: str) -> FlagDocument:
    """Parse and check a flag file's text. Raises FlagFileError(source, field, reason)."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise FlagFileError(source, "", f"not valid JSON: {exc}") from None
    return check(raw, source)


def check(raw: Any, source: str) -> FlagDocument:
    """Check an already decoded flag definition (see ``parse``)."""
    if not isinstance(raw, dict):
        raise FlagFileError(source, "", "the top level must be a JSON object with 'flags'")
    flags_raw = raw.get("flags")
    if not isinstance(flags_raw, dict):
        raise FlagFileError(source, "flags", "must be an object of flag key -> flag")
    evaluators = raw.get("$evaluators", {})
    if not isinstance(evaluators, dict):
        raise FlagFileError(source, "$evaluators", "must be an object of name -> JsonLogic")
    for name, value in (("metadata", raw.get("metadata", {})),):
        _check_metadata(value, source, name)
    flags: dict[str, Flag] = {}
    for key, body in flags_raw.items():
        if not key:
            raise FlagFileError(source, "flags", "a flag key must not be empty")
        flags[key] = _check_flag(key, body, evaluators, source)
    return FlagDocument(source=source, raw=raw, flags=flags)


def _check_metadata(value: Any, source: str, where: str) -> None:
    if not isinstance(value, dict):
        raise FlagFileError(source, where, "must be an object")
    for k, v in value.items():
        if not isinstance(v, str | int | float | bool):
            raise FlagFileError(source, f"{where}.{k}", "must be a string, number or boolean")


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    return "invalid"


def _check_flag(key: str, body: Any, evaluators: Mapping[str, Any], source: str) -> Flag:
    where = f"flags.{key}"
    if not isinstance(body, dict):
        raise FlagFileError(source, where, "must be an object (state, variants, defaultVariant)")
    state = body.get("state")
    if state not in STATES:
        raise FlagFileError(source, f"{where}.state", f"must be ENABLED or DISABLED, got {state!r}")
    variants = body.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise FlagFileError(source, f"{where}.variants", "must be a non-empty object")
    kinds = {name: _value_kind(v) for name, v in variants.items()}
    for name, kind in kinds.items():
        if kind == "invalid":
            raise FlagFileError(
                source, f"{where}.variants.{name}", "must be a boolean, string, number or object"
            )
    if len(set(kinds.values())) > 1:
        listed = ", ".join(f"{n} ({k})" for n, k in kinds.items())
        raise FlagFileError(
            source, f"{where}.variants", f"all variants must have one type; found {listed}"
        )
    default = body.get("defaultVariant")
    if default is not None and not isinstance(default, str):
        raise FlagFileError(source, f"{where}.defaultVariant", "must be a variant name or null")
    if default is not None and default not in variants:
        raise FlagFileError(
            source,
            f"{where}.defaultVariant",
            f"unknown variant '{default}'; variants: {', '.join(variants)}",
        )
    targeting = body.get("targeting", {})
    if targeting is None:
        targeting = {}
    if not isinstance(targeting, dict):
        raise FlagFileError(source, f"{where}.targeting", "must be a JsonLogic object")
    _check_logic(targeting, variants, evaluators, source, f"{where}.targeting", set())
    metadata = body.get("metadata", {})
    _check_metadata(metadata, source, f"{where}.metadata")
    return describe(key, body)


def _check_logic(
    node: Any,
    variants: Mapping[str, Any],
    evaluators: Mapping[str, Any],
    source: str,
    where: str,
    seen: set[str],
) -> None:
    """Walk JsonLogic: fractional splits must name variants and sum to 100; branch results
    that are plain strings must be variants; ``$ref`` must name an evaluator."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _check_logic(item, variants, evaluators, source, f"{where}[{i}]", seen)
        return
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        name = node["$ref"]
        if not isinstance(name, str) or name not in evaluators:
            known = ", ".join(evaluators) or "none"
            raise FlagFileError(
                source, f"{where}.$ref", f"no evaluator {name!r} in $evaluators; known: {known}"
            )
        if name not in seen:
            _check_logic(
                evaluators[name], variants, evaluators, source, f"$evaluators.{name}", seen | {name}
            )
        return
    for op, args in node.items():
        here = f"{where}.{op}"
        if op == "fractional":
            _check_fractional(args, variants, source, here)
        elif op in _BRANCH_OPS and isinstance(args, list):
            # if: [cond, then, cond, then, ..., else]: the results sit at odd indexes and last.
            for i, item in enumerate(args):
                is_result = i % 2 == 1 or (i == len(args) - 1 and len(args) % 2 == 1)
                if is_result and isinstance(item, str) and item not in variants:
                    raise FlagFileError(
                        source,
                        f"{here}[{i}]",
                        f"unknown variant '{item}'; variants: {', '.join(variants)}",
                    )
        _check_logic(args, variants, evaluators, source, here, seen)


def _check_fractional(args: Any, variants: Mapping[str, Any], source: str, where: str) -> None:
    if not isinstance(args, list) or not args:
        raise FlagFileError(source, where, "must be a list of [variant, percent] buckets")
    buckets = args[1:] if not isinstance(args[0], list) else args
    if not buckets:
        raise FlagFileError(source, where, "has no [variant, percent] buckets")
    total = 0
    offset = len(args) - len(buckets)
    for i, bucket in enumerate(buckets, start=offset):
        if (
            not isinstance(bucket, list)
            or len(bucket) not in (1, 2)
            or not isinstance(bucket[0], str)
        ):
            raise FlagFileError(source, f"{where}[{i}]", "must be [variant, percent]")
        if bucket[0] not in variants:
            raise FlagFileError(
                source,
                f"{where}[{i}][0]",
                f"unknown variant '{bucket[0]}'; variants: {', '.join(variants)}",
            )
        weight = bucket[1] if len(bucket) == 2 else 1
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise FlagFileError(source, f"{where}[{i}][1]", "must be a whole percent (0..100)")
        total += weight
    if total != 100:
        raise FlagFileError(source, where, f"percentages sum to {total}, not 100")


# --------------------------------------------------------------------------- describe


def off_variant(
    variants: Mapping[str, Any], default: str | None, metadata: Mapping[str, Any]
) -> str | None:
    """Where the kill switch puts a flag (see ``Flag.off_variant``)."""
    named = metadata.get("offVariant")
    if isinstance(named, str) and named in variants:
        return named
    if "off" in variants:
        return "off"
    for name, value in variants.items():
        if value is False:
            return name
    return default


def _var_name(node: Any) -> str | None:
    """``{"var": "x-lms-beta"}`` -> ``x-lms-beta``; anything else -> None."""
    if isinstance(node, dict) and len(node) == 1 and "var" in node:
        v = node["var"]
        if isinstance(v, str):
            return v
        if isinstance(v, list) and v and isinstance(v[0], str):
            return v[0]
    return None


def _cohort(cond: Any, variant: Any) -> CohortRule | None:
    """One ``if`` condition in the shape we edit: ``==`` or ``in`` of a var and literals."""
    if not isinstance(variant, str) or not isinstance(cond, dict) or len(cond) != 1:
        return None
    op, args = next(iter(cond.items()))
    if op not in ("==", "in") or not isinstance(args, list) or len(args) != 2:
        return None
    name = _var_name(args[0])
    if name is None:
        return None
    value = args[1]
    if op == "==" and isinstance(value, str | int | float) and not isinstance(value, bool):
        return CohortRule(field=name, values=(str(value),), variant=variant)
    if op == "in" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return CohortRule(field=name, values=tuple(value), variant=variant)
    return None


def _split(node: Any) -> tuple[dict[str, int], str] | None:
    """A ``fractional`` node -> (variant -> percent, bucket field), or None."""
    if not isinstance(node, dict) or len(node) != 1 or "fractional" not in node:
        return None
    args = node["fractional"]
    if not isinstance(args, list) or not args:
        return None
    bucket_by = ""
    buckets = args
    if not isinstance(args[0], list):
        name = _var_name(args[0])
        if name is None:
            return None
        bucket_by, buckets = name, args[1:]
    weights: dict[str, int] = {}
    for b in buckets:
        if not isinstance(b, list) or not b or not isinstance(b[0], str):
            return None
        weights[b[0]] = weights.get(b[0], 0) + (int(b[1]) if len(b) > 1 else 1)
    return weights, bucket_by


def _read_targeting(t: Mapping[str, Any]) -> tuple[list[CohortRule], dict[str, int], str] | None:
    """Targeting in our shape -> (cohorts, split, bucket field); None for any other shape."""
    if not t:
        return [], {}, ""
    split = _split(t)
    if split is not None:
        return [], split[0], split[1]
    if len(t) != 1 or "if" not in t or not isinstance(t["if"], list):
        return None
    args = list(t["if"])
    cohorts: list[CohortRule] = []
    weights: dict[str, int] = {}
    bucket_by = ""
    while len(args) >= 2:
        rule = _cohort(args[0], args[1])
        if rule is None:
            return None
        cohorts.append(rule)
        args = args[2:]
    if args:  # the else branch
        tail = args[0]
        if tail is None:
            pass
        elif (split := _split(tail)) is not None:
            weights, bucket_by = split
        else:
            return None
    return cohorts, weights, bucket_by


def describe(key: str, body: Mapping[str, Any]) -> Flag:
    """A checked flag's raw JSON -> ``Flag``."""
    variants = dict(body["variants"])
    default = body.get("defaultVariant")
    metadata = dict(body.get("metadata") or {})
    targeting = dict(body.get("targeting") or {})
    shape = _read_targeting(targeting)
    cohorts, weights, bucket_by = shape if shape is not None else ([], {}, "")
    return Flag(
        key=key,
        enabled=body.get("state") == "ENABLED",
        variants=variants,
        default_variant=default,
        cohorts=tuple(cohorts),
        fractional=weights,
        bucket_by=bucket_by,
        targeting=targeting,
        editable=shape is not None,
        off_variant=off_variant(variants, default, metadata),
        metadata=metadata,
    )


def targeting_for(
    cohorts: tuple[CohortRule, ...], fractional: Mapping[str, int], bucket_by: str
) -> dict[str, Any]:
    """Our shape back to JsonLogic: ``{"if": [cond, variant, ..., split-or-null]}``."""
    split: dict[str, Any] | None = None
    if fractional:
        buckets: list[Any] = [[v, int(p)] for v, p in fractional.items()]
        args = [{"var": bucket_by}, *buckets] if bucket_by else buckets
        split = {"fractional": args}
    if not cohorts:
        return split or {}
    logic: list[Any] = []
    for c in cohorts:
        if len(c.values) == 1:
            cond: dict[str, Any] = {"==": [{"var": c.field}, c.values[0]]}
        else:
            cond = {"in": [{"var": c.field}, list(c.values)]}
        logic += [cond, c.variant]
    logic.append(split)
    return {"if": logic}


# --------------------------------------------------------------------------- change


def _need_variant(flag: Flag, variant: str) -> None:
    if variant not in flag.variants:
        raise UnknownVariant(flag.key, variant, flag.variant_names)


def _editable(flag: Flag) -> None:
    if not flag.editable:
        from backends.base import Unsupported

        raise Unsupported(
            f"flag '{flag.key}' has targeting the console does not edit (not cohort rules "
            "then a fractional split); change it in the file, or use the kill switch"
        )


def _with(doc: FlagDocument, key: str, **changes: Any) -> FlagDocument:
    """The document with flag ``key``'s raw JSON changed, checked again."""
    raw = copy.deepcopy(dict(doc.raw))
    body = raw["flags"][key]
    for name, value in changes.items():
        if value is None and name == "targeting":
            body.pop("targeting", None)
        else:
            body[name] = value
    return check(raw, doc.source)


def _retarget(
    doc: FlagDocument,
    flag: Flag,
    cohorts: tuple[CohortRule, ...],
    fractional: Mapping[str, int],
    **more: Any,
) -> FlagDocument:
    t = targeting_for(cohorts, fractional, flag.bucket_by)
    return _with(doc, flag.key, targeting=t or None, **more)


def set_default(doc: FlagDocument, key: str, variant: str) -> FlagDocument:
    flag = doc.flag(key)
    _need_variant(flag, variant)
    _editable(flag)
    return _retarget(doc, flag, flag.cohorts, {}, defaultVariant=variant, state="ENABLED")


def set_fractional(doc: FlagDocument, key: str, weights: Mapping[str, int]) -> FlagDocument:
    flag = doc.flag(key)
    for v in weights:
        _need_variant(flag, v)
    _editable(flag)
    kept = {v: int(p) for v, p in weights.items() if int(p) > 0}
    return _retarget(doc, flag, flag.cohorts, kept)


def set_cohort(doc: FlagDocument, key: str, rule: CohortRule) -> FlagDocument:
    flag = doc.flag(key)
    _need_variant(flag, rule.variant)
    _editable(flag)
    if not rule.values:
        raise FlagFileError(doc.source, f"flags.{key}.targeting", "a cohort rule needs a value")
    cohorts = [c for c in flag.cohorts if c.field != rule.field]
    at = next((i for i, c in enumerate(flag.cohorts) if c.field == rule.field), len(cohorts))
    cohorts.insert(at, rule)
    return _retarget(doc, flag, tuple(cohorts), flag.fractional)


def clear_cohort(doc: FlagDocument, key: str, field: str) -> FlagDocument:
    flag = doc.flag(key)
    _editable(flag)
    cohorts = tuple(c for c in flag.cohorts if c.field != field)
    return _retarget(doc, flag, cohorts, flag.fractional)


def set_enabled(doc: FlagDocument, key: str, enabled: bool) -> FlagDocument:
    doc.flag(key)
    return _with(doc, key, state="ENABLED" if enabled else "DISABLED")


def kill(doc: FlagDocument, key: str) -> FlagDocument:
    flag = doc.flag(key)
    off = flag.off_variant or flag.default_variant
    return _with(doc, key, state="ENABLED", defaultVariant=off, targeting=None)


def kill_all(doc: FlagDocument) -> FlagDocument:
    for key in list(doc.flags):
        doc = kill(doc, key)
    return doc


def percent_weights(flag: Flag, variant: str, percent: int) -> dict[str, int]:
    """What ``rollout flags set FLAG VARIANT --percent N`` asks for (``base.percent_split``)."""
    return percent_split(flag, variant, percent)


# --------------------------------------------------------------------------- serialize


def dumps(doc: FlagDocument) -> str:
    """The file's text: stable key order as read, two-space indent, trailing newline."""
    return json.dumps(doc.raw, indent=2) + "\n"


def new_document(source: str, flags: Mapping[str, Mapping[str, Any]]) -> FlagDocument:
    """A document with ``$schema`` and the given raw flags, checked."""
    return check({"$schema": SCHEMA, "flags": copy.deepcopy(dict(flags))}, source)
