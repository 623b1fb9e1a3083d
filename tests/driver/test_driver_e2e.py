"""``rollout auto`` and the one-shot commands as real processes against the real demo.

Each test uses its own service of the demo (or resets it) and a fast plan: 1 s analysis
interval, 1 s pauses. The demo runs once for the module (``demo_env`` in tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.base import Phase, RolloutRecord, Strategy
from backends.local.store import FileStateStore
from tests.support.waits import eventually, wait_until
from tests.support.webhook import Receiver

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

PLAN = """\
service: {service}
strategy: canary
stable: v1
candidate: v2
steps:
{steps}
analysis:
  interval: 1s
  window: 2s
  minRequests: 3
  failureLimit: 0
  inconclusiveLimit: 20
  metrics:
    - {{name: error-rate, max: 0.05}}
{extra}
"""

FAST_STEPS = """\
  - setWeight: 30
  - pause: 1s
  - setWeight: 60
  - pause: 1s"""


@pytest.fixture(scope="module")
def demo_options() -> dict[str, Any]:
    # Enough load that a 30% candidate sees a few requests a second on each service.
    return {"rps": 120, "instances": 2}


@pytest.fixture
def reset(demo_env: Any) -> Callable[[str], None]:
    """Put a service back to v1 100%, no fault, no rollout record."""

    def do(service: str) -> None:
        tr = demo_env.env.traffic
        tr.set_match(service, [], None)
        tr.set_mirror(service, None, 0)
        tr.set_split(service, {"v1": 100, "v2": 0})
        demo_env.control.clear_fault(service, "v2")
        rollouts = demo_env.state_dir / "rollouts"
        for p in rollouts.glob(f"{service}.*"):
            p.unlink()

    return do


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def _plan(tmp_path: Path, service: str, steps: str = FAST_STEPS, extra: str = "") -> Path:
    path = tmp_path / f"{service}-plan.yaml"
    path.write_text(PLAN.format(service=service, steps=steps, extra=extra))
    return path


def _rollout(*args: str) -> list[str]:
    return [sys.executable, "-m", "console.cli", *args]


def _run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _rollout(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
    )


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _rollout(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)


class _Reading:
    """A ``rollout`` process whose stdout is read into ``lines`` as it comes (stderr
    discarded), so a test can wait for an event while the process runs."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            _rollout(*args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def events(self) -> list[dict[str, Any]]:
        return _json_lines("".join(self.lines))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _store(demo_env: Any) -> FileStateStore:
    return FileStateStore(demo_env.state_dir / "rollouts")


def _audit_lines_parse(demo_env: Any, service: str) -> list[dict[str, Any]]:
    path = demo_env.state_dir / "rollouts" / f"{service}.audit.jsonl"
    raw = path.read_bytes()
    assert raw.endswith(b"\n"), "torn last audit line"
    return [json.loads(line) for line in raw.splitlines()]


def test_auto_completes_with_all_traffic_on_the_candidate(
    demo_env: Any, reset: Callable[[str], None], receiver: Receiver, tmp_path: Path
) -> None:
    reset("courses")
    plan = _plan(tmp_path, "courses", extra=f"notify:\n  webhooks: [{receiver.url}]")
    res = _run("auto", str(plan), "--json", "--timeout", "60s")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = _json_lines(res.stdout)
    summary = lines[-1]
    assert summary["type"] == "summary" and summary["phase"] == "Completed"
    assert summary["exit_code"] == 0
    assert demo_env.env.traffic.get_split("courses").weights.get("v2") == 100
    # Webhooks: the notified events, in the order they happened.
    notified = receiver.kinds()
    expected = [e["kind"] for e in lines[:-1] if e["kind"] in set(notified)]
    assert notified == expected
    assert notified[0] == "started" and notified[-1] == "completed"
    assert notified.count("weight") == 3  # 30, 60, 100

    status = json.loads(_run("status", "courses", "--json").stdout)
    (row,) = status["services"]
    assert row["phase"] == "Completed" and row["driver"] is None
    assert row["actual_weights"]["v2"] == 100
    history = _json_lines(_run("history", "courses", "--json").stdout)
    assert history[0]["action"] == "start"
    assert history[-1]["action"] == "complete"
    assert all(h["user"] and h["host"] for h in history)


def test_auto_rolls_back_a_faulty_candidate_despite_a_hanging_webhook(
    demo_env: Any, reset: Callable[[str], None], receiver: Receiver, tmp_path: Path
) -> None:
    reset("enrollments")
    receiver.hang = True  # the webhook never answers: it must not hold up the rollback
    demo_env.control.inject_fault("enrollments", "v2", errors=0.6, latency=0)
    plan = _plan(tmp_path, "enrollments", extra=f"notify:\n  webhooks: [{receiver.url}]")
    try:
        res = _run("auto", str(plan), "--json", "--timeout", "60s")
    finally:
        receiver.release.set()
        demo_env.control.clear_fault("enrollments", "v2")
    assert res.returncode == 1, res.stdout + res.stderr
    events = _json_lines(res.stdout)
    assert events[-1]["phase"] == "RolledBack" and events[-1]["exit_code"] == 1
    assert demo_env.env.traffic.get_split("enrollments").weights == {"v1": 100, "v2": 0}
    breach = next(e for e in events if e["kind"] == "breach")
    # names the metric, the measured value and the threshold
    m = re.search(r"error-rate (\d\.\d+) > max 0\.05 on v2", breach["message"])
    assert m is not None, breach["message"]
    # Above the threshold; not tighter: a 2 s window holds only a handful of v2 requests, so
    # the measured ratio of a 0.6 fault can land well below 0.6 by chance.
    assert 0.05 < float(m.group(1)) <= 1.0
    rollback = next(e for e in events if e["kind"] == "rollback")
    # Decided and applied in the tick that measured the breach: no webhook wait in between.
    assert rollback["at"] == breach["at"]
    assert any(e.get("kind") == "notify-failed" for e in events)


def test_sigkill_at_random_points_then_resume_completes(
    demo_env: Any, reset: Callable[[str], None], tmp_path: Path
) -> None:
    reset("grades")
    steps = "\n".join(f"  - setWeight: {w}\n  - pause: 1s" for w in (10, 30, 50, 70))
    plan = _plan(tmp_path, "grades", steps=steps)
    store = _store(demo_env)
    rnd = random.Random(4)
    last_step = -1
    kills = 0
    for _ in range(6):
        proc = _spawn("auto", str(plan), "--json", "--timeout", "60s")

        def driving(p: subprocess.Popen[str] = proc) -> bool:
            if p.poll() is not None:
                return True  # finished (or failed) before it could be killed
            lease = store.lease("grades")
            return lease is not None and lease.holder.split(":")[1] == str(p.pid)

        try:
            # kill at a random point after this process took over the rollout
            eventually(driving, 20)
            time.sleep(rnd.uniform(0.0, 1.5))
            if proc.poll() is not None:
                break  # it finished before we got to kill it
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        finally:
            _stop(proc)
        rec = store.load("grades")  # parses: never torn
        assert rec is not None
        _audit_lines_parse(demo_env, "grades")
        assert rec.step_index >= last_step  # never goes back
        last_step = rec.step_index
        if rec.phase.terminal:
            break
    assert kills >= 3
    res = _run("auto", str(plan), "--json", "--timeout", "60s")
    assert res.returncode == 0, res.stdout + res.stderr
    events = _json_lines(res.stdout)
    rec = store.load("grades")
    assert rec is not None and rec.phase is Phase.COMPLETED
    # the last run resumed the recorded rollout rather than starting a new one
    assert any("resuming" in e.get("message", "") for e in events)
    audit = _audit_lines_parse(demo_env, "grades")
    actions = [a["action"] for a in audit]
    # Never started over; every restart (but perhaps one killed within its first
    # milliseconds) resumed, each from a step at or after the one before.
    assert actions.count("start") == 1 and actions.count("resume-driver") >= kills - 1
    resumed_at = [a["data"]["step_index"] for a in audit if a["action"] == "resume-driver"]
    assert resumed_at == sorted(resumed_at) and resumed_at[-1] == last_step
    weights = [a["data"]["weights"]["v2"] for a in audit if a["action"] == "set-split"]
    distinct = [w for i, w in enumerate(weights) if i == 0 or w != weights[i - 1]]
    assert distinct == [10, 30, 50, 70, 100]  # no step skipped, none out of order
    assert demo_env.env.traffic.get_split("grades").weights.get("v2") == 100


def test_two_drivers_one_drives_and_commands_from_anywhere_apply(
    demo_env: Any, reset: Callable[[str], None], tmp_path: Path
) -> None:
    reset("courses")
    plan = _plan(tmp_path, "courses", steps="  - setWeight: 30\n  - pause: {}\n  - setWeight: 60")
    store = _store(demo_env)
    a = _spawn("auto", str(plan), "--json", "--timeout", "60s")
    b = None
    try:

        def gated() -> bool:
            rec = store.load("courses")
            return rec is not None and rec.phase is Phase.PAUSED

        assert eventually(gated, 30), "the first driver never reached the manual gate"
        lease = store.lease("courses")
        assert lease is not None
        holder_a = lease.holder
        assert holder_a.split(":")[1] == str(a.pid)
        b = _Reading("auto", str(plan), "--json", "--timeout", "60s")
        # Promote only once b watches a's rollout: b's start-up time depends on the machine,
        # and a b that started after a had finished would have nothing to watch.
        wait_until(
            lambda: any(
                e.get("kind") == "lease" and "watching" in e["message"] for e in b.events()
            ),
            30,
            "the second driver to watch the first one's rollout",
        )
        msg = _run("promote", "courses", "--reason", "looks good")
        assert msg.returncode == 0, msg.stderr
        assert "posted" in msg.stdout and "will apply it" in msg.stdout
        out_a, _ = a.communicate(timeout=60)
        b.proc.wait(timeout=60)
    finally:
        _stop(a)
        if b is not None:
            b.stop()
    assert a.returncode == 0 and b.proc.returncode == 0
    ev_a, ev_b = _json_lines(out_a), b.events()
    assert ev_a[-1]["phase"] == "Completed" and ev_b[-1]["phase"] == "Completed"
    # Exactly one drove: every change in the audit log came from a's driver.
    audit = _audit_lines_parse(demo_env, "courses")
    drivers = {x["data"].get("driver") for x in audit}
    assert drivers == {holder_a}
    promote = next(x for x in audit if x["action"] == "promote")
    assert promote["reason"] == "looks good" and promote["user"]
    # b saw a's decisions as a viewer
    assert any(e.get("kind") == "completed" for e in ev_b)


def test_auto_left_paused_exits_3_and_sigterm_records_the_stop(
    demo_env: Any, reset: Callable[[str], None], tmp_path: Path
) -> None:
    reset("grades")
    plan = _plan(tmp_path, "grades", steps="  - setWeight: 30\n  - pause: {}")
    # The gate comes ~2 s in (a passing 2 s window at 30 % first); the timeout leaves a few
    # seconds of slack for a slow machine, or auto times out before the gate, not "paused".
    res = _run("auto", str(plan), "--timeout", "5s")
    assert res.returncode == 3, res.stdout + res.stderr
    assert "left paused" in res.stdout
    store = _store(demo_env)
    assert store.lease("grades") is None
    # Resumed by a second run, then stopped by SIGTERM: traffic stays, the stop is audited.
    proc = _spawn("auto", str(plan), "--json", "--timeout", "60s")
    try:
        assert eventually(lambda: store.lease("grades") is not None, 20)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        _stop(proc)
    assert proc.returncode == 3
    summary = _json_lines(out)[-1]
    assert "SIGTERM" in summary["reason"]
    assert store.lease("grades") is None
    assert demo_env.env.traffic.get_split("grades").weights.get("v2") == 30
    actions = [a.action for a in store.read_audit("grades")]
    assert actions.count("start") == 1 and "resume-driver" in actions
    assert actions[-1] == "stop-driver"
    # with no driver running, a one-shot command is applied at once
    res = _run("abort", "grades", "--reason", "not today")
    assert res.returncode == 0 and res.stdout.startswith("aborted:"), res.stdout + res.stderr
    assert demo_env.env.traffic.get_split("grades").weights == {"v1": 100, "v2": 0}
    assert store.lease("grades") is None


def test_bad_input_exits_2_with_a_message(demo_env: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("service: courses\nstrategy: canary\n")
    res = _run("auto", str(bad))
    assert res.returncode == 2 and "candidate" in res.stderr and "Traceback" not in res.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(PLAN.format(service="payments", steps=FAST_STEPS, extra=""))
    res = _run("auto", str(unknown), "--json")
    assert res.returncode == 2 and "service 'payments' not found" in res.stderr
    assert _json_lines(res.stdout)[-1]["exit_code"] == 2
    typo = tmp_path / "typo.yaml"
    typo.write_text(PLAN.format(service="courses", steps=FAST_STEPS, extra="").replace("v2", "v9"))
    res = _run("auto", str(typo))
    assert res.returncode == 2 and "candidate 'v9' is not a version of courses" in res.stderr
    assert "known: v1, v2" in res.stderr
    arms = tmp_path / "arms.yaml"
    arms.write_text(
        "service: courses\nstrategy: experiment\narms:\n  - {name: v1, weight: 50}\n"
        "  - {name: v8, weight: 50}\nduration: 1m\nmetric: {name: error-rate}\n"
    )
    res = _run("auto", str(arms))
    assert res.returncode == 2 and "arm v8 is not a version of courses" in res.stderr, res.stderr
    res = _run("auto", str(unknown), "--timeout", "soon")
    assert res.returncode == 2 and "--timeout" in res.stderr
    res = _run("status", "nope")
    assert res.returncode == 2 and "unknown service 'nope'" in res.stderr


def test_no_demo_running_exits_4_and_status_reads_the_records(tmp_path: Path) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text(PLAN.format(service="courses", steps=FAST_STEPS, extra=""))
    env = {**os.environ, "ROLLOUT_DEMO_DIR": str(tmp_path / "none")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _rollout(*args), capture_output=True, text=True, env=env, timeout=60, cwd=ROOT
        )

    res = run("auto", str(plan))
    assert res.returncode == 4 and "no demo environment is running" in res.stderr
    assert run("promote", "courses").returncode == 4
    # The records of a demo that is not running are still shown (read-only).
    store = FileStateStore(tmp_path / "none" / "rollouts")
    rec = RolloutRecord(
        service="courses",
        strategy=Strategy.CANARY,
        stable="v1",
        candidate="v2",
        phase=Phase.PAUSED,
        plan={"steps": [{"setWeight": 30}, {"pause": {}}]},
        step_index=1,
        weights={"v1": 70, "v2": 30},
    )
    store.save(rec, 0)
    record = "courses"
    res = run("status", "--json")
    assert res.returncode == 0 and "showing the recorded state only" in res.stderr
    (row,) = json.loads(res.stdout)["services"]
    assert row["service"] == record and row["phase"] == "Paused" and row["step"] == "2/2"


def test_demo_going_away_mid_rollout_exits_4(tmp_path: Path) -> None:
    from backends.local import start_demo

    state = tmp_path / "own-demo"
    handle = start_demo(state, rps=30, instances=1, services=["courses"])
    env = {**os.environ, "ROLLOUT_DEMO_DIR": str(state)}
    plan = tmp_path / "gate.yaml"
    plan.write_text(
        PLAN.format(service="courses", steps="  - setWeight: 30\n  - pause: {}", extra="")
    )
    proc = subprocess.Popen(
        _rollout("auto", str(plan), "--json", "--timeout", "60s"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        store = FileStateStore(state / "rollouts")

        def gated() -> bool:
            rec = store.load("courses")
            return rec is not None and rec.phase is Phase.PAUSED

        assert eventually(gated, 30)
        handle.stop()
        out, err = proc.communicate(timeout=40)
    finally:
        handle.stop()
        _stop(proc)
    assert proc.returncode == 4, out + err
    summary = _json_lines(out)[-1]
    assert summary["exit_code"] == 4 and "unreachable" in summary["reason"]
    assert store.lease("courses") is None
    assert store.read_audit("courses")[-1].action == "stop-driver"


def test_auto_refuses_a_metric_the_metrics_source_cannot_measure(
    demo_env: Any, reset: Callable[[str], None], tmp_path: Path
) -> None:
    # The demo's traffic with HAProxy-style Prometheus metrics: HAProxy's exporter has no
    # latency histogram, so a latency threshold could only ever read "no data".
    reset("grades")
    config_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "rollout"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.yaml").write_text(
        "environments:\n"
        "  lb:\n"
        "    cluster: {kind: demo}\n"
        "    metrics: {kind: prometheus, url: 'http://127.0.0.1:9', provider: haproxy}\n",
        encoding="utf-8",
    )
    try:
        extra = "    - {name: latency-p99, max: 400ms}"
        proc = _run("auto", str(_plan(tmp_path, "grades", extra=extra)), "--env", "lb")
    finally:
        (config_dir / "config.yaml").unlink()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "latency" in proc.stderr and "HAProxy" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert FileStateStore(demo_env.state_dir / "rollouts").load("grades") is None
