"""Per-variant request metrics of feature flags, kept by the demo gateway. Pure, injected clock.

A service names the flag variants it used in its answer's ``x-lms-flags`` header
(``new-gradebook=on, course-recommendations=off``); the gateway hands that header, the
status and the duration to ``FlagRecorder.observe``. Two views, as for versions:

- ``lms_flag_request_duration_seconds{service,flag,variant,code}`` histograms for
  ``/metrics`` (same buckets as ``http_request_duration_seconds``);
- one-second rings per (flag, variant), all services together, from which ``sample``
  answers the console's per-variant rate, error ratio and latency.

Cardinality is bounded: at most ``MAX_PAIRS`` (flag, variant) pairs are kept (the demo has
two flags of two variants, plus ``default`` when a service served its code default); pairs
beyond are not recorded and counted in ``lms_flag_labels_dropped_total``. Names and
variants longer than ``MAX_LABEL`` characters are cut.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence

from backends.local.metrics import BUCKETS, Recorder

METRIC = "lms_flag_request_duration_seconds"
DROPPED = "lms_flag_labels_dropped_total"
MAX_PAIRS = 32
MAX_LABEL = 64
HEADER = b"\r\nx-lms-flags: "


def parse_header(value: str) -> list[tuple[str, str]]:
    """``a=on, b=off`` -> [("a", "on"), ("b", "off")]; malformed parts are skipped."""
    out = []
    for part in value.split(","):
        flag, sep, variant = part.strip().partition("=")
        if sep and flag and variant:
            out.append((flag[:MAX_LABEL], variant.strip()[:MAX_LABEL]))
    return out


def header_of(response: bytes) -> str | None:
    """The ``x-lms-flags`` value in a serialized response's head, if any."""
    end = response.find(b"\r\n\r\n")
    head = response if end < 0 else response[:end]
    at = head.find(HEADER)
    if at < 0:
        return None
    start = at + len(HEADER)
    stop = head.find(b"\r\n", start)
    return head[start : stop if stop >= 0 else len(head)].decode("latin-1")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class FlagRecorder:
    """Counts requests per flag variant (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.ring = Recorder(clock)  # keyed (flag, variant) instead of (service, version)
        self.series: dict[tuple[str, str, str, str], list[float]] = {}  # buckets + count, sum
        self.pairs: set[tuple[str, str]] = set()
        self.dropped = 0

    def observe(self, service: str, header: str, code: int, seconds: float) -> None:
        for flag, variant in parse_header(header):
            pair = (flag, variant)
            if pair not in self.pairs:
                if len(self.pairs) >= MAX_PAIRS:
                    self.dropped += 1
                    continue
                self.pairs.add(pair)
            self.ring.observe(flag, variant, code, seconds)
            key = (service, flag, variant, str(code))
            s = self.series.get(key)
            if s is None:
                s = self.series[key] = [0.0] * (len(BUCKETS) + 3)
            s[bisect.bisect_left(BUCKETS, seconds)] += 1
            s[-2] += 1
            s[-1] += seconds

    def sample(self, flag: str, variants: Sequence[str], window: float) -> dict[str, dict]:
        """One MetricSample dict per variant over the last ``window`` seconds."""
        return self.ring.sample(flag, variants, window)

    def variants(self, flag: str) -> list[str]:
        """Variants seen for ``flag`` since the demo started."""
        return sorted(v for f, v in self.pairs if f == flag)

    def prometheus(self) -> str:
        """The histograms and the drop counter in Prometheus text format."""
        out = [
            f"# HELP {METRIC} Requests through the demo gateway by the flag variants they used.",
            f"# TYPE {METRIC} histogram",
        ]
        for (service, flag, variant, code), s in sorted(self.series.items()):
            labels = (
                f'service="{_label(service)}",flag="{_label(flag)}",'
                f'variant="{_label(variant)}",code="{code}"'
            )
            cum = 0.0
            for bound, n in zip(BUCKETS, s, strict=False):
                cum += n
                out.append(f'{METRIC}_bucket{{{labels},le="{bound}"}} {cum:g}')
            out.append(f'{METRIC}_bucket{{{labels},le="+Inf"}} {s[-2]:g}')
            out.append(f"{METRIC}_sum{{{labels}}} {s[-1]:.6f}")
            out.append(f"{METRIC}_count{{{labels}}} {s[-2]:g}")
        out.append(f"# HELP {DROPPED} Flag variants not recorded: over {MAX_PAIRS} pairs.")
        out.append(f"# TYPE {DROPPED} counter")
        out.append(f"{DROPPED} {self.dropped}")
        return "\n".join(out) + "\n"
