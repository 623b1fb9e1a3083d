"""Small pieces of plan validation: the error types, durations, name patterns and warnings.

Split from ``console/plan.py`` (which walks the YAML) to keep each module one screenful of
ideas. Import the public names from ``console.plan.load``.
"""

from __future__ import annotations

import datetime
import difflib
import itertools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from backends import units
from backends.base import Strategy
from console.plan.model import PauseStep, Plan, SetWeightStep

MAX_DURATION = 30 * 86400.0  # 30 days: longer is a typo (``5000h``), not a plan

DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# registry/path:tag or @sha256:digest; a bare DNS label is a version, not an image.
IMAGE_REF = re.compile(
    r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
)
METRIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
COOKIE_NAME = HEADER_NAME
HEADER_VALUE = re.compile(r"[\t\x20-\x7e]{0,4096}")
URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][^\s]*)?|https?://\[[0-9a-fA-F:.]+\](?::[0-9]{1,5})?(?:[/?#][^\s]*)?"
)


@dataclass(frozen=True)
class FieldError:
    """One problem in a plan file. ``line`` is 1-based (0: the file as a whole)."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class PlanError(Exception):
    """A plan file was rejected; ``errors`` lists every problem found, in line order."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def parse_duration(value: Any) -> float:
    """``500ms``, ``30s``, ``5m``, ``1h``, ``1m30s`` or a bare number (seconds) -> seconds.

    The grammar is ``backends.units``'; this adds the plan's checks and wording. Raises
    ``ValueError`` with a message that says what is allowed.
    """
    allowed = "a duration like 500ms, 30s, 5m or 1h (a bare number is seconds)"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected {allowed}, got {kind(value)}")
    try:
        seconds = units.parse_duration(value)
    except ValueError:
        if str(value).strip().startswith("-"):  # only text fails to parse
            raise ValueError(f"{value!r} is negative: durations are 0 or more") from None
        raise ValueError(f"{value!r} is not {allowed}") from None
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a finite duration")
    if seconds < 0:
        raise ValueError(f"{value!r} is negative: durations are 0 or more")
    return seconds


def kind(value: Any) -> str:
    """How a YAML value reads to a person: 'a string', 'true/false', 'a list', ..."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, bytes):
        return "binary data"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def got(value: Any) -> str:
    """A value as an error message shows it: "a string 'ten'", "true", "nothing (null)"."""
    if value is None:
        return kind(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{kind(value)} {value!r}"


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest allowed word (``setweight``, ``set_weight`` -> ``setWeight``), or None."""
    choices = list(choices)

    def norm(s: str) -> str:
        return re.sub(r"[-_\s]", "", s).lower()

    for c in choices:
        if norm(c) == norm(word):
            return c
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return close[0]
    close = difflib.get_close_matches(norm(word), [norm(c) for c in choices], n=1, cutoff=0.7)
    return next((c for c in choices if norm(c) == close[0]), None) if close else None


def warn_plan(plan: Plan, warn: Callable[[str, str], None]) -> None:
    """Report legal but probably unintended choices as ``warn(field, message)``."""
    a = plan.analysis
    if plan.strategy in (Strategy.CANARY, Strategy.FLAG):
        weights = [(i, s.weight) for i, s in enumerate(plan.steps) if isinstance(s, SetWeightStep)]
        # Match routes and mirroring expose the candidate (and analysis judges it) at 0%.
        exposed = bool(plan.match) or plan.mirror > 0
        if not weights and not exposed:
            warn(
                "steps",
                "no setWeight step: the candidate takes no traffic until the end, "
                "then all of it at once",
            )
        elif not exposed and all(w == 0 for _, w in weights):
            warn(
                "steps",
                "every setWeight is 0: the candidate takes no traffic until the end, "
                "then all of it at once",
            )
        for (_, prev), (i, w) in itertools.pairwise(weights):
            if w < prev:
                warn(
                    f"steps[{i}].setWeight",
                    f"weight goes down from {prev}% to {w}%; that is allowed, but is it meant?",
                )
        for i, s in enumerate(plan.steps):
            if isinstance(s, SetWeightStep) and s.weight == 100 and i < len(plan.steps) - 1:
                warn(
                    f"steps[{i}].setWeight",
                    "100% before the last step: the steps after it only hold the rollout at 100%",
                )
                break
        if a is not None:
            for i, s in enumerate(plan.steps):
                if isinstance(s, PauseStep) and s.duration is not None and s.duration < a.interval:
                    warn(
                        f"steps[{i}].pause",
                        f"shorter than the analysis interval "
                        f"({s.duration:g}s < {a.interval:g}s): analysis may not measure it",
                    )
    if a is None and plan.strategy not in (Strategy.BLUEGREEN, Strategy.EXPERIMENT):
        warn("analysis", "analysis is off: nothing rolls back automatically")
    bg_spec = plan.bluegreen
    if bg_spec is not None and bg_spec.preview_analysis is bg_spec.post_promotion_analysis is None:
        warn(
            "strategy",
            "no previewAnalysis and no postPromotionAnalysis: nothing judges the candidate "
            "and nothing switches back automatically",
        )
    specs = [("analysis", a)]
    bg = plan.bluegreen
    if bg is not None:
        specs += [
            ("previewAnalysis", bg.preview_analysis),
            ("postPromotionAnalysis", bg.post_promotion_analysis),
        ]
        if bg.preview_analysis is not None and not plan.mirror and not plan.match:
            warn(
                "previewAnalysis",
                "the preview takes no traffic without mirror or match, so "
                "its analysis sees no requests and stays inconclusive (minRequests)",
            )
    for field, spec in specs:
        for i, m in enumerate(spec.metrics if spec else ()):
            if m.query is not None and not re.search(r"\{\{\s*version\s*\}\}", m.query):
                warn(
                    f"{field}.metrics[{i}].query",
                    "no {{version}} placeholder: the query "
                    "cannot tell the candidate from the stable version",
                )
