"""The demo's metrics source switched off and on (``PUT /v1/metrics``), as drills do."""

from __future__ import annotations

import time

import pytest

from backends.base import BackendError
from tests.support.waits import wait_for

pytestmark = pytest.mark.slow


def test_metrics_answer_503_while_off_and_keep_counting(demo_env) -> None:
    metrics, control = demo_env.env.metrics, demo_env.control
    since = time.time()
    control.set_metrics_available(False)
    try:
        with pytest.raises(BackendError, match="metrics source unavailable"):
            metrics.sample("courses", ["v1"], 5)
        with pytest.raises(BackendError, match="metrics source unavailable"):
            metrics.history("courses", ["v1"], since=since, step=1)
        # The rest of the control API answers; wait for load sent while the source is off.
        sent = control.load_stats()["sent"]
        wait_for(lambda: control.load_stats()["sent"] > sent + 20, timeout=30, what="load")
        off_until = time.time()
    finally:
        control.set_metrics_available(True)

    # The gateway kept counting while the source was off: the history has the requests.
    def counted() -> float:
        history = metrics.history("courses", ["v1"], since=since, step=1)
        return sum(s.requests or 0 for s in history["v1"] if s.at <= off_until + 1)

    wait_for(counted, timeout=30, what="requests in the history recorded while it was off")


def test_metrics_switch_rejects_a_non_boolean(demo_env) -> None:
    with pytest.raises(BackendError, match="'available' must be true or false"):
        demo_env.control.client.call("PUT", "/v1/metrics", {"available": "no"})
