"""Per-variant metrics of a feature flag through PromQL (``FlagMetrics`` for Prometheus).

Reads ``lms_flag_request_duration_seconds{service,flag,variant,code}``, the histogram the
demo's gateway keeps from its services' ``x-lms-flags`` answers (docs/flags.md); an
application that exports the same histogram is read the same way. Every service that
evaluated the flag counts together. Five instant queries, each for every variant at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from backends.base import MetricSample
from backends.prometheus.client import value
from backends.prometheus.promql import quote
from backends.units import format_one_unit

METRIC = "lms_flag_request_duration_seconds"
QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}

Instant = Callable[[str, float | None], list[dict[str, Any]]]


def _by_variant(rows: list[dict[str, Any]], stamps: list[float]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for series in rows:
        v = series.get("metric", {}).get("variant")
        if series.get("value"):
            stamps.append(float(series["value"][0]))
        if v:
            out[v] = value(series)
    return out


def flag_sample(
    instant: Instant, flag: str, variants: Sequence[str], window: float, at: float | None
) -> dict[str, MetricSample]:
    """One sample per variant of ``flag`` over ``window`` seconds (see the module doc)."""
    sel = f"flag={quote(flag)}"
    w = format_one_unit(window)
    stamps: list[float] = []
    rates = _by_variant(
        instant(f"sum by (variant) (rate({METRIC}_count{{{sel}}}[{w}]))", at), stamps
    )
    fails = _by_variant(
        instant(f'sum by (variant) (rate({METRIC}_count{{{sel},code=~"5.."}}[{w}]))', at), stamps
    )
    quantiles = {
        name: _by_variant(
            instant(
                f"histogram_quantile({q}, sum by (variant, le) (rate({METRIC}_bucket{{{sel}}}[{w}])))",
                at,
            ),
            stamps,
        )
        for name, q in QUANTILES.items()
    }
    when = at if at is not None else (stamps[0] if stamps else time.time())
    out = {}
    for v in variants or sorted(rates):
        rate = rates.get(v)
        failed = fails.get(v, 0.0 if rate is not None else None)
        has = rate is not None and rate > 0
        q = {name: _finite(quantiles[name].get(v)) if has else None for name in QUANTILES}
        out[v] = MetricSample(
            version=v,
            at=when,
            window=window,
            requests=rate * window if rate is not None else 0.0,
            request_rate=rate if rate is not None else 0.0,
            error_ratio=(failed or 0.0) / rate if has and rate else None,
            p50=q["p50"],
            p95=q["p95"],
            p99=q["p99"],
            failures=(failed or 0.0) * window if rate is not None else 0.0,
        )
    return out


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None
