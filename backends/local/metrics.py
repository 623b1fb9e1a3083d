"""Per-version request metrics kept in process by the gateway. Pure logic, injected clock.

Two views of the same observations:
- cumulative histograms per (service, version, code) for ``/metrics`` in Prometheus text
  format (``http_request_duration_seconds``), so a real Prometheus can scrape the demo;
- a ring of one-second slots per (service, version) covering the last 15 minutes, from which
  ``sample`` (one window) and ``history`` (a series of windows) compute request rate, error
  ratio (5xx / all) and p50/p95/p99, interpolated inside histogram buckets the same way
  PromQL's ``histogram_quantile`` does.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# Bucket upper bounds (seconds): fine enough below 100 ms for useful p50/p95/p99.
BUCKETS: tuple[float, ...] = (
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1,
    0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip
HORIZON = 900  # seconds kept in the ring (15 minutes)
METRIC = "http_request_duration_seconds"


class _Slot:
    __slots__ = ("buckets", "count", "errors")

    def __init__(self) -> None:
        # Whole counts in the ring; an aggregate over a window may hold a share of a slot.
        self.count: float = 0
        self.errors: float = 0
        self.buckets: list[float] = [0] * (len(BUCKETS) + 1)  # the last one is +Inf

    def add(self, other: _Slot, share: float = 1.0) -> None:
        self.count += other.count * share
        self.errors += other.errors * share
        b = self.buckets
        for j, n in enumerate(other.buckets):
            if n:
                b[j] += n * share


class _Series:
    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * (len(BUCKETS) + 1)


def quantile(q: float, buckets: Sequence[float]) -> float | None:
    """The q-quantile of non-cumulative bucket counts over BUCKETS; None with no data."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen: float = 0
    for i, n in enumerate(buckets):
        if n and seen + n >= rank:
            if i >= len(BUCKETS):
                return BUCKETS[-1]  # in +Inf: the largest finite bound, as PromQL does
            lower = BUCKETS[i - 1] if i else 0.0
            return lower + (BUCKETS[i] - lower) * ((rank - seen) / n)
        seen += n
    return BUCKETS[-1]


def cumulative_buckets(buckets: Sequence[float]) -> list[list[Any]]:
    """Non-cumulative counts over BUCKETS as cumulative ``[le, count]`` pairs for JSON, the
    last with ``le`` ``"+Inf"`` (every request), as Prometheus writes them."""
    out: list[list[Any]] = []
    running: float = 0
    for bound, n in zip((*BUCKETS, "+Inf"), buckets, strict=True):
        running += n
        out.append([bound, running])
    return out


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Recorder:
    """Counts requests per service, version and status code; answers windows of 1 s..15 min."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._ring: dict[tuple[str, str], dict[int, _Slot]] = {}
        self._last_prune = 0

    def observe(self, service: str, version: str, code: int, seconds: float) -> None:
        """Record one request that took ``seconds`` and answered ``code``."""
        now = self.clock()
        i = bisect.bisect_left(BUCKETS, seconds)
        key = (service, version, str(code))
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = _Series()
        s.count += 1
        s.sum += seconds
        s.buckets[i] += 1
        sec = int(now)
        ring = self._ring.get((service, version))
        if ring is None:
            ring = self._ring[(service, version)] = {}
        slot = ring.get(sec)
        if slot is None:
            slot = ring[sec] = _Slot()
            if sec - self._last_prune >= 10:
                self._prune(sec)
        slot.count += 1
        if code >= 500:
            slot.errors += 1
        slot.buckets[i] += 1

    def _prune(self, sec: int) -> None:
        self._last_prune = sec
        cutoff = sec - HORIZON - 1
        for ring in self._ring.values():
            for old in [s for s in ring if s < cutoff]:
                del ring[old]

    def _aggregate(self, service: str, version: str, start: float, end: float) -> _Slot:
        agg = _Slot()
        ring = self._ring.get((service, version), {})
        # Slot s holds the second [s, s+1); it counts if start <= s < end (the current,
        # partial second included), so windows are whole seconds.
        lo, hi = math.ceil(start), math.ceil(end)
        if hi - lo <= len(ring):
            slots: Iterable[_Slot] = (ring[s] for s in range(lo, hi) if s in ring)
        else:
            slots = (slot for s, slot in ring.items() if lo <= s < hi)
        for slot in slots:
            agg.add(slot)
        return agg

    def _aggregate_now(self, service: str, version: str, start: float, end: float) -> _Slot:
        """A window up to now: the whole seconds as ``_aggregate`` counts them (the last one
        still in progress), plus the share of the second in progress at ``start`` that lies
        inside the window. Without that share a 1 s window taken just after a second began
        held only that second's first requests (a 20 % canary showed 1-4 requests a window
        at 40 a second); with it the window holds about ``end - start`` seconds of traffic,
        and consecutive windows take complementary shares of the second they share."""
        agg = self._aggregate(service, version, start, end)
        first = math.floor(start)
        share = math.ceil(start) - start
        slot = self._ring.get((service, version), {}).get(first)
        if slot is not None and share > 0:
            agg.add(slot, share)
        return agg

    def _sample(self, version: str, agg: _Slot, at: float, window: float) -> dict[str, Any]:
        has = agg.count > 0
        return {
            "version": version,
            "at": at,
            "window": window,
            "requests": float(agg.count),
            "request_rate": agg.count / window if window > 0 else None,
            "error_ratio": agg.errors / agg.count if has else None,
            "p50": quantile(0.50, agg.buckets) if has else None,
            "p95": quantile(0.95, agg.buckets) if has else None,
            "p99": quantile(0.99, agg.buckets) if has else None,
            "failures": float(agg.errors),
            "latency_buckets": cumulative_buckets(agg.buckets),
        }

    def sample(self, service: str, versions: Sequence[str], window: float) -> dict[str, dict]:
        """One MetricSample (as a dict) per version over the last ``window`` seconds."""
        window = max(1.0, min(float(window), float(HORIZON)))
        now = self.clock()
        return {
            v: self._sample(v, self._aggregate_now(service, v, now - window, now), now, window)
            for v in versions
        }

    def history(
        self, service: str, versions: Sequence[str], since: float, step: float
    ) -> dict[str, list[dict]]:
        """Samples of ``step`` seconds ending at since+step, since+2*step, ... up to now."""
        now = self.clock()
        step = max(1.0, float(step))
        since = max(float(since), now - HORIZON)
        n = min(int((now - since) // step), 2000)
        ends = [since + step * (k + 1) for k in range(n)]
        return {
            v: [self._sample(v, self._aggregate(service, v, t - step, t), t, step) for t in ends]
            for v in versions
        }

    def totals(self) -> dict[tuple[str, str, str], int]:
        """Cumulative request count per (service, version, code)."""
        return {k: s.count for k, s in self._series.items()}

    def prometheus(self, gauges: Iterable[tuple[str, str, dict[str, str], float]] = ()) -> str:
        """All series in Prometheus text exposition format (0.0.4).

        ``gauges`` adds (name, help, labels, value) lines, e.g. the split weights.
        """
        out = [
            f"# HELP {METRIC} Requests through the demo gateway by service, version and code.",
            f"# TYPE {METRIC} histogram",
        ]
        for (service, version, code), s in sorted(self._series.items()):
            labels = f'service="{_label(service)}",version="{_label(version)}",code="{code}"'
            cum = 0
            for bound, n in zip(BUCKETS, s.buckets, strict=False):
                cum += n
                out.append(f'{METRIC}_bucket{{{labels},le="{bound}"}} {cum}')
            out.append(f'{METRIC}_bucket{{{labels},le="+Inf"}} {s.count}')
            out.append(f"{METRIC}_sum{{{labels}}} {s.sum:.6f}")
            out.append(f"{METRIC}_count{{{labels}}} {s.count}")
        seen: set[str] = set()
        for name, help_text, labels_d, value in gauges:
            if name not in seen:
                seen.add(name)
                out.append(f"# HELP {name} {help_text}")
                out.append(f"# TYPE {name} gauge")
            labels = ",".join(f'{k}="{_label(v)}"' for k, v in labels_d.items())
            out.append(f"{name}{{{labels}}} {value:g}")
        return "\n".join(out) + "\n"
