"""Feature flags as plain text and rows: who gets which variant, and per-variant traffic.

Pure functions from ``Flag`` (backends/base.py) and per-variant ``MetricSample``s to the
strings and rows that ``rollout flags`` prints and the Flags screen shows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.base import CohortRule, Flag, MetricSample


def cohort_text(rule: CohortRule) -> str:
    """``x-lms-beta=true -> on`` or ``user in u1,u2 -> off``."""
    if len(rule.values) == 1:
        return f"{rule.field}={rule.values[0]} -> {rule.variant}"
    return f"{rule.field} in {','.join(rule.values)} -> {rule.variant}"


def split_text(flag: Flag) -> str:
    """``20% on / 80% off by user`` ("" without a split)."""
    if not flag.fractional:
        return ""
    parts = " / ".join(f"{p}% {v}" for v, p in flag.fractional.items())
    by = flag.bucket_by or "user"
    return f"{parts} by {by}"


def state_text(flag: Flag) -> str:
    return "on" if flag.enabled else "DISABLED"


def serving_text(flag: Flag) -> str:
    """Who gets which, in order: ``x-lms-beta=true -> on; 20% on / 80% off by user``, or
    ``everyone -> off``; raw JsonLogic for targeting the console does not edit."""
    if not flag.enabled:
        return "nobody: disabled (callers use their code default)"
    if not flag.editable:
        return "custom targeting: " + json.dumps(dict(flag.targeting), separators=(",", ":"))
    parts = [cohort_text(c) for c in flag.cohorts]
    split = split_text(flag)
    default = flag.default_variant or "(code default)"
    if split:
        parts.append(split if not parts else f"others: {split}")
    else:
        parts.append(f"{'others' if parts else 'everyone'} -> {default}")
    return "; ".join(parts)


def variants_text(flag: Flag) -> str:
    """``on*, off`` with the default starred."""
    return ", ".join(f"{v}*" if v == flag.default_variant else v for v in flag.variants)


def flag_lines(flags: Sequence[Flag]) -> list[str]:
    """The human listing of ``rollout flags``: one block per flag."""
    if not flags:
        return ["no flags"]
    out: list[str] = []
    width = max(len(f.key) for f in flags)
    for f in flags:
        out.append(f"{f.key:<{width}}  {state_text(f):<8}  variants: {variants_text(f)}")
        out.append(f"{'':<{width}}  serving:  {serving_text(f)}")
    return out


def flags_json(flags: Sequence[Flag]) -> str:
    """``rollout flags --json``: ``{"flags": [Flag.to_dict() + "serving"]}``."""
    return json.dumps(
        {"flags": [{**f.to_dict(), "serving": serving_text(f)} for f in flags]}, default=str
    )


def change_text(before: Flag | None, after: Flag) -> str:
    """What a change did, for the audit reason and the CLI: ``new-gradebook: <after>
    (was: <before>)``."""
    now = serving_text(after)
    if before is None:
        return f"{after.key}: {now}"
    was = serving_text(before)
    return f"{after.key}: {now}" + (f" (was: {was})" if was != now else " (unchanged)")


# --------------------------------------------------------------------------- the screen


@dataclass(frozen=True)
class VariantRow:
    """One variant of one flag on the Flags screen."""

    flag: str
    variant: str
    share: str  # "default", "20%", "beta", "" (who gets it, short)
    rate: str
    errors: str
    p95: str


def _who(flag: Flag, variant: str) -> str:
    bits = [c.field for c in flag.cohorts if c.variant == variant]
    if flag.fractional.get(variant):
        bits.append(f"{flag.fractional[variant]}%")
    elif variant == flag.default_variant and not flag.fractional:
        bits.append("default")
    return " ".join(bits) if flag.enabled else ""


def variant_rows(flag: Flag, samples: Mapping[str, MetricSample] | None) -> list[VariantRow]:
    """A row per variant (and ``default`` when the code default was served recently)."""
    names = list(flag.variants)
    if samples:
        names += [v for v in samples if v not in names and (samples[v].requests or 0) > 0]
    rows = []
    for v in names:
        s = samples.get(v) if samples else None
        rows.append(
            VariantRow(
                flag=flag.key,
                variant=v,
                share=_who(flag, v) if v in flag.variants else "code default",
                rate=_num(s.request_rate if s else None, "{:.1f}/s"),
                errors=_num(
                    s.error_ratio * 100 if s and s.error_ratio is not None else None, "{:.1f}%"
                ),
                p95=_num(s.p95 * 1000 if s and s.p95 is not None else None, "{:.0f}ms"),
            )
        )
    return rows


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def summary_line(flags: Sequence[Flag]) -> str:
    """``2 flags, 1 with a split, 0 disabled``."""
    split = sum(1 for f in flags if f.fractional)
    off = sum(1 for f in flags if not f.enabled)
    return f"{len(flags)} flags, {split} with a split, {off} disabled"


def to_jsonable(flags: Sequence[Flag]) -> list[dict[str, Any]]:
    return [f.to_dict() for f in flags]
