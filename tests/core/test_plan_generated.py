"""Generated valid plans: any legal combination of fields parses to exactly the expected Plan.

Hypothesis draws each field in one of its accepted spellings together with the value the
parser must produce, writes the document as YAML, and compares the whole Plan; then the
Plan must survive the rollout record (``to_dict``/``from_dict``, through JSON).
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from backends.base import MatchRule, Strategy
from console.plan.load import check_plan, parse_plan, summarize
from console.plan.model import (
    BUILTIN_METRICS,
    LATENCY_METRICS,
    AnalysisSpec,
    BlueGreenSpec,
    MetricSpec,
    OnFailure,
    PauseStep,
    Plan,
    RollingSpec,
    SetWeightStep,
)
from tests.support.properties import examples

SETTINGS = examples("ROLLOUT_FUZZ_EXAMPLES", 150)

labels = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
tokens = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,12}", fullmatch=True)


@st.composite
def durations(draw: st.DrawFn, min_ms: int = 0) -> tuple[Any, float]:
    """(how it is written, seconds it means)."""
    ms = draw(st.integers(min_value=min_ms, max_value=86_400_000))
    form = draw(st.sampled_from(["ms", "s", "m", "bare"]))
    if form == "ms":
        return f"{ms}ms", ms / 1000
    if form == "s" and ms % 1000 == 0:
        return f"{ms // 1000}s", ms / 1000
    if form == "m" and ms % 60_000 == 0:
        return f"{ms // 60_000}m", ms / 1000
    return (ms // 1000 if ms % 1000 == 0 else ms / 1000), ms / 1000


@st.composite
def metrics(draw: st.DrawFn) -> tuple[dict[str, Any], MetricSpec]:
    name = draw(st.one_of(st.sampled_from(BUILTIN_METRICS), tokens))
    custom = name not in BUILTIN_METRICS
    query = 'sum(rate(x_{version="{{version}}"}[{{window}}]))' if custom else None
    doc: dict[str, Any] = {"name": name} | ({"query": query} if query else {})
    bounds: dict[str, float] = {}
    for key in draw(st.sampled_from([("min",), ("max",), ("min", "max")])):
        if name in LATENCY_METRICS:
            text, value = draw(durations(min_ms=0).filter(lambda d: d[1] <= 10))
        elif name == "error-rate":
            pct = draw(st.integers(0, 100))
            text, value = draw(st.sampled_from([(f"{pct}%", pct / 100), (pct / 100, pct / 100)]))
        elif name == "request-rate":
            value = text = draw(st.integers(0, 10_000))
        else:
            value = text = draw(st.floats(-1e9, 1e9, allow_nan=False).map(lambda f: round(f, 3)))
        doc[key], bounds[key] = text, float(value)
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        doc["min"], doc["max"] = doc["max"], doc["min"]
        bounds["min"], bounds["max"] = bounds["max"], bounds["min"]
    return doc, MetricSpec(name=name, min=bounds.get("min"), max=bounds.get("max"), query=query)


@st.composite
def compared_metrics(draw: st.DrawFn) -> tuple[dict[str, Any], MetricSpec]:
    """A metric judged against the stable: per window, or with the sequential test."""
    name = draw(st.sampled_from(["error-rate", "slow-requests", *LATENCY_METRICS]))
    doc: dict[str, Any] = {"name": name, "baseline": "stable"}
    kw: dict[str, Any] = {"baseline": "stable"}
    if name == "slow-requests":
        doc["slowerThan"], kw["slower_than"] = draw(durations(min_ms=1))
    if draw(st.booleans()):
        ratio = draw(st.integers(101, 100_000)) / 100
        doc["maxRatio"], kw["max_ratio"] = ratio, ratio
    elif name in LATENCY_METRICS:
        doc["maxIncrease"], kw["max_increase"] = draw(
            durations(min_ms=1).filter(lambda d: d[1] <= 10)
        )
    else:
        pct = draw(st.integers(1, 100))
        doc["maxIncrease"], kw["max_increase"] = draw(
            st.sampled_from([(f"{pct}%", pct / 100), (pct / 100, pct / 100)])
        )
    if name not in LATENCY_METRICS and draw(st.booleans()):
        doc["test"] = kw["test"] = "sequential"
        if draw(st.booleans()):
            doc["alpha"] = kw["alpha"] = draw(st.integers(1, 500)) / 1000
    elif name == "slow-requests" or draw(st.booleans()):
        pct = draw(st.integers(0, 100))
        doc["max"], kw["max"] = pct / 100, pct / 100
    return doc, MetricSpec(name=name, **kw)


@st.composite
def analyses(draw: st.DrawFn) -> tuple[dict[str, Any], AnalysisSpec]:
    doc: dict[str, Any] = {}
    kw: dict[str, Any] = {}
    for key, attr, strat in [
        ("interval", "interval", durations(min_ms=100)),
        ("window", "window", durations(min_ms=100)),
        ("minRequests", "min_requests", st.integers(0, 10**6).map(lambda n: (n, n))),
        ("failureLimit", "failure_limit", st.integers(0, 1000).map(lambda n: (n, n))),
        ("inconclusiveLimit", "inconclusive_limit", st.integers(1, 1000).map(lambda n: (n, n))),
        (
            "consecutiveErrorLimit",
            "consecutive_error_limit",
            st.integers(1, 1000).map(lambda n: (n, n)),
        ),
        ("onFailure", "on_failure", st.sampled_from(OnFailure).map(lambda o: (o.value, o))),
    ]:
        if draw(st.booleans()):
            doc[key], kw[attr] = draw(strat)
    if draw(st.booleans()):
        ms = draw(
            st.lists(
                st.one_of(metrics(), compared_metrics()),
                min_size=1,
                max_size=4,
                unique_by=lambda m: m[1].name,
            )
        )
        doc["metrics"], kw["metrics"] = [m[0] for m in ms], tuple(m[1] for m in ms)
    return doc, AnalysisSpec(**kw)


@st.composite
def steps(draw: st.DrawFn) -> tuple[list[Any], tuple[Any, ...]]:
    out_doc: list[Any] = []
    out: list[Any] = []
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            w = draw(st.integers(0, 100))
            out_doc.append({"setWeight": w})
            out.append(SetWeightStep(w))
        else:
            kind = draw(st.sampled_from(["gate", "gate-null", "short", "long"]))
            if kind == "gate":
                out_doc.append({"pause": {}})
                out.append(PauseStep(None))
            elif kind == "gate-null":
                out_doc.append({"pause": None})
                out.append(PauseStep(None))
            else:
                text, secs = draw(durations(min_ms=1))
                out_doc.append({"pause": text if kind == "short" else {"duration": text}})
                out.append(PauseStep(secs))
    return out_doc, tuple(out)


@st.composite
def plans(draw: st.DrawFn) -> tuple[dict[str, Any], Plan]:
    # The version strategies; flag and experiment plans (no candidate: a variant or arms)
    # have their own tests in tests/flagplan.
    strategy = draw(st.sampled_from([Strategy.CANARY, Strategy.BLUEGREEN, Strategy.ROLLING]))
    service, candidate = draw(labels), draw(labels)
    doc: dict[str, Any] = {"service": service, "candidate": candidate}
    kw: dict[str, Any] = {"service": service, "candidate": candidate, "strategy": strategy}
    if strategy is not Strategy.CANARY or draw(st.booleans()):
        doc["strategy"] = strategy.value
    stable = draw(st.none() | labels.filter(lambda s: s != candidate))
    if stable is not None:
        doc["stable"], kw["stable"] = stable, stable
    if strategy is not Strategy.BLUEGREEN:
        choice = draw(st.sampled_from(["default", "off", "block"]))
        if choice == "off":
            doc["analysis"], kw["analysis"] = False, None
        elif choice == "block":
            doc["analysis"], kw["analysis"] = draw(analyses())
    else:
        kw["analysis"] = None
    if strategy is Strategy.CANARY:
        doc["steps"], kw["steps"] = draw(steps())
    if strategy is not Strategy.ROLLING:
        if draw(st.booleans()):
            rules = draw(
                st.lists(
                    st.tuples(
                        st.dictionaries(tokens, tokens, max_size=2),
                        st.dictionaries(tokens, tokens, max_size=2),
                    ).filter(lambda hc: hc[0] or hc[1]),
                    min_size=1,
                    max_size=3,
                )
            )
            doc["match"] = [
                ({"header": h} if h else {}) | ({"cookie": c} if c else {}) for h, c in rules
            ]
            kw["match"] = tuple(MatchRule(headers=h, cookies=c) for h, c in rules)
        if draw(st.booleans()):
            doc["mirror"] = kw["mirror"] = draw(st.integers(0, 100))
    if strategy is Strategy.BLUEGREEN:
        bg: dict[str, Any] = {}
        for key, attr in [
            ("previewAnalysis", "preview_analysis"),
            ("postPromotionAnalysis", "post_promotion_analysis"),
        ]:
            if draw(st.booleans()):
                doc[key], bg[attr] = draw(analyses())
        ap = draw(st.sampled_from(["absent", "false", "true", "duration"]))
        if ap == "false":
            doc["autoPromote"] = False
        elif ap == "true":
            doc["autoPromote"], bg["auto_promote"] = True, 0.0
        elif ap == "duration":
            doc["autoPromote"], bg["auto_promote"] = draw(durations())
        for key, attr in [
            ("scaleDownDelay", "scale_down_delay"),
            ("previewDuration", "preview_duration"),
        ]:
            if draw(st.booleans()):
                doc[key], bg[attr] = draw(durations())
        kw["bluegreen"] = BlueGreenSpec(**bg)
    if strategy is Strategy.ROLLING:
        rs: dict[str, Any] = {}
        if draw(st.booleans()):
            doc["instances"] = rs["instances"] = draw(st.integers(1, 1000))
        surge, unavailable = draw(
            st.tuples(st.integers(0, 50), st.integers(0, 50)).filter(lambda t: sum(t) > 0)
        )
        if surge != 1 or draw(st.booleans()):
            doc["maxSurge"] = rs["max_surge"] = surge
        if unavailable != 0 or draw(st.booleans()):
            doc["maxUnavailable"] = rs["max_unavailable"] = unavailable
        for key, attr in [
            ("minReady", "min_ready"),
            ("pauseBetweenBatches", "pause_between_batches"),
        ]:
            if draw(st.booleans()):
                doc[key], rs[attr] = draw(durations())
        kw["rolling"] = RollingSpec(**rs)
    if draw(st.booleans()):
        doc["progressDeadline"], kw["progress_deadline"] = draw(durations(min_ms=1000))
    if draw(st.booleans()):
        hooks = draw(st.lists(labels.map(lambda h: f"https://{h}.example.org/hook"), max_size=3))
        doc["notify"] = {"webhooks": hooks}
        kw["webhooks"] = tuple(hooks)
    return doc, Plan(source="gen.yaml", **kw)


@SETTINGS
@given(plans(), st.booleans())
def test_generated_plans_parse_to_the_expected_plan(
    case: tuple[dict[str, Any], Plan], flow: bool
) -> None:
    doc, expected = case
    text = yaml.safe_dump(doc, default_flow_style=flow, sort_keys=False, allow_unicode=True)
    plan = parse_plan(text, "gen.yaml")
    assert plan == expected
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    summary = summarize(plan)
    assert summary.startswith(f"{plan.service}: {plan.strategy.value} from ")
    # Warnings never hide an error and always point at a line inside the document.
    _, warnings = check_plan(text, "gen.yaml")
    assert all(1 <= w.line <= text.count("\n") + 1 for w in warnings)
