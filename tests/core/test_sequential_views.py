"""The comparison with the stable and the sequential test as people see them: the analysis
panel's rows and the stored events."""

from __future__ import annotations

from backends.base import MetricSample, Observation
from console.analysis.verdicts import Decision
from console.analysis.whatif import FAIL, INCONCLUSIVE, PASS, replay
from console.plan.model import AnalysisSpec, MetricSpec
from console.view import detail as dv
from console.view.overview import ServiceState
from console.view.whatif import render_text
from tests.core.test_engine_sequential import _sim


def _panel_row(errors: dict[str, float], ticks: int) -> dv.AnalysisRow:
    sim = _sim(errors)
    sim.run(ticks)
    panel = dv.analysis_panel(ServiceState("courses", ("v1", "v2"), record=sim.rec))
    assert panel is not None
    (row,) = panel.rows
    return row


def test_the_panel_shows_the_stable_the_statistic_and_the_interval() -> None:
    row = _panel_row({"v1": 0.02, "v2": 0.02}, 3)
    assert row.metric == "error-rate" and row.value == "0.02"
    assert row.threshold.startswith("vs v1 0.02 (+0.02 allowed); e ")
    assert "< 100, difference " in row.threshold and row.threshold.endswith("vs +0.02")
    assert row.ok is None  # still collecting evidence: not a pass


def test_the_panel_shows_a_regression_as_failed_with_its_e_value() -> None:
    sim = _sim({"v1": 0.01, "v2": 0.2})
    sim.run_until(lambda s: s.rec.phase.terminal, limit=60)
    panel = dv.analysis_panel(ServiceState("courses", ("v1", "v2"), record=sim.rec))
    assert panel is not None
    (row,) = panel.rows
    assert row.ok is False and ">= 100, difference " in row.threshold
    assert "e " in panel.status and "(sequential test)" not in panel.status


def test_plain_thresholds_show_as_before() -> None:
    from tests.core.engine_kit import Sim, canary_plan

    sim = Sim(canary_plan())
    sim.start()
    sim.run(12)
    panel = dv.analysis_panel(ServiceState("courses", ("v1", "v2"), record=sim.rec))
    assert panel is not None
    assert [r.threshold for r in panel.rows] == ["max 0.05", "max 400ms"]


# --------------------------------------------------------------------------- rollout analyze

SEQ = AnalysisSpec(
    interval=10.0,
    min_requests=20,
    failure_limit=2,
    inconclusive_limit=1,
    metrics=(
        MetricSpec(
            "error-rate", baseline="stable", max_increase=0.01, test="sequential", alpha=0.01
        ),
    ),
)


def _past(errors: dict[str, float], n: int, per_window: dict[str, float]) -> list[Observation]:
    """``n`` past windows of 10 s, each with ``per_window`` requests per version."""
    out = []
    for k in range(1, n + 1):
        at = 1000.0 + 10.0 * k
        metrics = {
            v: MetricSample(
                v, at, 10.0, r, r / 10, errors[v], 0.01, 0.02, 0.03, failures=r * errors[v]
            )
            for v, r in per_window.items()
        }
        out.append(Observation(at=at, health={}, metrics=metrics))
    return out


def test_analyze_replays_the_sequential_test_and_shows_the_statistic() -> None:
    obs = _past({"v1": 0.01, "v2": 0.15}, 30, {"v1": 900.0, "v2": 100.0})
    result = replay(SEQ, "v2", "v1", obs)
    assert result.verdict == FAIL and result.decision is Decision.BREACH
    assert result.message.endswith("(sequential test)") and "e " in result.message
    step = result.to_dict()["steps"][-1]
    assert step["sequential"]["error-rate"]["outcome"] == "regression"
    text = render_text(result, clock=lambda t: f"{t:.0f}")
    assert "sequential test at " in text and ">= 100, difference " in text


def test_analyze_passes_equal_versions_once_the_test_shows_it() -> None:
    obs = _past({"v1": 0.01, "v2": 0.01}, 60, {"v1": 5000.0, "v2": 5000.0})
    result = replay(SEQ, "v2", "v1", obs)
    assert result.verdict == PASS, result.message
    # Undecided measurements held without reaching inconclusiveLimit 1.
    assert result.decision is Decision.CONTINUE


def test_analyze_says_when_the_test_never_decided() -> None:
    obs = _past({"v1": 0.01, "v2": 0.01}, 3, {"v1": 90.0, "v2": 10.0})
    result = replay(SEQ, "v2", "v1", obs)
    assert result.verdict == INCONCLUSIVE
    assert "the sequential test had not decided yet in 3 of 3 measurements" in result.message
