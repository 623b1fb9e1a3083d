"""``rollout demo --gateway haproxy``: Debian's HAProxy as the demo's gateway. A canary
driven by ``rollout auto`` (judged on HAProxy's exporter through Prometheus) moves the
requests sent through HAProxy; without HAProxy the demo says so and exits 4."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.base import Phase
from backends.local.store import FileStateStore
from tests.haproxy.load import LoadLoop
from tests.support.waits import wait_for, wait_until

pytestmark = pytest.mark.slow

PLAN = """\
service: courses
strategy: canary
stable: v1
candidate: v2
steps:
  - setWeight: 50
  - pause: {}
analysis:
  interval: 2s
  window: 4s
  minRequests: 3
  inconclusiveLimit: 20
  metrics:
    - {name: error-rate, max: 0.05}
    - {name: request-rate, min: 0.1}
"""


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_STATE_HOME=str(tmp / "state"),
        ROLLOUT_DEMO_DIR=str(tmp / "demo"),
        NO_COLOR="1",
    )
    return env


@contextlib.contextmanager
def _demo(tmp: Path, controller: bool = False) -> Iterator[dict]:
    """``rollout demo --headless --gateway haproxy`` in ``tmp`` (its output in demo.out and
    demo.err), with the demo's controller or not; its gateway file; stopped afterwards."""
    argv = [sys.executable, "-m", "console.cli", "demo", "--headless", "--gateway", "haproxy"]
    argv += ["--rps", "40", "--instances", "2"]
    argv += [] if controller else ["--no-controller"]
    # Files, not pipes: nobody reads a pipe while the demo runs (and a test reads stderr).
    with open(tmp / "demo.out", "w") as out, open(tmp / "demo.err", "w") as err:
        proc = subprocess.Popen(argv, env=_env(tmp), stdout=out, stderr=err, text=True)
    try:
        gateway = wait_for(lambda: _gateway(tmp / "demo") or proc.poll(), 90, "HAProxy's file")
        assert isinstance(gateway, dict), (tmp / "demo.err").read_text()
        yield gateway
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def haproxy_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    tmp = tmp_path_factory.mktemp("hademo")
    with _demo(tmp) as gateway:
        yield tmp, gateway


def _gateway(state: Path) -> dict | None:
    try:
        data = json.loads((state / "haproxy.json").read_text())
    except (OSError, ValueError):
        return None
    return None if data.get("pending") else data


def _rollout(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        env=_env(tmp),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_canary_on_the_haproxy_demo_moves_traffic(haproxy_demo: tuple[Path, dict]) -> None:
    tmp, gateway = haproxy_demo
    port = int(gateway["gateway_url"].rsplit(":", 1)[1])
    plan = tmp / "plan.yaml"
    plan.write_text(PLAN)
    status = _rollout(tmp, "status")
    assert status.returncode == 0 and "v1 100%" in status.stdout, status.stderr
    auto = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "auto", str(plan), "--timeout", "3m"],
        env=_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = FileStateStore(tmp / "demo" / "rollouts")
    load = LoadLoop(port, rate=100).start()
    try:
        # The gate after setWeight 50 is reached only on a passing measurement: the metrics
        # came from HAProxy's exporter through Prometheus.
        wait_until(
            lambda: (r := store.load("courses")) is not None and r.phase is Phase.PAUSED,
            120,
            "the canary at 50% with a passing measurement",
        )
        before = load.snapshot()
        wait_until(lambda: sum(load.snapshot().values()) - sum(before.values()) >= 400, 60)
        after = load.snapshot()
        share = (after["v2"] - before["v2"]) / (sum(after.values()) - sum(before.values()))
        assert abs(share - 0.5) < 0.06, (before, after)
        aborted = _rollout(tmp, "abort", "courses", "--reason", "test over")
        assert aborted.returncode == 0, aborted.stderr
        auto.wait(60)
    finally:
        if auto.poll() is None:
            auto.terminate()
            auto.wait(20)
        tally = load.stop()
    assert not tally.failures, tally.failures[:5]
    record = store.load("courses")
    assert record is not None and record.phase is Phase.ABORTED
    events = [e.kind for e in record.events]
    assert "analysis" in events, events


def test_without_haproxy_the_demo_says_so(tmp_path: Path) -> None:
    env = _env(tmp_path) | {"ROLLOUT_HAPROXY": str(tmp_path / "no-haproxy")}
    done = subprocess.run(
        [sys.executable, "-m", "console.cli", "demo", "--headless", "--gateway", "haproxy"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 4, done.stderr
    assert "HAProxy is not installed" in done.stderr and "Traceback" not in done.stderr


def test_a_restarted_instance_is_followed_to_its_new_port(haproxy_demo: tuple[Path, dict]) -> None:
    from backends.haproxy.runtime import RuntimeClient
    from backends.haproxy.traffic import HAProxyTraffic
    from backends.local import connect

    tmp, gateway = haproxy_demo
    control = connect(tmp / "demo").extras["control"]
    haproxy = HAProxyTraffic(RuntimeClient(gateway["runtime"]))
    inst = next(i for i in control.status()["instances"] if i["name"] == "grades-v1-1")
    os.kill(inst["pid"], signal.SIGKILL)
    moved = wait_for(
        lambda: next(
            (
                i
                for i in control.status()["instances"]
                if i["name"] == "grades-v1-1" and i["state"] == "ready" and i["pid"] != inst["pid"]
            ),
            None,
        ),
        60,
        "grades-v1-1 restarted",
    )
    wait_until(
        lambda: any(
            s.name == "v1-1" and s.address == f"127.0.0.1:{moved['port']}"
            for s in haproxy._servers()
            if s.backend == "grades"
        ),
        30,
        "HAProxy's server v1-1 on the new port",
    )
    wait_until(lambda: haproxy.health("grades")["v1"].all_ready, 30, "v1-1 UP again")


def _haproxy_pid(runtime: str) -> int | None:
    """HAProxy's pid from ``show info``; None while nothing answers on the Runtime API."""
    from backends.haproxy.runtime import RuntimeClient

    try:
        text = RuntimeClient(runtime).execute("show info")
    except Exception:
        return None
    info = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    return int(info["Pid"]) if "Pid" in info else None


def _kill_and_wait_for_another(runtime: str, timeout: float = 30) -> int:
    old = _haproxy_pid(runtime)
    assert old is not None
    os.kill(old, signal.SIGKILL)
    return int(
        wait_for(
            lambda: (_haproxy_pid(runtime) or old) != old and _haproxy_pid(runtime),
            timeout,
            "a new HAProxy answering on the Runtime API",
        )
    )


def test_haproxy_that_dies_is_restarted_with_the_split_it_had(
    haproxy_demo: tuple[Path, dict],
) -> None:
    import httpx

    from backends.haproxy.runtime import RuntimeClient
    from backends.haproxy.traffic import HAProxyTraffic

    tmp, gateway = haproxy_demo
    haproxy = HAProxyTraffic(RuntimeClient(gateway["runtime"]))
    haproxy.set_split("grades", {"v1": 70, "v2": 30})
    time.sleep(3)  # the demo reads each split every 2 s, to restore it after a restart
    _kill_and_wait_for_another(gateway["runtime"])
    wait_until(
        lambda: haproxy.get_split("grades").weights == {"v1": 70, "v2": 30},
        15,
        "grades' split 70/30 restored",
    )
    answer = httpx.get(f"{gateway['gateway_url']}/grades/1", timeout=5)
    assert answer.status_code == 200
    said = (tmp / "demo.err").read_text()
    assert "HAProxy exited (code" in said and "restarted on port" in said, said
    assert "grades v1 70 / v2 30" in said, said


def test_haproxy_that_keeps_dying_is_given_up_on_with_a_message(tmp_path: Path) -> None:
    from console.config.demo_gateway import MAX_RESTARTS

    with _demo(tmp_path) as gateway:
        for _ in range(MAX_RESTARTS):
            _kill_and_wait_for_another(gateway["runtime"])
        last = _haproxy_pid(gateway["runtime"])
        assert last is not None
        os.kill(last, signal.SIGKILL)
        said = wait_for(
            lambda: "not restarting it again" in (t := (tmp_path / "demo.err").read_text()) and t,
            30,
            "the demo giving up on HAProxy",
        )
        assert f"{MAX_RESTARTS} times in 60s" in said and "haproxy.log" in said
        assert _haproxy_pid(gateway["runtime"]) is None  # not restarted


def test_the_demos_controller_guards_a_rollout_on_haproxy(tmp_path: Path) -> None:
    # `rollout start` with no console: the controller drives on HAProxy, judged on HAProxy's
    # exporter through Prometheus, and rolls a fault back by itself.
    from backends.haproxy.runtime import RuntimeClient
    from backends.haproxy.traffic import HAProxyTraffic
    from backends.local import connect
    from console.driver.presence import controller_running

    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    store = FileStateStore(tmp_path / "demo" / "rollouts")
    with _demo(tmp_path, controller=True) as gateway:
        wait_until(lambda: controller_running(store), 60, "the demo's controller")
        holder = controller_running(store)
        started = _rollout(tmp_path, "start", str(plan))
        assert started.returncode == 0, started.stdout + started.stderr
        wait_until(
            lambda: (r := store.load("courses")) is not None and r.phase is Phase.PAUSED,
            120,
            "the canary at its gate after a passing measurement",
        )
        lease = store.lease("courses")
        assert lease is not None and lease.holder == holder
        haproxy = HAProxyTraffic(RuntimeClient(gateway["runtime"]))
        assert haproxy.get_split("courses").weights == {"v1": 50, "v2": 50}
        connect(tmp_path / "demo").extras["control"].inject_fault("courses", "v2", errors=0.5)
        wait_until(
            lambda: (r := store.load("courses")) is not None and r.phase is Phase.ROLLED_BACK,
            90,
            "the controller rolling the faulty v2 back",
        )
        # The driver saves the record before it applies the tick's actions (docs/internals.md).
        wait_until(
            lambda: haproxy.get_split("courses").weights == {"v1": 100, "v2": 0},
            30,
            "courses back to v1 100 on HAProxy",
        )
        record = store.load("courses")
        assert record is not None and "error-rate" in record.message
