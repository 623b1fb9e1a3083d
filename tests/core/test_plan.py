"""Plan files: every field, every default, every error class, and the line each error names."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from backends.base import MatchRule, Strategy
from console.plan.load import (
    FieldError,
    PlanError,
    check_plan,
    format_duration,
    load_plan,
    parse_duration,
    parse_plan,
)
from console.plan.model import (
    AnalysisSpec,
    BlueGreenSpec,
    MetricSpec,
    OnFailure,
    PauseStep,
    Plan,
    RollingSpec,
    SetWeightStep,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

MINIMAL = "service: courses\ncandidate: v2\nsteps: [{setWeight: 50}]\n"


def parse(text: str) -> Plan:
    return parse_plan(textwrap.dedent(text), "plan.yaml")


def errors(text: str) -> list[FieldError]:
    with pytest.raises(PlanError) as info:
        parse(text)
    assert info.value.errors, "a PlanError always lists at least one error"
    return info.value.errors


def only_error(text: str) -> FieldError:
    errs = errors(text)
    assert len(errs) == 1, errs
    return errs[0]


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1m30s", 90.0),
        ("1.5s", 1.5),
        ("0s", 0.0),
        (" 10s ", 10.0),
        ("10", 10.0),
        (10, 10.0),
        (0.25, 0.25),
    ],
)
def test_parse_duration_accepts(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("soon", "not a duration like 500ms"),
        ("", "not a duration"),
        ("5x", "not a duration"),
        ("s", "not a duration"),
        ("-1s", "negative"),
        (-3, "negative"),
        (float("inf"), "finite"),
        (float("nan"), "finite"),
        (True, "got true/false"),
        (None, "got nothing"),
        ([1], "got a list"),
    ],
)
def test_parse_duration_rejects(value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "400ms"), (0.0, "0ms"), (1.5, "1.5s"), (30, "30s"), (90, "1m30s"), (3600, "1h")],
)
def test_format_duration_is_the_inverse(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


# --------------------------------------------------------------------------- accepted plans


DESIGN_EXAMPLE = """\
service: courses          # required
strategy: canary          # canary | bluegreen | rolling
stable: v1
candidate: v2
steps:
  - setWeight: 10
  - pause: 30s
  - setWeight: 50
  - pause: {}
  - setWeight: 100
analysis:
  interval: 5s
  minRequests: 20
  failureLimit: 1
  inconclusiveLimit: 3
  consecutiveErrorLimit: 4
  onFailure: rollback
  metrics:
    - {name: error-rate, max: 0.05}
    - {name: latency-p99, max: 400ms}
    - {name: checkout-ok, query: 'sum(rate(x{version="{{version}}"}[{{window}}]))', min: 0.99}
match:
  - header: {x-lms-beta: "true"}
mirror: 0
notify:
  webhooks: [https://hooks.example.org/T0/B0]
"""


def test_design_example_parses_to_exactly_this_plan() -> None:
    plan = parse_plan(DESIGN_EXAMPLE, "design.yaml")
    assert plan == Plan(
        service="courses",
        strategy=Strategy.CANARY,
        candidate="v2",
        stable="v1",
        steps=(
            SetWeightStep(10),
            PauseStep(30.0),
            SetWeightStep(50),
            PauseStep(None),
            SetWeightStep(100),
        ),
        analysis=AnalysisSpec(
            interval=5.0,
            min_requests=20,
            failure_limit=1,
            inconclusive_limit=3,
            consecutive_error_limit=4,
            on_failure=OnFailure.ROLLBACK,
            metrics=(
                MetricSpec("error-rate", max=0.05),
                MetricSpec("latency-p99", max=0.4),
                MetricSpec(
                    "checkout-ok",
                    min=0.99,
                    query='sum(rate(x{version="{{version}}"}[{{window}}]))',
                ),
            ),
        ),
        match=(MatchRule(headers={"x-lms-beta": "true"}),),
        webhooks=("https://hooks.example.org/T0/B0",),
        source="design.yaml",
    )


def test_minimal_canary_gets_the_documented_defaults() -> None:
    plan = parse(MINIMAL)
    assert plan.strategy is Strategy.CANARY  # strategy defaults to canary
    assert plan.stable is None
    assert plan.analysis == AnalysisSpec()
    assert plan.analysis.metrics == (MetricSpec("error-rate", max=0.05),)
    assert (plan.mirror, plan.match, plan.webhooks) == (0, (), ())
    assert plan.bluegreen is None and plan.rolling is None
    assert plan.source == "plan.yaml"


@pytest.mark.parametrize(
    ("pause", "duration"),
    [
        ("{}", None),
        ("", None),  # `pause:` with nothing is a manual gate too
        ("null", None),
        ("30s", 30.0),
        ("30", 30.0),
        ("1m30s", 90.0),
        ("{duration: 500ms}", 0.5),
        ("{duration: 2}", 2.0),
    ],
)
def test_pause_forms(pause: str, duration: float | None) -> None:
    plan = parse(f"service: courses\ncandidate: v2\nsteps:\n  - pause: {pause}\n")
    assert plan.steps == (PauseStep(duration),)


def test_weights_need_not_end_at_100_or_rise() -> None:
    plan, warnings = check_plan(
        "service: a\ncandidate: v2\nsteps: [{setWeight: 50}, {setWeight: 20}, {pause: 10s}]\n",
        "p.yaml",
    )
    assert [s.weight for s in plan.steps if isinstance(s, SetWeightStep)] == [50, 20]
    assert [(w.field, w.line) for w in warnings] == [("steps[1].setWeight", 3)]
    assert "goes down from 50% to 20%" in warnings[0].message


def test_analysis_false_turns_analysis_off_with_a_warning() -> None:
    plan, warnings = check_plan(MINIMAL + "analysis: false\n", "p.yaml")
    assert plan.analysis is None
    assert [w.field for w in warnings] == ["analysis"]


def test_analysis_fields_and_partial_defaults() -> None:
    plan = parse(
        MINIMAL
        + "analysis:\n  interval: 2s\n  window: 10s\n  onFailure: pause\n"
        + "  metrics:\n    - {name: request-rate, min: 1}\n    - {name: latency-p50, max: 0.2}\n"
        + "    - {name: error-rate, max: '2.5%'}\n    - {name: latency-p95, min: 1ms, max: 1s}\n"
    )
    a = plan.analysis
    assert a is not None
    assert (a.interval, a.window, a.effective_window, a.on_failure) == (
        2.0,
        10.0,
        10.0,
        OnFailure.PAUSE,
    )
    assert (a.min_requests, a.failure_limit, a.inconclusive_limit) == (20, 0, 3)
    assert a.metrics == (
        MetricSpec("request-rate", min=1.0),
        MetricSpec("latency-p50", max=0.2),
        MetricSpec("error-rate", max=0.025),
        MetricSpec("latency-p95", min=0.001, max=1.0),
    )


def test_custom_metric_may_use_every_placeholder() -> None:
    q = "sum(x{service='{{service}}',ns='{{ namespace }}',version='{{version}}'}[{{window}}])"
    plan = parse(MINIMAL + f'analysis:\n  metrics: [{{name: ok.rate_1, query: "{q}", max: -1}}]\n')
    assert plan.analysis is not None
    assert plan.analysis.metrics == (MetricSpec("ok.rate_1", max=-1.0, query=q),)


def test_match_headers_and_cookies_and_mirror() -> None:
    plan = parse(
        MINIMAL
        + "match:\n  - header: {x-lms-beta: 'true', X-Team: qa}\n    cookie: {cohort: b}\n"
        + "  - cookie: {canary: 'yes'}\nmirror: 25\n"
    )
    assert plan.match == (
        MatchRule(headers={"x-lms-beta": "true", "X-Team": "qa"}, cookies={"cohort": "b"}),
        MatchRule(cookies={"canary": "yes"}),
    )
    assert plan.mirror == 25


def test_bluegreen_fields() -> None:
    plan = parse(
        """\
        service: enrollments
        strategy: bluegreen
        candidate: registry.example.org/lms/enrollments:2.0.1
        previewAnalysis: {metrics: [{name: error-rate, max: 0.01}]}
        postPromotionAnalysis: {interval: 1s, failureLimit: 2}
        autoPromote: 1m
        scaleDownDelay: 0
        previewDuration: 45s
        mirror: 10
        """
    )
    assert plan.strategy is Strategy.BLUEGREEN
    assert plan.candidate == "registry.example.org/lms/enrollments:2.0.1"
    assert plan.analysis is None and plan.steps == ()
    assert plan.bluegreen == BlueGreenSpec(
        preview_analysis=AnalysisSpec(metrics=(MetricSpec("error-rate", max=0.01),)),
        auto_promote=60.0,
        post_promotion_analysis=AnalysisSpec(interval=1.0, failure_limit=2),
        scale_down_delay=0.0,
        preview_duration=45.0,
    )


@pytest.mark.parametrize(
    ("value", "seconds"), [("false", None), ("true", 0.0), ("0", 0.0), ("30s", 30.0), ("", None)]
)
def test_auto_promote(value: str, seconds: float | None) -> None:
    text = "service: a\nstrategy: bluegreen\ncandidate: v2\n"
    plan = parse(text + (f"autoPromote: {value}\n" if value else ""))
    assert plan.bluegreen is not None
    assert plan.bluegreen.auto_promote == seconds


def test_bluegreen_defaults() -> None:
    plan = parse("service: a\nstrategy: bluegreen\ncandidate: v2\n")
    assert plan.bluegreen == BlueGreenSpec()
    assert plan.analysis is None
    off = parse("service: a\nstrategy: bluegreen\ncandidate: v2\npreviewAnalysis: false\n")
    assert off.bluegreen == BlueGreenSpec(preview_analysis=None)


def test_rolling_fields_and_defaults() -> None:
    text = "service: grades\nstrategy: rolling\ncandidate: v2\n"
    assert parse(text).rolling == RollingSpec()
    assert parse(text).analysis == AnalysisSpec()
    plan = parse(
        text + "instances: 5\nmaxSurge: 2\nmaxUnavailable: 1\nminReady: 500ms\n"
        "pauseBetweenBatches: 1m\n"
    )
    assert plan.rolling == RollingSpec(
        instances=5, max_surge=2, max_unavailable=1, min_ready=0.5, pause_between_batches=60.0
    )


def test_yaml_anchors_and_merge_keys_work() -> None:
    plan = parse(
        """\
        service: enrollments
        strategy: bluegreen
        candidate: v2
        previewAnalysis: &checks
          interval: 2s
          metrics: [{name: error-rate, max: 0.01}]
        postPromotionAnalysis:
          <<: *checks
          failureLimit: 3
        """
    )
    assert plan.bluegreen is not None
    pre, post = plan.bluegreen.preview_analysis, plan.bluegreen.post_promotion_analysis
    assert pre is not None and post is not None
    assert (post.interval, post.metrics, post.failure_limit) == (2.0, pre.metrics, 3)


def test_utf8_bom_and_crlf_are_fine() -> None:
    plan = parse_plan("\ufeff" + MINIMAL.replace("\n", "\r\n"), "bom.yaml")
    assert plan.service == "courses"


# --------------------------------------------------------------------------- rejected plans


@pytest.mark.parametrize(
    ("text", "line", "field", "fragment"),
    [
        # top level
        ("service: a\ncandidate: v2\nstep: []\n", 3, "step", "did you mean steps?"),
        (MINIMAL + "Mirror: 5\n", 4, "Mirror", "did you mean mirror?"),
        (MINIMAL + "zzz: 1\n", 4, "zzz", "allowed here: service, strategy"),
        (MINIMAL + "1: x\n", 4, "", "keys must be names; 1 is not"),
        (MINIMAL + "service: b\n", 4, "service", "duplicate key (first on line 1)"),
        ("strategy: canary\ncandidate: v2\nsteps: [{pause: 1s}]\n", 1, "service", "required"),
        ("service: a\nsteps: [{pause: 1s}]\n", 1, "candidate", "required"),
        ("service: a\ncandidate: v2\n", 1, "steps", "required for a canary"),
        ("service: a\ncandidate: v2\nsteps: []\n", 3, "steps", "at least one step"),
        ("service: a\ncandidate: v2\nsteps: {setWeight: 5}\n", 3, "steps", "expected a list"),
        (MINIMAL + "strategy: canry\n", 4, "strategy", "did you mean canary?"),
        (MINIMAL + "strategy: [canary]\n", 4, "strategy", "got a list"),
        # names
        ("service: Courses\ncandidate: v2\nsteps: [{pause: 1s}]\n", 1, "service", "lowercase"),
        ("service: a_b\ncandidate: v2\nsteps: [{pause: 1s}]\n", 1, "service", "'a_b' is not"),
        ("service: 12\ncandidate: v2\nsteps: [{pause: 1s}]\n", 1, "service", "quote it"),
        ("service: a\ncandidate: V 2\nsteps: [{pause: 1s}]\n", 2, "candidate", "image reference"),
        (MINIMAL + "stable: v2\n", 4, "stable", "they must differ"),
        (MINIMAL + "stable: -v1\n", 4, "stable", "not allowed"),
        # steps
        (
            "service: a\ncandidate: v2\nsteps:\n  - setWeight: 101\n",
            4,
            "steps[0].setWeight",
            "0 to 100",
        ),
        (
            "service: a\ncandidate: v2\nsteps:\n  - setWeight: -1\n",
            4,
            "steps[0].setWeight",
            "out of range",
        ),
        (
            "service: a\ncandidate: v2\nsteps:\n  - setWeight: 12.5\n",
            4,
            "steps[0].setWeight",
            "an integer",
        ),
        (
            "service: a\ncandidate: v2\nsteps:\n  - setWeight: '10'\n",
            4,
            "steps[0].setWeight",
            "got a string",
        ),
        (
            "service: a\ncandidate: v2\nsteps:\n  - setWeight: true\n",
            4,
            "steps[0].setWeight",
            "got true",
        ),
        ("service: a\ncandidate: v2\nsteps:\n  - setWeight:\n", 4, "steps[0].setWeight", "nothing"),
        (
            "service: a\ncandidate: v2\nsteps:\n  - {setWeight: 1, pause: 1s}\n",
            4,
            "steps[0]",
            "exactly one key",
        ),
        ("service: a\ncandidate: v2\nsteps:\n  - {}\n", 4, "steps[0]", "exactly one key"),
        ("service: a\ncandidate: v2\nsteps:\n  - 10\n", 4, "steps[0]", "expected a step"),
        ("service: a\ncandidate: v2\nsteps:\n  - weight: 10\n", 4, "steps[0].weight", "setWeight"),
        (
            "service: a\ncandidate: v2\nsteps:\n  - pause: 0s\n",
            4,
            "steps[0].pause",
            "longer than 0",
        ),
        (
            "service: a\ncandidate: v2\nsteps:\n  - pause: later\n",
            4,
            "steps[0].pause",
            "not a duration",
        ),
        ("service: a\ncandidate: v2\nsteps:\n  - pause: 40d\n", 4, "steps[0].pause", "30 days"),
        (
            "service: a\ncandidate: v2\nsteps:\n  - pause: {for: 3s}\n",
            4,
            "steps[0].pause.for",
            "allowed here: duration",
        ),
        ("service: a\ncandidate: v2\nsteps:\n  - pause: [3s]\n", 4, "steps[0].pause", "got a list"),
        # analysis
        (MINIMAL + "analysis: yes please\n", 4, "analysis", "expected an analysis block"),
        (MINIMAL + "analysis: true\n", 4, "analysis", "or false"),
        (MINIMAL + "analysis:\n  interval: 50ms\n", 5, "analysis.interval", "at least 100ms"),
        (MINIMAL + "analysis:\n  window: 0\n", 5, "analysis.window", "at least 100ms"),
        (MINIMAL + "analysis:\n  minRequests: -1\n", 5, "analysis.minRequests", "out of range"),
        (MINIMAL + "analysis:\n  failureLimit: 1.5\n", 5, "analysis.failureLimit", "an integer"),
        (
            MINIMAL + "analysis:\n  inconclusiveLimit: 0\n",
            5,
            "analysis.inconclusiveLimit",
            "from 1 to 1000",
        ),
        (
            MINIMAL + "analysis:\n  consecutiveErrorLimit: 0\n",
            5,
            "analysis.consecutiveErrorLimit",
            "from 1",
        ),
        (MINIMAL + "analysis:\n  onFailure: retry\n", 5, "analysis.onFailure", "rollback or pause"),
        (
            MINIMAL + "analysis:\n  min_requests: 5\n",
            5,
            "analysis.min_requests",
            "did you mean minRequests?",
        ),
        (MINIMAL + "analysis:\n  metrics: []\n", 5, "analysis.metrics", "analysis: false"),
        (
            MINIMAL + "analysis:\n  metrics: error-rate\n",
            5,
            "analysis.metrics",
            "expected a list of metrics",
        ),
        # metrics
        (
            MINIMAL + "analysis:\n  metrics:\n    - max: 1\n",
            6,
            "analysis.metrics[0].name",
            "required",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: error-rate}\n",
            6,
            "analysis.metrics[0]",
            "min, max or both",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: eror-rate, max: 1}\n",
            6,
            "analysis.metrics[0].name",
            "did you mean error-rate?",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: 'a b', max: 1}\n",
            6,
            "analysis.metrics[0].name",
            "not a metric name",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: error-rate, max: 1.5}\n",
            6,
            "analysis.metrics[0].max",
            "0 to 1",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: error-rate, max: '150%'}\n",
            6,
            "analysis.metrics[0].max",
            "error ratio",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: error-rate, max: low}\n",
            6,
            "analysis.metrics[0].max",
            "error ratio",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: latency-p99, max: quick}\n",
            6,
            "analysis.metrics[0].max",
            "not a latency",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: latency-p99, max: -1}\n",
            6,
            "analysis.metrics[0].max",
            "not a latency",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: request-rate, min: -1}\n",
            6,
            "analysis.metrics[0].min",
            "negative",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: request-rate, min: .inf}\n",
            6,
            "analysis.metrics[0].min",
            "expected a number",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: request-rate, min: true}\n",
            6,
            "analysis.metrics[0].min",
            "got true",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: x, query: q, max: 1, maax: 2}\n",
            6,
            "analysis.metrics[0].maax",
            "did you mean max?",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: x, query: '', max: 1}\n",
            6,
            "analysis.metrics[0].query",
            "PromQL",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: x, query: 'a{{v}}', max: 1}\n",
            6,
            "analysis.metrics[0].query",
            "unknown placeholder {{v}}",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: latency-p50, query: q, max: 1}\n",
            6,
            "analysis.metrics[0].query",
            "built-in",
        ),
        (
            MINIMAL + "analysis:\n  metrics:\n    - {name: request-rate, min: 5, max: 1}\n",
            6,
            "analysis.metrics[0].min",
            "above max",
        ),
        # match, mirror, notify
        (
            MINIMAL + "match:\n  - header: {x-beta: true}\n",
            5,
            "match[0].header.x-beta",
            'quote it: "true"',
        ),
        (
            MINIMAL + "match:\n  - header: {x-beta: 1}\n",
            5,
            "match[0].header.x-beta",
            'quote it: "1"',
        ),
        (
            MINIMAL + "match:\n  - header: {'bad header': x}\n",
            5,
            "match[0].header.bad header",
            "not a valid header name",
        ),
        (
            MINIMAL + "match:\n  - header: {}\n",
            5,
            "match[0].header",
            "expected a mapping of header",
        ),
        (MINIMAL + "match:\n  - headers: {a: b}\n", 5, "match[0].headers", "did you mean header?"),
        (MINIMAL + "match:\n  - {}\n", 5, "match[0]", "would match every request"),
        (MINIMAL + "match: {header: {a: b}}\n", 4, "match", "expected a list of match rules"),
        (MINIMAL + "mirror: 101\n", 4, "mirror", "0 to 100"),
        (MINIMAL + "mirror: '5%'\n", 4, "mirror", "got a string"),
        (
            MINIMAL + "notify:\n  webhooks: [ftp://x.org]\n",
            5,
            "notify.webhooks[0]",
            "http:// or https://",
        ),
        (MINIMAL + "notify:\n  webhooks: ['https://']\n", 5, "notify.webhooks[0]", "with a host"),
        (
            MINIMAL + "notify:\n  webhooks: https://x.org\n",
            5,
            "notify.webhooks",
            "expected a list of URLs",
        ),
        (
            MINIMAL + "notify:\n  webhook: [https://x.org]\n",
            5,
            "notify.webhook",
            "did you mean webhooks?",
        ),
        (MINIMAL + "notify: https://x.org\n", 4, "notify", "{webhooks: [URL, ...]}"),
        # strategy-specific keys
        (
            MINIMAL + "maxSurge: 1\n",
            4,
            "maxSurge",
            "only to strategy rolling (this plan is canary)",
        ),
        (MINIMAL + "autoPromote: true\n", 4, "autoPromote", "only to strategy bluegreen"),
        (
            "service: a\nstrategy: rolling\ncandidate: v2\nsteps: []\n",
            4,
            "steps",
            "only to strategy canary",
        ),
        (
            "service: a\nstrategy: rolling\ncandidate: v2\nmatch: []\n",
            4,
            "match",
            "use canary or bluegreen",
        ),
        (
            "service: a\nstrategy: rolling\ncandidate: v2\nmirror: 5\n",
            4,
            "mirror",
            "use canary or bluegreen",
        ),
        (
            "service: a\nstrategy: bluegreen\ncandidate: v2\nanalysis: {}\n",
            4,
            "analysis",
            "previewAnalysis",
        ),
        # bluegreen / rolling values
        (
            "service: a\nstrategy: bluegreen\ncandidate: v2\nautoPromote: maybe\n",
            4,
            "autoPromote",
            "true, false or a duration",
        ),
        (
            "service: a\nstrategy: bluegreen\ncandidate: v2\nautoPromote: {}\n",
            4,
            "autoPromote",
            "true, false or a duration",
        ),
        (
            "service: a\nstrategy: bluegreen\ncandidate: v2\nscaleDownDelay: -1\n",
            4,
            "scaleDownDelay",
            "negative",
        ),
        (
            "service: a\nstrategy: bluegreen\ncandidate: v2\npreviewAnalysis: 3\n",
            4,
            "previewAnalysis",
            "analysis block",
        ),
        (
            "service: a\nstrategy: bluegreen\ncandidate: v2\npreviewAnalysis:\n  interval: 0s\n",
            5,
            "previewAnalysis.interval",
            "at least",
        ),
        (
            "service: a\nstrategy: rolling\ncandidate: v2\ninstances: 0\n",
            4,
            "instances",
            "from 1 to 1000",
        ),
        (
            "service: a\nstrategy: rolling\ncandidate: v2\nmaxSurge: -1\n",
            4,
            "maxSurge",
            "out of range",
        ),
        ("service: a\nstrategy: rolling\ncandidate: v2\nmaxSurge: 0\n", 4, "maxSurge", "both 0"),
        (
            "service: a\nstrategy: rolling\ncandidate: v2\nminReady: fast\n",
            4,
            "minReady",
            "not a duration",
        ),
        (
            "service: a\nstrategy: rolling\ncandidate: v2\npauseBetweenBatches: [1]\n",
            4,
            "pauseBetweenBatches",
            "got a list",
        ),
    ],
)
def test_each_error_names_line_field_and_what_is_allowed(
    text: str, line: int, field: str, fragment: str
) -> None:
    errs = errors(text)
    assert [(e.line, e.field) for e in errs] == [(line, field)], errs
    assert fragment in errs[0].message
    assert errs[0].file == "plan.yaml"


def test_all_errors_are_reported_in_line_order() -> None:
    errs = errors(
        """\
        service: Bad_Name
        candidate: v2
        steps:
          - setWeight: 500
          - pause: nope
        analysis:
          onFailure: explode
          metrics:
            - {name: error-rate, max: 9}
        mirror: -1
        maxSurge: 1
        """
    )
    assert [(e.line, e.field) for e in errs] == [
        (1, "service"),
        (4, "steps[0].setWeight"),
        (5, "steps[1].pause"),
        (7, "analysis.onFailure"),
        (9, "analysis.metrics[0].max"),
        (10, "mirror"),
        (11, "maxSurge"),
    ]


def test_unknown_strategy_still_reports_the_other_fields() -> None:
    errs = errors("service: a\nstrategy: blue-green\ncandidate: V2\nbogus: 1\n")
    assert [(e.line, e.field) for e in errs] == [(2, "strategy"), (3, "candidate"), (4, "bogus")]
    assert "did you mean bluegreen?" in errs[0].message


def test_duplicate_metric_names_are_rejected() -> None:
    errs = errors(
        MINIMAL
        + "analysis:\n  metrics:\n    - {name: error-rate, max: 0.1}\n    - {name: error-rate, max: 0.2}\n"
    )
    assert [(e.line, e.field) for e in errs] == [(7, "analysis.metrics[1].name")]
    assert "already listed (line 6)" in errs[0].message


def test_plan_error_text_is_file_line_field_message() -> None:
    with pytest.raises(PlanError) as info:
        parse_plan("service: a\ncandidate: v2\nsteps: [{setWeight: 300}]\n", "x/p.yaml")
    assert str(info.value) == (
        "x/p.yaml:3: steps[0].setWeight: 300 is out of range: an integer percent from 0 to 100"
    )


# --------------------------------------------------------------------------- not plans at all


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", 1, "empty file"),
        ("   \n\n", 1, "empty file"),
        ("# only a comment\n", 1, "empty file"),
        ("--- \n...\n", 1, "empty file"),
        ("- a\n- b\n", 1, "not a list"),
        ("just words\n", 1, "not a string"),
        ("42\n", 1, "not an integer"),
        ("service: [a\n", 2, "not valid YAML"),
        ("service: a\n  candidate: b\n", 2, "not valid YAML"),
        ("a: 1\n---\nb: 2\n", 2, "not valid YAML"),
        ("service: a\n\tcandidate: b\n", 2, "not valid YAML"),
        ("service: *nothing\n", 1, "not valid YAML"),
        ("service: !!python/object:os.system x\n", 1, "service"),
        ("service: \x00\x01\x02\n", 1, "not valid YAML"),
        ("[" * 5000 + "]" * 5000, 1, ""),
    ],
)
def test_junk_gives_plan_error(text: str, line: int, fragment: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(text, "junk.yaml")
    first = info.value.errors[0]
    assert first.line == line
    assert fragment in str(first)


def test_recursive_alias_gives_plan_error() -> None:
    with pytest.raises(PlanError):
        parse_plan("service: &a [*a]\ncandidate: v2\nsteps: &s [*s]\n", "r.yaml")


def test_billion_laughs_is_bounded() -> None:
    # Aliases share nodes; the validator walks only the plan's fixed shape, so this is cheap.
    lol = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        lol += f"{'b' * i}: &{'b' * i} [" + ", ".join([f"*{'b' * (i - 1) or 'a'}"] * 9) + "]\n"
    with pytest.raises(PlanError) as info:
        parse_plan(lol + "service: *bbbbbbbb\n", "lol.yaml")
    assert len(info.value.errors) < 20


def test_load_plan_reads_files(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text(MINIMAL)
    assert load_plan(p).source == str(p)
    assert load_plan(str(p)).service == "courses"


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        (b"service: a\ncandidate: \xff\xfe\n", 2, "not UTF-8 text (byte 0xff at offset 22)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", 1, "not UTF-8"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", 1, "not valid YAML"),
        (b"a: " + b"x" * 1_000_001, 0, "larger than 1000000 bytes"),
    ],
)
def test_load_plan_rejects_non_text(
    tmp_path: Path, content: bytes, line: int, fragment: str
) -> None:
    p = tmp_path / "bad.yaml"
    p.write_bytes(content)
    with pytest.raises(PlanError) as info:
        load_plan(p)
    assert [(e.file, e.line) for e in info.value.errors] == [(str(p), line)]
    assert fragment in info.value.errors[0].message


def test_load_plan_missing_directory_unreadable(tmp_path: Path) -> None:
    for path, fragment in [
        (tmp_path / "nope.yaml", "no such file"),
        (tmp_path, "is a directory, not a plan file"),
    ]:
        with pytest.raises(PlanError) as info:
            load_plan(path)
        assert str(info.value) == f"{path}: {fragment}"
    locked = tmp_path / "locked.yaml"
    locked.write_text(MINIMAL)
    locked.chmod(0)
    try:
        if not locked.is_file() or __import__("os").access(locked, __import__("os").R_OK):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(PlanError, match="permission denied"):
            load_plan(locked)
    finally:
        locked.chmod(0o600)


# --------------------------------------------------------------------------- round trip, warnings


def test_examples_round_trip_through_the_record() -> None:
    assert EXAMPLES, "examples/*.yaml exist"
    for path in EXAMPLES:
        plan = load_plan(path)
        assert Plan.from_dict(plan.to_dict()) == plan
        assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


@pytest.mark.parametrize(
    ("extra", "field", "fragment"),
    [
        ("steps: [{pause: 10s}]", "steps", "no setWeight step"),
        # A candidate held at 0% is never measured before it gets everything.
        ("steps: [{setWeight: 0}, {pause: 10s}]", "steps", "every setWeight is 0"),
        ("steps: [{setWeight: 100}, {pause: 1m}]", "steps[0].setWeight", "100% before the last"),
        ("steps: [{setWeight: 5}, {pause: 1s}]", "steps[1].pause", "shorter than the analysis"),
        (
            "steps: [{setWeight: 5}]\nanalysis: {metrics: [{name: c, query: up, min: 1}]}",
            "analysis.metrics[0].query",
            "no {{version}} placeholder",
        ),
        (
            "steps: [{setWeight: 5}]\nanalysis: {metrics: [{name: latency-p99, max: 400}]}",
            "analysis.metrics[0].max",
            "did you mean 400ms?",
        ),
    ],
)
def test_warnings(extra: str, field: str, fragment: str) -> None:
    _, warnings = check_plan(f"service: a\ncandidate: v2\n{extra}\n", "w.yaml")
    assert [w.field for w in warnings] == [field]
    assert fragment in warnings[0].message
    assert warnings[0].line >= 3


@pytest.mark.parametrize("steps", ["[{pause: 10s}]", "[{setWeight: 0}, {pause: 10s}]"])
@pytest.mark.parametrize("exposure", ["mirror: 10", 'match: [{header: {x-beta: "1"}}]'])
def test_a_candidate_exposed_by_match_or_mirror_at_0_percent_is_not_warned(
    steps: str, exposure: str
) -> None:
    # Dark launch and beta cohorts at 0% were warned "the candidate takes no traffic".
    _, warnings = check_plan(f"service: a\ncandidate: v2\nsteps: {steps}\n{exposure}\n", "w.yaml")
    assert warnings == ()


def test_bluegreen_without_any_analysis_warns() -> None:
    # Canary and rolling warn "analysis is off"; a blue/green with neither block said nothing.
    _, warnings = check_plan("service: a\nstrategy: bluegreen\ncandidate: v2\n", "w.yaml")
    assert [(w.line, w.field) for w in warnings] == [(2, "strategy")]
    assert "nothing switches back automatically" in warnings[0].message
    post = "service: a\nstrategy: bluegreen\ncandidate: v2\npostPromotionAnalysis: {}\n"
    assert check_plan(post, "w.yaml")[1] == ()


def test_preview_analysis_without_traffic_warns() -> None:
    base = "service: a\nstrategy: bluegreen\ncandidate: v2\npreviewAnalysis: {}\n"
    _, warnings = check_plan(base, "w.yaml")
    assert [(w.line, w.field) for w in warnings] == [(4, "previewAnalysis")]
    assert check_plan(base + "mirror: 20\n", "w.yaml")[1] == ()


def test_examples_are_valid_without_warnings() -> None:
    for path in EXAMPLES:
        plan, warnings = check_plan(path.read_text(), str(path))
        assert warnings == (), warnings
        assert plan.service in ("courses", "enrollments", "grades")
        if plan.flag is None and plan.strategy is not Strategy.EXPERIMENT:
            assert (plan.stable, plan.candidate) == ("v1", "v2")
    strategies = {load_plan(p).strategy for p in EXAMPLES}
    assert strategies == set(Strategy)


def test_wrongly_typed_values_are_shown_once_as_written() -> None:
    # Messages read "got true/false True" and "got nothing (null) None" before.
    errs = [str(e) for e in errors(MINIMAL.replace("50", "true") + "mirror: false\n")]
    assert any(
        e.endswith("setWeight: expected an integer percent from 0 to 100, got true") for e in errs
    )
    errs = [str(e) for e in errors(MINIMAL.replace("50", "null"))]
    assert any(e.endswith("got nothing (null)") for e in errs), errs
    errs = [str(e) for e in errors(MINIMAL.replace("50", "ten"))]
    assert any(e.endswith("got a string 'ten'") for e in errs), errs
