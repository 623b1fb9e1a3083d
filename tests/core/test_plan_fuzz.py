"""Fuzzed plan files: every input is either a Plan or a PlanError with a message, never a crash.

Inputs: hypothesis-generated YAML documents built from the plan's own keys, random text and
bytes, and mutations of the shipped examples (a key deleted, a value's type changed, junk
inserted, characters spliced into the text).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from console.plan.load import PlanError, check_file, parse_plan, summarize
from console.plan.model import Plan
from tests.support.properties import examples

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {p.name: p.read_text() for p in sorted((ROOT / "examples").glob("*.yaml"))}
BROKEN = {p.name: p.read_text() for p in sorted((ROOT / "examples" / "broken").glob("*.yaml"))}

KEYS = [
    "service", "strategy", "stable", "candidate", "steps", "setWeight", "pause", "duration",
    "analysis", "interval", "window", "minRequests", "failureLimit", "inconclusiveLimit",
    "consecutiveErrorLimit", "onFailure", "metrics", "name", "min", "max", "query", "match",
    "header", "cookie", "mirror", "notify", "webhooks", "previewAnalysis", "autoPromote",
    "postPromotionAnalysis", "scaleDownDelay", "previewDuration", "instances", "maxSurge",
    "maxUnavailable", "minReady", "pauseBetweenBatches", "baseline", "maxIncrease", "maxRatio",
    "test", "alpha", "slowerThan", "progressDeadline",
]  # fmt: skip
WORDS = [
    "canary", "bluegreen", "rolling", "courses", "v1", "v2", "30s", "500ms", "5m", "-1s",
    "rollback", "pause", "error-rate", "latency-p99", "request-rate", "https://h.example/x",
    "ftp://x", "{{version}}", "5%", "true", "", "Ü", "\t", "stable", "sequential",
    "slow-requests", "1.5", "0.01",
]  # fmt: skip

FUZZ = examples("ROLLOUT_FUZZ_EXAMPLES", 150, HealthCheck.filter_too_much)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=25,
)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=12)


def accepted_or_rejected(text: str, source: str = "fuzz.yaml") -> Plan | None:
    """The property: a Plan (that round-trips and summarizes) or a PlanError with messages."""
    try:
        plan = parse_plan(text, source)
    except PlanError as exc:
        assert exc.errors
        for e in exc.errors:
            assert e.file == source
            assert e.line >= 0
            assert e.message.strip()
        assert str(exc).startswith(source)
        return None
    assert Plan.from_dict(plan.to_dict()) == plan
    assert plan.service in summarize(plan)
    return plan


@FUZZ
@given(documents)
def test_generated_documents(doc: dict[str, Any]) -> None:
    accepted_or_rejected(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    accepted_or_rejected(text)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_examples(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(sorted(EXAMPLES)))
    doc = yaml.safe_load(EXAMPLES[name])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["delete", "replace", "junk"]))
        if op == "delete":
            del parent[path[-1]]
        elif op == "replace":
            parent[path[-1]] = draw(values)
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(values)
        else:
            parent.insert(draw(st.integers(0, len(parent))), draw(values))
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@FUZZ
@given(mutated_examples())
def test_mutated_examples(text: str) -> None:
    accepted_or_rejected(text)


@FUZZ
@given(
    st.sampled_from(sorted({**EXAMPLES, **BROKEN}.items())),
    st.integers(min_value=0, max_value=10_000),
    st.text(alphabet=":-{}[]&*!|>'\"#%@` \t\n0123456789abc", min_size=1, max_size=6),
    st.integers(min_value=0, max_value=6),
)
def test_spliced_text(item: tuple[str, str], at: int, junk: str, cut: int) -> None:
    _, text = item
    at %= len(text) + 1
    accepted_or_rejected(text[:at] + junk + text[at + cut :])


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_from_a_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bytes.yaml"
        path.write_bytes(data)
        try:
            check_file(path)
        except PlanError as exc:
            assert exc.errors and all(e.file == str(path) for e in exc.errors)


def test_examples_accepted_and_broken_rejected() -> None:
    for name, text in EXAMPLES.items():
        assert accepted_or_rejected(text, name) is not None, name
    for name, text in BROKEN.items():
        assert accepted_or_rejected(text, name) is None, name
