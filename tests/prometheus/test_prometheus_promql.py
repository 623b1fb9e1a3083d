"""Pure parts of the Prometheus backend: escaping, provider queries, config (durations are
in tests/core/test_units.py)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.base import Unsupported
from backends.prometheus import PROVIDERS, PrometheusConfigError, Queries
from backends.prometheus.config import parse_config
from backends.prometheus.promql import quote, regex_escape, render


def _unquote(literal: str) -> str:
    """Read a PromQL double-quoted literal back (the Go escapes we emit)."""
    assert literal[0] == literal[-1] == '"'
    out, i, body = [], 0, literal[1:-1]
    table = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            out.append(table[body[i + 1]])
            i += 2
        else:
            assert ch != '"', "unescaped quote ends the literal early"
            out.append(ch)
            i += 1
    return "".join(out)


# No deadline: a loaded CI machine can stall one example past Hypothesis' default 200 ms,
# which it reports as a flaky failure even though the code is pure and fast.
@settings(deadline=None)
@given(st.text())
def test_quote_round_trips_any_text(value: str) -> None:
    assert _unquote(quote(value)) == value


@settings(deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",))))
def test_regex_escape_matches_literally(value: str) -> None:
    # Python's re agrees with RE2 on these escapes; the pattern matches only the value itself.
    assert re.fullmatch(regex_escape(value), value, flags=re.DOTALL)


def test_render_escapes_values_but_not_the_window() -> None:
    got = render(
        'x{a="{{service}}", b="{{ version }}"}[{{window}}]',
        {"service": 'a"b', "version": "c\\d", "window": "5m"},
        raw=frozenset({"window"}),
    )
    assert got == 'x{a="a\\"b", b="c\\\\d"}[5m]'
    with pytest.raises(KeyError, match="nope"):
        render("{{nope}}", {})


def test_every_query_groups_by_version_once() -> None:
    """One query per metric answers for all versions: a single sum by (version)."""
    for provider in PROVIDERS.values():
        q = Queries(provider, "courses", "lms")
        assert q.request_rate(30).startswith("sum by (version) (")
        assert "[30s]" in q.request_rate(30)
        assert q.error_ratio(30).count("sum by (version)") == 3
        if provider.buckets:
            assert "sum by (version, le)" in q.latency("latency-p99", 30)
            assert q.latency("latency-p99", 30).startswith("histogram_quantile(0.99, ")


def test_error_ratio_is_zero_not_missing_without_error_series() -> None:
    expr = Queries(PROVIDERS["http"], "courses").error_ratio(10)
    assert (
        expr == '(sum by (version) (rate(http_request_duration_seconds_count{service="courses", '
        'code=~"5.."}[10s])) or 0 * sum by (version) (rate(http_request_duration_seconds_count'
        '{service="courses"}[10s]))) / sum by (version) (rate(http_request_duration_seconds_count'
        '{service="courses"}[10s]))'
    )


def test_version_from_another_label_uses_label_replace() -> None:
    istio = Queries(PROVIDERS["istio"], "courses", "lms").request_rate(60)
    assert 'label_replace(rate(istio_requests_total{reporter="destination", ' in istio
    assert 'destination_service_namespace="lms"' in istio
    assert '"version", "$1", "destination_version", "(.*)")' in istio
    envoy = Queries(PROVIDERS["envoy"], "my.svc", "lms").request_rate(60)
    # The service is a literal inside the regex: its dot is escaped (and the backslash too).
    assert 'envoy_cluster_name=~"lms_my\\\\.svc-(.+?)_[0-9]+(?:_.*)?"' in envoy
    anyns = Queries(PROVIDERS["envoy"], "courses").request_rate(60)
    assert '".+?_courses-(.+?)_[0-9]+(?:_.*)?"' in anyns


def test_latency_units_are_converted_to_seconds() -> None:
    assert Queries(PROVIDERS["istio"], "s").latency("latency-p50", 5).endswith(" * 0.001")
    assert not Queries(PROVIDERS["http"], "s").latency("latency-p50", 5).endswith("0.001")


def test_haproxy_latency_raises_unsupported() -> None:
    with pytest.raises(Unsupported, match="HAProxy's built-in exporter has no latency"):
        Queries(PROVIDERS["haproxy"], "courses").builtin("latency-p95", 30)


def test_custom_query_placeholders() -> None:
    q = Queries(PROVIDERS["http"], 'co"urses', "lms")
    got = q.custom('f{s="{{service}}",v="{{version}}",n="{{namespace}}"}[{{window}}]', 90, "v2")
    assert got == 'f{s="co\\"urses",v="v2",n="lms"}[90s]'
    with pytest.raises(ValueError, match=r"unknown placeholder \{\{pod\}\}"):
        q.custom("{{pod}}", 5, "v1")


# --------------------------------------------------------------------------- config


def test_config_defaults_and_provider() -> None:
    cfg = parse_config({"kind": "prometheus", "url": "http://127.0.0.1:9090/", "provider": "istio"})
    assert cfg.url == "http://127.0.0.1:9090"
    assert cfg.provider.name == "istio" and cfg.timeout == 5.0


def test_config_credentials_in_url_move_to_basic_auth_and_stay_hidden() -> None:
    cfg = parse_config({"url": "https://alice:s3cr%40t@prom.example.org:9443/prom"})
    assert cfg.url == "https://prom.example.org:9443/prom"
    assert (cfg.username, cfg.password) == ("alice", "s3cr@t")
    assert "s3cr" not in repr(cfg)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({}, "metrics.url: required"),
        ({"url": "ftp://x"}, "metrics.url: must be an http"),
        ({"url": "http://x", "provider": "kong"}, "metrics.provider: unknown provider 'kong'"),
        ({"url": "http://x", "timeout": "soon"}, "metrics.timeout: expected a duration"),
        ({"url": "http://x", "timeout": 0}, "metrics.timeout: must be a positive"),
        ({"url": "http://x", "labels": {"service": "a-b"}}, "labels.service: 'a-b' is not"),
        ({"url": "http://x", "labels": {"pod": "p"}}, "labels.pod: unknown"),
        ({"url": "http://x", "bearerToken": "t", "bearerTokenFile": "/f"}, "not both"),
        ({"url": "http://x", "basicAuth": {"username": "u"}}, "exactly one of password"),
        ({"url": "http://x", "insecure": "yes"}, "metrics.insecure: must be true or false"),
        ({"url": "http://x", "versionPattern": "{{pod}}-(.+)"}, "unknown placeholder"),
        ({"url": "http://x", "versionPattern": "no-group"}, "versionPattern: must be a regex"),
        ({"url": "http://x", "latencyUnit": "us"}, "latencyUnit"),
        ({"url": "http://x", "proivder": "istio"}, "unknown field(s) proivder"),
    ],
)
def test_config_errors_name_the_field(cfg: dict, message: str) -> None:
    with pytest.raises(PrometheusConfigError) as exc:
        parse_config(cfg)
    assert message in str(exc.value)


def test_config_error_never_echoes_a_password() -> None:
    with pytest.raises(PrometheusConfigError) as exc:
        parse_config({"url": "gopher://bob:hunter2@x"})
    assert "hunter2" not in str(exc.value)
    with pytest.raises(PrometheusConfigError) as exc:
        parse_config({"url": "http://x", "bearerToken": "hunter2", "basicAuth": {}})
    assert "hunter2" not in str(exc.value)


def test_min_window_widens_short_windows() -> None:
    from backends.prometheus import PrometheusMetrics

    cfg = parse_config({"url": "http://127.0.0.1:9", "minWindow": "1m"})
    assert cfg.min_window == 60.0
    backend = PrometheusMetrics(cfg)
    assert backend.window(5.0) == 60.0 and backend.window(300.0) == 300.0
    from backends.base import MetricsBackend

    assert isinstance(backend, MetricsBackend)
