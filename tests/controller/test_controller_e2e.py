"""The demo with its controller, as real processes: `rollout start` with no console open is
guarded; the controller SIGKILLed at random points while a fault is injected; a second
controller on the same store; SIGTERM hands leases back; /metrics; `auto` as a viewer.

The demo runs once for the module (``demo_env`` in tests/conftest.py) with the controller
as its companion process, exactly as ``rollout demo`` runs it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from backends.base import Phase
from backends.local.store import FileStateStore
from console.commands.demo import controller_argv
from console.driver.presence import controller_running
from tests.support.waits import eventually, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TTL = 10.0  # the controller's lease TTL
INTERVAL = 1.0  # its tick and the plans' analysis interval

PLAN = """\
service: {service}
strategy: canary
stable: v1
candidate: v2
steps:
  - setWeight: 20
  - pause: 60s
  - setWeight: 50
analysis:
  interval: 1s
  window: 2s
  minRequests: 3
  failureLimit: 0
  inconclusiveLimit: 30
  metrics:
    - {{name: error-rate, max: 0.05}}
"""


@pytest.fixture(scope="module")
def demo_options() -> dict[str, Any]:
    return {"rps": 120, "instances": 2, "companions": {"controller": controller_argv()}}


def _store(demo_env: Any) -> FileStateStore:
    return FileStateStore(demo_env.state_dir / "rollouts")


def _rollout(*args: str) -> list[str]:
    return [sys.executable, "-m", "console.cli", *args]


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _rollout(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
    )


def _plan(tmp_path: Path, service: str) -> Path:
    path = tmp_path / f"{service}.yaml"
    path.write_text(PLAN.format(service=service))
    return path


def _controller(demo_env: Any) -> str:
    """The demo controller's holder id, once it is up (it restarts after a kill)."""
    store = _store(demo_env)
    wait_until(lambda: controller_running(store), timeout=30, what="a running controller")
    holder = controller_running(store)
    assert holder is not None
    return holder


def _pid(holder: str) -> int:
    return int(holder.split(":")[1])


def _weights(demo_env: Any, service: str) -> dict[str, int]:
    return dict(demo_env.env.traffic.get_split(service).weights)


def _log_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


@pytest.fixture
def reset(demo_env: Any) -> Callable[[str], None]:
    """No rollout in progress for ``service``: v1 100 %, no fault, no record."""

    def do(service: str) -> None:
        store = _store(demo_env)
        rec = store.load(service)
        if rec is not None and not rec.phase.terminal:
            _run("abort", service)
            wait_until(
                lambda: (r := store.load(service)) is not None and r.phase.terminal,
                timeout=20,
                what=f"{service} aborted",
            )
        wait_until(lambda: store.lease(service) is None, timeout=TTL + 5, what="lease freed")
        tr = demo_env.env.traffic
        tr.set_split(service, {"v1": 100, "v2": 0})
        demo_env.control.clear_fault(service, "v2")
        for p in (demo_env.state_dir / "rollouts").glob(f"{service}.*"):
            p.unlink()
        # The faulty requests of the last iteration must age out of the analysis window, or
        # the next canary would be judged on them and roll back before anything is killed.
        metrics = demo_env.env.metrics
        wait_until(
            lambda: not (metrics.sample(service, ["v2"], 5.0)["v2"].requests or 0),
            timeout=30,
            what=f"no recent {service} v2 requests",
        )

    return do


def test_start_with_no_console_is_guarded_and_a_fault_is_rolled_back(
    demo_env: Any, reset: Callable[[str], None], tmp_path: Path
) -> None:
    reset("courses")
    holder = _controller(demo_env)
    res = _run("start", str(_plan(tmp_path, "courses")))
    assert res.returncode == 0, res.stderr
    assert "drives it" in res.stdout and "UNGUARDED" not in res.stderr
    assert "rollout status courses" in res.stdout  # how to follow it
    store = _store(demo_env)
    wait_until(
        lambda: (lease := store.lease("courses")) is not None and lease.holder == holder,
        timeout=10,
        what="the controller driving courses",
    )
    check = _run("status", "--check", "--json")
    assert check.returncode == 0, check.stderr
    body = json.loads(check.stdout)
    row = next(r for r in body["services"] if r["service"] == "courses")
    assert row["guarded"] is True and row["driver"] == holder.split(":")[0]
    assert body["controller"] == holder.split(":")[0]

    demo_env.control.inject_fault("courses", "v2", errors=0.6, latency=0)
    wait_until(
        lambda: (r := store.load("courses")) is not None and r.phase is Phase.ROLLED_BACK,
        timeout=30,
        what="courses rolled back by the controller",
    )
    assert _weights(demo_env, "courses") == {"v1": 100, "v2": 0}
    audit = store.read_audit("courses")
    assert [e.action for e in audit][:3] == ["start", "set-split", "take-over"]
    assert audit[-1].data.get("driver") == holder
    demo_env.control.clear_fault("courses", "v2")


def test_auto_follows_a_controller_driven_rollout_and_exits_with_its_code(
    demo_env: Any, reset: Callable[[str], None], tmp_path: Path
) -> None:
    reset("enrollments")
    holder = _controller(demo_env)
    plan = _plan(tmp_path, "enrollments")
    assert _run("start", str(plan)).returncode == 0
    store = _store(demo_env)
    wait_until(
        lambda: (lease := store.lease("enrollments")) is not None and lease.holder == holder,
        timeout=10,
        what="the controller driving enrollments",
    )
    auto = subprocess.Popen(
        _rollout("auto", str(plan), "--json", "--timeout", "60s"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert auto.stdout is not None
        first = json.loads(auto.stdout.readline())
        assert first["kind"] == "lease" and "watching" in first["message"]
        demo_env.control.inject_fault("enrollments", "v2", errors=0.6, latency=0)
        out, err = auto.communicate(timeout=60)
    finally:
        if auto.poll() is None:
            auto.kill()
            auto.communicate()
        demo_env.control.clear_fault("enrollments", "v2")
    assert auto.returncode == 1, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["phase"] == "RolledBack" and summary["exit_code"] == 1
    # The controller drove it to the end: the viewer never took the lease.
    assert store.read_audit("enrollments")[-1].data.get("driver") == holder


def test_controller_sigkilled_at_random_points_reverts_a_fault_every_time(
    demo_env: Any, reset: Callable[[str], None], tmp_path: Path
) -> None:
    rnd = random.Random(11)
    store = _store(demo_env)
    log = demo_env.state_dir / "controller.log"
    for i in range(3):
        reset("grades")
        holder = _controller(demo_env)
        assert _run("start", str(_plan(tmp_path, "grades"))).returncode == 0
        wait_until(
            lambda h=holder: (lease := store.lease("grades")) is not None and lease.holder == h,
            timeout=10,
            what="the controller driving grades",
        )
        # The candidate takes traffic first (on a loaded machine its health gate can hold the
        # first split back): otherwise "back on v1" would hold before anything reverted it.
        wait_until(
            lambda: _weights(demo_env, "grades").get("v2", 0) > 0,
            timeout=20,
            what=f"iteration {i}: v2 taking traffic",
        )
        time.sleep(rnd.uniform(0.0, 2.5))  # somewhere in its ticks
        before = store.load("grades")
        assert before is not None
        lines_before = len(_log_lines(log))
        killed_at = time.time()
        os.kill(_pid(holder), signal.SIGKILL)
        demo_env.control.inject_fault("grades", "v2", errors=0.6, latency=0)
        wait_until(
            lambda: _weights(demo_env, "grades") == {"v1": 100, "v2": 0},
            timeout=TTL + 25,
            what=f"iteration {i}: grades back on v1",
        )
        reverted_at = time.time()
        # The restarted controller's first line says when it came back.
        restarted = [x for x in _log_lines(log)[lines_before:] if x["kind"] == "listening"]
        assert restarted, "the demo restarted no controller"
        back = _iso(restarted[0]["time"])
        restart = back - killed_at
        assert reverted_at - killed_at <= TTL + restart + INTERVAL + 1.0, (
            f"iteration {i}: reverted {reverted_at - killed_at:.1f} s after the kill, "
            f"the controller was back after {restart:.1f} s"
        )
        wait_until(
            lambda: (r := store.load("grades")) is not None and r.phase is Phase.ROLLED_BACK,
            timeout=10,
            what="the rollback recorded",
        )
        after = store.load("grades")
        assert after is not None and after.revision > before.revision
        assert after.started_at == before.started_at  # the same rollout, not a new one
        demo_env.control.clear_fault("grades", "v2")


def _iso(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def second_controller(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []

    def spawn() -> subprocess.Popen[str]:
        log = open(tmp_path / f"second-{len(procs)}.log", "w")  # noqa: SIM115 - closed by the child's end
        proc = subprocess.Popen(
            _rollout("controller", "--env", "demo", "--port", "0"),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        proc.log_path = tmp_path / f"second-{len(procs)}.log"  # type: ignore[attr-defined]
        procs.append(proc)
        return proc

    yield spawn
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)


def test_two_controllers_drive_each_rollout_once_and_sigterm_hands_back_at_once(
    demo_env: Any,
    reset: Callable[[str], None],
    tmp_path: Path,
    second_controller: Callable[[], subprocess.Popen[str]],
) -> None:
    reset("courses")
    store = _store(demo_env)
    first = _controller(demo_env)
    other = second_controller()
    wait_until(
        lambda: any(x["message"].startswith("standby") for x in _log_lines(other.log_path)),  # type: ignore[attr-defined]
        timeout=20,
        what="the second controller on standby",
    )
    assert _run("start", str(_plan(tmp_path, "courses"))).returncode == 0
    wait_until(
        lambda: (lease := store.lease("courses")) is not None and lease.holder == first,
        timeout=10,
        what="the active controller driving courses",
    )
    # SIGTERM the active one: it hands the lease back at once, and one of the others (the
    # standby, or the demo's restart of it) drives on long before the lease would expire.
    lease = store.lease("courses")
    assert lease is not None
    expires = lease.expires_at
    os.kill(_pid(first), signal.SIGTERM)
    wait_until(
        lambda: (now := store.lease("courses")) is not None and now.holder != first,
        timeout=TTL,
        what="another controller driving courses",
    )
    taken = store.lease("courses")
    assert taken is not None and time.time() < expires  # not a TTL wait
    # Exactly once: the audit's drivers come in one block each, never interleaved.
    time.sleep(2)
    drivers = [e.data.get("driver") for e in store.read_audit("courses")][2:]
    blocks = [d for i, d in enumerate(drivers) if i == 0 or d != drivers[i - 1]]
    assert len(blocks) == len(set(blocks)), blocks
    assert blocks[0] == first and blocks[-1] == taken.holder

    # Our own controller's SIGTERM: exit 0, and nothing stays leased to it.
    other.send_signal(signal.SIGTERM)
    assert other.wait(20) == 0
    for key in ("courses", "rollout-controller"):
        lease = store.lease(key)
        assert lease is None or _pid(lease.holder) != other.pid
    last = _log_lines(other.log_path)[-1]  # type: ignore[attr-defined]
    assert "SIGTERM" in last["message"] and "handed back" in last["message"]


def test_metrics_parse_as_prometheus_text_and_count_ticks(
    demo_env: Any, reset: Callable[[str], None], tmp_path: Path
) -> None:
    reset("courses")
    holder = _controller(demo_env)
    lines = _log_lines(demo_env.state_dir / "controller.log")
    # The controller's "controller" line (with its holder) follows its "listening" line.
    at = next(i for i, x in enumerate(lines) if x.get("holder") == holder)
    url = next(x["url"] for x in reversed(lines[:at]) if x["kind"] == "listening")
    assert _run("start", str(_plan(tmp_path, "courses"))).returncode == 0

    def ticks() -> float:
        text = httpx.get(f"{url}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "rollout_controller_ticks_total":
                    return float(sample.value)
        raise AssertionError("no rollout_controller_ticks_total")

    first = ticks()
    assert eventually(lambda: ticks() >= first + 2, timeout=15)
    health = httpx.get(f"{url}/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["role"] == "active"
