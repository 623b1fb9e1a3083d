"""Chart history over a long run: the demo's recorder and the console's sample buffer keep
every minute of the last 15, not only the last seconds (a QA report said the detail charts
showed only ~30 s of v1 before a rollout; these pin the parts that were checked)."""

from __future__ import annotations

from backends.base import MetricSample
from backends.local.metrics import Recorder
from console.view.detail import SampleBuffer
from tests.support.clock import Clock


def _run(rec: Recorder, clock: Clock, seconds: int, version: str) -> None:
    for _ in range(seconds):
        for _ in range(3):
            rec.observe("courses", version, 200, 0.01)
        clock.advance(1)


def test_history_covers_every_step_since_the_first_request_after_minutes() -> None:
    clock = Clock()
    rec = Recorder(clock)
    start = clock.now
    _run(rec, clock, 600, "v1")  # ten minutes of v1 alone, then a rollout sends v2 some
    for _ in range(30):
        rec.observe("courses", "v1", 200, 0.01)
        rec.observe("courses", "v2", 200, 0.01)
        clock.advance(1)
    series = rec.history("courses", ["v1", "v2"], clock.now - 900, 5.0)
    v1 = [p for p in series["v1"] if p["requests"]]
    assert v1[0]["at"] - 5.0 <= start + 5.0  # from the first minute on, not the last 30 s
    assert len(v1) == 630 // 5
    assert all(p["request_rate"] > 0 for p in series["v1"] if p["at"] > start + 5.0)
    assert sum(1 for p in series["v2"] if p["requests"]) == 30 // 5


def test_buffer_keeps_history_when_live_samples_arrive_before_and_after_it() -> None:
    # Live samples of a running rollout are buffered before the detail screen opens; the
    # history that arrives then must not be cut to what the live samples cover.
    now = 1_700_000_000.0
    buf = SampleBuffer()

    def s(at: float) -> MetricSample:
        return MetricSample("v1", at, 5.0, 50.0, 10.0, 0.0, 0.01, 0.02, 0.03)

    for k in range(30):
        buf.add("courses", s(now - 30 + k))
    buf.extend("courses", [s(now - 895 + 5 * k) for k in range(179)])
    for k in range(5):
        buf.add("courses", s(now + 1 + k))
    xs, _ = buf.series("courses", "v1", "request_rate", 900, now + 5)
    assert min(xs) <= -890 and len(xs) == 179 + 30 - 6 + 5  # 6 live samples replace history
