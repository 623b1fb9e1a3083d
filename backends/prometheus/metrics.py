"""``PrometheusMetrics``: the MetricsBackend that reads per-version metrics through PromQL.

One query per built-in metric per call, each answering for every version at once. Missing
data is ``None``: a version without traffic has no rate, no error ratio and no latencies, and
the analysis treats that as inconclusive, never as a pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from backends.base import BackendError, MetricSample, is_image, version_label
from backends.prometheus.client import PromClient, value, values
from backends.prometheus.config import PrometheusConfig
from backends.prometheus.promql import placeholders
from backends.prometheus.providers import QUANTILES, VERSION, Queries

# Timestamps before 2001 cannot be "since" times; the caller meant seconds ago.
_EPOCH_2001 = 1e9

Series = dict[str, list[tuple[float, float | None]]]
_T = TypeVar("_T")


class PrometheusMetrics:
    """Per-version request rate, error ratio and latency quantiles from one Prometheus."""

    def __init__(
        self,
        cfg: PrometheusConfig,
        *,
        client: PromClient | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.cfg = cfg
        self.client = client or PromClient(cfg)
        # None: instant queries are evaluated at Prometheus' own "now", so a skewed local
        # clock cannot push the window into the future (half empty) or the past (stale).
        self.clock = clock
        self.name = f"prometheus {cfg.url} ({cfg.provider.name})"

    def __repr__(self) -> str:
        return f"PrometheusMetrics(url={self.cfg.url!r}, provider={self.cfg.provider.name!r})"

    def close(self) -> None:
        self.client.close()

    def queries(self, service: str) -> Queries:
        """The PromQL builder for one service."""
        return Queries(self.cfg.provider, service, self.cfg.namespace)

    def window(self, seconds: float) -> float:
        """The window actually queried: at least the configured ``minWindow``, because
        ``rate()`` over less than two scrape intervals has no answer."""
        return max(seconds, self.cfg.min_window)

    def supports(self, metric: str) -> bool:
        """Whether a built-in metric can be measured with this provider."""
        return metric not in QUANTILES or self.cfg.provider.buckets is not None

    def require(self, metrics: Iterable[str]) -> None:
        """Raise Unsupported, with the reason, if any of these built-in metrics cannot be
        measured (a latency metric from HAProxy's counters)."""
        for metric in metrics:
            if not self.supports(metric):
                self.queries("service").latency(metric, 60.0)  # raises with the reason

    # ------------------------------------------------------------------ instant

    def sample(
        self, service: str, versions: Sequence[str], window: float
    ) -> dict[str, MetricSample]:
        """Every version's metrics over the ``window`` seconds up to now."""
        at = self.clock() if self.clock else None
        window = self.window(window)
        q = self.queries(service)
        stamps: list[float] = []
        rates = self._vector(q.request_rate(window), at, stamps)
        errors = self._vector(q.error_ratio(window), at, stamps)
        latencies = {
            m: self._vector(q.latency(m, window), at, stamps) for m in QUANTILES if self.supports(m)
        }
        failures = self._optional(lambda: self._vector(q.failures(window), at, stamps))
        buckets = self._optional(lambda: self._buckets(q, window, at))
        at = at if at is not None else (stamps[0] if stamps else time.time())
        names = list(versions) or sorted(set(rates) | set(errors))
        out = {}
        for v in names:
            k = series_label(v)
            rate = rates.get(k)
            out[v] = MetricSample(
                version=v,
                at=at,
                window=window,
                requests=_times(rate, window),
                request_rate=rate,
                error_ratio=errors.get(k),
                p50=latencies.get("latency-p50", {}).get(k),
                p95=latencies.get("latency-p95", {}).get(k),
                p99=latencies.get("latency-p99", {}).get(k),
                failures=(failures or {}).get(k),
                latency_buckets=(buckets or {}).get(k),
            )
        return out

    def flag_sample(
        self, flag: str, variants: Sequence[str], window: float
    ) -> dict[str, MetricSample]:
        """``FlagMetrics``: per variant of ``flag`` (backends/prometheus/flag_metrics.py)."""
        from backends.prometheus.flag_metrics import flag_sample

        at = self.clock() if self.clock else None
        return flag_sample(self._instant, flag, variants, self.window(window), at)

    def _optional(self, read: Callable[[], _T]) -> _T | None:
        """Counts only the sequential test uses: a provider or server that cannot answer
        them leaves them out (None) instead of failing the whole sample."""
        try:
            return read()
        except BackendError:
            return None

    def _buckets(
        self, q: Queries, window: float, at: float | None
    ) -> dict[str, tuple[tuple[float, float], ...]] | None:
        """version -> cumulative (le seconds, requests) over the window; None without a
        histogram."""
        if self.cfg.provider.buckets is None:
            return None
        unit = self.cfg.provider.latency_unit
        rows: dict[str, list[tuple[float, float]]] = {}
        for series in self._instant(q.bucket_counts(window), at):
            labels = series.get("metric", {})
            v, le, n = labels.get(VERSION), labels.get("le"), value(series)
            if not v or le is None or n is None:
                continue
            try:
                bound = float(le) * unit
            except ValueError:
                continue
            rows.setdefault(v, []).append((bound, n))
        return {v: tuple(sorted(r)) for v, r in rows.items()}

    def query(
        self, service: str, versions: Sequence[str], template: str, window: float
    ) -> dict[str, float | None]:
        """A custom query per version. With ``{{version}}`` in the template it runs once per
        version; without, it runs once and must return a ``version`` label."""
        at = self.clock() if self.clock else None
        window = self.window(window)
        q = self.queries(service)
        if "version" in placeholders(template):
            out: dict[str, float | None] = {}
            for v in versions:
                k = series_label(v)
                out[v] = _single(self._instant(q.custom(template, window, k), at), k, template)
            return out
        by_version = _by_version(self._instant(q.custom(template, window, None), at), template)
        return {v: by_version.get(series_label(v)) for v in versions}

    # ------------------------------------------------------------------ range

    def history(
        self,
        service: str,
        versions: Sequence[str],
        since: float,
        step: float,
        *,
        window: float | None = None,
        until: float | None = None,
    ) -> dict[str, list[MetricSample]]:
        """Samples every ``step`` seconds from ``since`` (a POSIX time) to ``until`` (default:
        now), each over ``window`` seconds (default: ``step``), for charts and what-if."""
        end = (self.clock or time.time)() if until is None else until
        start = end - since if since < _EPOCH_2001 else since
        window = self.window(window or step)
        q = self.queries(service)
        rates = self._matrix(q.request_rate(window), start, end, step)
        errors = self._matrix(q.error_ratio(window), start, end, step)
        latencies = {
            m: self._matrix(q.latency(m, window), start, end, step)
            for m in QUANTILES
            if self.supports(m)
        }
        names = list(versions) or sorted(set(rates) | set(errors))
        out: dict[str, list[MetricSample]] = {}
        for v in names:
            k = series_label(v)
            columns = {"rate": dict(rates.get(k, [])), "errors": dict(errors.get(k, []))}
            for m, series in latencies.items():
                columns[m] = dict(series.get(k, []))
            times = sorted({t for col in columns.values() for t in col})
            out[v] = [
                MetricSample(
                    version=v,
                    at=t,
                    window=window,
                    requests=_times(columns["rate"].get(t), window),
                    request_rate=columns["rate"].get(t),
                    error_ratio=columns["errors"].get(t),
                    p50=columns.get("latency-p50", {}).get(t),
                    p95=columns.get("latency-p95", {}).get(t),
                    p99=columns.get("latency-p99", {}).get(t),
                )
                for t in times
            ]
        return out

    def query_range(
        self,
        service: str,
        versions: Sequence[str],
        template: str,
        window: float,
        start: float,
        end: float,
        step: float,
    ) -> Series:
        """A custom query evaluated every ``step`` seconds: version -> [(time, value)]."""
        window = self.window(window)
        q = self.queries(service)
        if "version" in placeholders(template):
            out: Series = {}
            for v in versions:
                query = q.custom(template, window, series_label(v))
                result = self.client.range(query, start, end, step)
                if len(result) > 1:
                    raise BackendError(_many(template, v, len(result)))
                out[v] = values(result[0]) if result else []
            return out
        result = self.client.range(q.custom(template, window, None), start, end, step)
        series: Series = {}
        for s in result:
            v = s.get("metric", {}).get(VERSION)
            if v is None:
                raise BackendError(_no_version(template))
            series[v] = values(s)
        return {v: series.get(series_label(v), []) for v in versions}

    # ------------------------------------------------------------------ helpers

    def _instant(self, query: str, at: float | None) -> list[dict[str, Any]]:
        return self.client.instant(query, at)

    def _vector(self, query: str, at: float | None, stamps: list[float]) -> dict[str, float | None]:
        """version -> value of a ``sum by (version)`` query; appends evaluation times to
        ``stamps``."""
        out: dict[str, float | None] = {}
        for series in self._instant(query, at):
            v = series.get("metric", {}).get(VERSION)
            if series.get("value"):
                stamps.append(float(series["value"][0]))
            if v:
                out[v] = value(series)
        return out

    def _matrix(self, query: str, start: float, end: float, step: float) -> Series:
        out: Series = {}
        for series in self.client.range(query, start, end, step):
            v = series.get("metric", {}).get(VERSION)
            if v:
                out[v] = values(series)
        return out


def series_label(version: str) -> str:
    """The value a version has in metric labels. A plan may name an image as the candidate
    (``ghcr.io/lms/courses:2.0``); the Kubernetes backend labels its pods and names its
    Deployments and Services with a label-safe form of it (``2-0``), so that is what
    Prometheus sees. Plain version names are used as they are."""
    return version_label(version) if is_image(version) else version


def _times(rate: float | None, window: float) -> float | None:
    # rate() is increase() / window, so this is the request count Prometheus estimates.
    return None if rate is None else rate * window


def _single(result: list[dict[str, Any]], version: str, template: str) -> float | None:
    if not result:
        return None
    if len(result) == 1:
        return value(result[0])
    tagged = [s for s in result if s.get("metric", {}).get(VERSION) == version]
    if len(tagged) == 1:
        return value(tagged[0])
    raise BackendError(_many(template, version, len(result)))


def _by_version(result: list[dict[str, Any]], template: str) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for series in result:
        v = series.get("metric", {}).get(VERSION)
        if v is None:
            raise BackendError(_no_version(template))
        out[v] = value(series)
    return out


def _many(template: str, version: str, n: int) -> str:
    return (
        f"custom query returned {n} series for version {version}; aggregate it to one "
        f"(e.g. sum(...)): {template}"
    )


def _no_version(template: str) -> str:
    return (
        "custom query has no {{version}} placeholder, so its result needs a 'version' label "
        f"(e.g. sum by (version) (...)): {template}"
    )
