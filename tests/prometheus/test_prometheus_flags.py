"""Per-variant flag metrics through PromQL, on the real demo scraped by a real Prometheus.

A 50 % split of new-gradebook with the new gradebook's bug switched on for half of its
answers: Prometheus sees both variants, errors only on "on", and agrees with the demo's
own per-variant numbers on the request rate.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backends.base import FlagMetrics
from backends.flagd import FlagdFile
from backends.local.demo_flags import SEED, flags_path
from backends.prometheus import from_config
from tests.prometheus.prom_exporters import wait_for_scrapes
from tests.support.waits import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_options() -> dict[str, Any]:
    return {"rps": 100, "instances": 1}


@pytest.fixture(scope="module")
def prom(demo_env: Any, start_prom: Callable[..., Any]) -> Iterator[Any]:
    handle = start_prom([demo_env.gateway_url.removeprefix("http://")])
    wait_for_scrapes(handle.url, 1, 3)
    yield handle


def test_flag_sample_per_variant_through_promql(demo_env: Any, prom: Any) -> None:
    flags = FlagdFile(flags_path(demo_env.state_dir))
    flags.set_fractional("new-gradebook", {"on": 50, "off": 50})
    for version in ("v1", "v2"):
        demo_env.control.inject_fault("grades", version, errors=0, latency=0, gradebook_bug=0.5)
    try:
        backend = from_config({"url": prom.url, "provider": "http"})
        assert isinstance(backend, FlagMetrics)

        def measured() -> Any:
            s = backend.flag_sample("new-gradebook", ["on", "off"], 20)
            on, off = s["on"], s["off"]
            if not (on.request_rate and off.request_rate and on.error_ratio):
                return None
            # Once the window holds only the split and the bug (series born mid-window
            # under-count), Prometheus and the demo's own numbers agree on the rate.
            local = demo_env.env.metrics.flag_sample("new-gradebook", ["on", "off"], 20)
            total = on.request_rate + off.request_rate
            local_total = (local["on"].request_rate or 0) + (local["off"].request_rate or 0)
            agree = abs(total - local_total) <= 0.3 * local_total
            return s if on.error_ratio > 0.3 and agree else None

        samples = wait_for(measured, 90, "both variants in Prometheus, errors on 'on'")
        on, off = samples["on"], samples["off"]
        assert 0.3 < (on.error_ratio or 0) < 0.7, on
        assert off.error_ratio == 0.0 and off.p95 is not None and on.p95 is not None
        missing = backend.flag_sample("no-such-flag", ["on"], 20)["on"]
        assert missing.requests == 0.0 and missing.error_ratio is None
    finally:
        for version in ("v1", "v2"):
            demo_env.control.clear_fault("grades", version)
        flags_path(demo_env.state_dir).write_text(json.dumps({"flags": SEED}))
