"""The console's pure view logic: rows, timeline, analysis panel, alerts, chart buffer."""

from __future__ import annotations

from backends.base import Lease, MetricSample, Phase, TrafficSplit, VersionHealth
from console.view import detail as dv
from console.view import overview as vm
from tests.support.clock import T0
from tests.support.records import canary_record


def sample(
    version: str, at: float = T0, requests: float = 100.0, err: float = 0.0, p99: float = 0.1
) -> MetricSample:
    return MetricSample(version, at, 10.0, requests, requests / 10, err, 0.01, 0.05, p99)


def state(**kw: object) -> vm.ServiceState:
    base: dict = dict(service="courses", versions=("v1", "v2"))
    base.update(kw)
    return vm.ServiceState(**base)


def test_row_weights_success_p99_and_ready() -> None:
    s = state(
        record=canary_record(),
        split=TrafficSplit({"v1": 90, "v2": 10}),
        samples={
            "v1": sample("v1", requests=900),
            "v2": sample("v2", requests=100, err=0.1, p99=0.3),
        },
        health={"v1": VersionHealth("v1", 3, 3), "v2": VersionHealth("v2", 2, 3)},
        lease=Lease("courses", "bob@ops:auto:1", T0 + 5),
    )
    row = vm.service_row(s, holder="me", now=T0)
    assert row.all_cells() == (
        "courses",
        "Progressing",
        "canary",
        "2/5",
        "v1 90 v2 10",
        "99.0%",
        "300ms",
        "5/6",
        "bob@ops:auto:1",
    )
    assert row.alert  # one v2 instance not ready


def test_missing_metrics_show_dash_never_zero() -> None:
    row = vm.service_row(state(), holder="me", now=T0)
    assert (row.phase, row.success, row.p99, row.ready, row.driver) == ("Idle", "-", "-", "-", "-")


def test_filter_and_sort() -> None:
    snap = vm.Snapshot(
        T0,
        {
            "a": state(service="a", samples={"v1": sample("v1", err=0.0)}),
            "b": state(service="b", samples={"v1": sample("v1", err=0.5)}),
            "c": state(service="c", record=canary_record("c")),
        },
    )
    rows = vm.overview_rows(snap, holder="me", now=T0, sort_key="success")
    assert [r.service for r in rows] == ["b", "a", "c"]  # worst first, no data last
    assert [
        r.service for r in vm.overview_rows(snap, holder="me", now=T0, filter_text="canary")
    ] == ["c"]


def test_timeline_countdown_and_manual_gate() -> None:
    items = dv.timeline(canary_record(), T0)
    assert [i.state for i in items] == ["done", "current", "todo", "todo", "todo"]
    assert items[1].note == "18s left"
    gate = dv.timeline(canary_record(phase=Phase.PAUSED, step=3), T0)
    assert gate[3].state == "current" and gate[3].note == "waiting for promote"
    done = dv.timeline(canary_record(phase=Phase.COMPLETED, step=4), T0)
    assert {i.state for i in done} == {"done"}


def test_analysis_panel_uses_last_measurement_and_says_what_is_next() -> None:
    last = {
        "at": T0 - 2,
        "version": "v2",
        "status": "failed",
        "reason": "error-rate 0.2 > max 0.05",
        "verdicts": [
            {
                "name": "error-rate",
                "version": "v2",
                "value": 0.2,
                "min": None,
                "max": 0.05,
                "status": "failed",
                "reason": "",
            },
        ],
    }
    rec = canary_record(
        engine={"counters": {"failures": 1}, "analysis": {"stage": "steps", "last": last}}
    )
    panel = dv.analysis_panel(state(record=rec, samples={"v2": sample("v2", p99=0.5)}))
    assert panel is not None
    err, p99 = panel.rows
    assert (err.metric, err.value, err.threshold, err.ok, err.live) == (
        "error-rate",
        "0.2",
        "max 0.05",
        False,
        False,
    )
    assert (p99.value, p99.threshold, p99.ok, p99.live) == ("500ms", "max 400ms", False, True)
    assert panel.failures == "1/2 failures"
    assert "one more failure rolls back" in panel.next_step


def test_split_shares_measured_against_set() -> None:
    s = state(
        split=TrafficSplit({"v1": 90, "v2": 10}),
        samples={"v1": sample("v1", requests=800), "v2": sample("v2", requests=200)},
    )
    shares = dv.split_shares(s)
    assert [(x.version, x.set_weight, round(x.measured or 0, 2)) for x in shares] == [
        ("v1", 90, 0.8),
        ("v2", 10, 0.2),
    ]


def test_rollback_alert_fires_once_on_the_transition() -> None:
    live = vm.Snapshot(T0, {"courses": state(record=canary_record())})
    back = vm.Snapshot(
        T0 + 1, {"courses": state(record=canary_record(phase=Phase.ROLLED_BACK, message="why"))}
    )
    assert vm.rollback_alerts(live, back, since=T0 + 100) == [vm.Alert("courses", "why")]
    assert vm.rollback_alerts(back, back, since=0) == []
    # An old rollback seen at start-up is not news; one newer than the console is.
    assert vm.rollback_alerts(None, back, since=T0 + 100) == []
    old = canary_record(phase=Phase.ROLLED_BACK, updated_at=T0 + 200, message="fresh")
    assert vm.rollback_alerts(None, vm.Snapshot(T0, {"courses": state(record=old)}), since=T0 + 100)


def test_sample_buffer_merges_history_and_trims_to_the_window() -> None:
    buf = dv.SampleBuffer(horizon=100)
    buf.add("s", sample("v2", at=T0))
    buf.extend("s", [sample("v2", at=T0 - d) for d in (50, 10, 200)])
    buf.add("s", sample("v2", at=T0))  # repeated: no duplicate
    xs, _ = buf.series("s", "v2", "p99", 60, T0)
    assert xs == [-50.0, -10.0, 0.0]
    assert buf.series("s", "v2", "p99", 900, T0)[0] == [-50.0, -10.0, 0.0]  # -200 trimmed
    assert vm.staleness(T0, T0 + 2) is None and vm.staleness(T0, T0 + 5) == "stale 5s"


def test_view_logic_and_polling_do_not_import_textual() -> None:
    import subprocess
    import sys

    code = (
        "import sys, console.view.overview, console.view.snapshot, console.commands.tui; "
        "assert 'textual' not in sys.modules, 'textual imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_console_start_up_imports_no_heavy_backend() -> None:
    import subprocess
    import sys

    code = (
        "import sys, console.tui.app; "
        "heavy = [m for m in ('plotext', 'kubernetes', 'prometheus_api_client') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_step_column_matches_rollout_status() -> None:
    # A finished blue/green showed "6" (the engine's internal step index) and a finished
    # rolling update "3" for 2 batches; the overview must agree with `rollout status`.
    from backends.base import Strategy

    bg = canary_record(
        phase=Phase.COMPLETED, step=5, strategy=Strategy.BLUEGREEN, plan={"steps": None}
    )
    assert vm.step_text(bg) == "-"
    rolling = canary_record(
        phase=Phase.COMPLETED,
        step=2,
        strategy=Strategy.ROLLING,
        plan={"steps": None},
        engine={"batches": 2},
    )
    assert vm.step_text(rolling) == "2/2"
    assert vm.step_text(canary_record(phase=Phase.PAUSED, step=3)) == "4/5"
    assert vm.step_text(canary_record(phase=Phase.COMPLETED, step=4)) == "5/5"
    assert vm.step_text(None) == "-"


def test_fault_target_is_never_the_version_that_serves_everyone() -> None:
    # After v1 -> v2 completed, `x` injected the fault into v2, which took 100% of traffic.
    done = state(
        record=canary_record(phase=Phase.COMPLETED, step=4),
        split=TrafficSplit({"v1": 0, "v2": 100}),
    )
    assert dv.candidate_version(done) == "v1"
    rolled_back = state(
        record=canary_record(phase=Phase.ROLLED_BACK), split=TrafficSplit({"v1": 100, "v2": 0})
    )
    assert dv.candidate_version(rolled_back) == "v2"
    running = state(record=canary_record(), split=TrafficSplit({"v1": 90, "v2": 10}))
    assert dv.candidate_version(running) == "v2"


def test_an_unreadable_record_is_not_shown_as_idle() -> None:
    # A torn or hand-edited state file made the overview say "Idle" for a service that may
    # be mid-rollout; only the detail screen showed the error.
    s = state(errors=("record: /x/enrollments.json: unreadable state file: ...",))
    row = vm.service_row(s, holder="me", now=T0)
    assert row.phase == "unreadable" and row.alert
    assert vm.service_row(state(errors=("metrics: down",)), holder="me", now=T0).phase == "Idle"
