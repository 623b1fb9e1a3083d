"""Rollouts driven by ``rollout`` on real HAProxy: canary steps move the measured share,
a rollback drains the candidate with zero failed requests under load, a server that goes
DOWN shows in health and holds the step, and plans HAProxy cannot carry are refused."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.base import Phase
from backends.haproxy.stats import DRAIN_BITS, MAINT_BITS
from backends.local.store import FileStateStore
from tests.haproxy.cli import rollout, start_rollout, write_config
from tests.haproxy.fleet import Fleet
from tests.haproxy.load import LoadLoop
from tests.support.waits import wait_for, wait_until

pytestmark = pytest.mark.slow

GATED = """\
service: courses
strategy: canary
stable: v1
candidate: v2
steps:
  - setWeight: 20
  - pause: {{}}
  - setWeight: 60
  - pause: {{}}
analysis: false
{tail}"""


@pytest.fixture
def home(tmp_path: Path, fleet: Fleet) -> Iterator[dict[str, str]]:
    """Config and state for one test; the fleet back on v1 with every server ready after."""
    env = write_config(tmp_path, {"runtime": fleet.socket_path, "stateDir": str(tmp_path / "ha")})
    fleet.traffic.set_split("courses", {"v1": 100, "v2": 0})
    yield env
    for inst in fleet.instances.values():
        inst.set_unready(False)
    fleet.traffic.set_split("courses", {"v1": 100, "v2": 0})


def _plan(tmp_path: Path, text: str) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return str(path)


def _record(tmp_path: Path):  # type: ignore[no-untyped-def]
    return FileStateStore(tmp_path / "ha").load("courses")


def _share_since(load: LoadLoop, before: object, version: str) -> float:
    now = load.snapshot()
    delta = {v: now[v] - before[v] for v in now}  # type: ignore[index]
    return delta.get(version, 0) / max(1, sum(delta.values()))


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(20)


def test_canary_steps_move_the_measured_share(
    fleet: Fleet, home: dict[str, str], tmp_path: Path
) -> None:
    plan = _plan(tmp_path, GATED.format(tail=""))
    load = LoadLoop(fleet.haproxy.port, rate=300).start()
    auto = start_rollout("auto", plan, "--env", "ha", "--timeout", "2m", env=home)
    try:
        for weight in (20, 60):
            wait_until(
                lambda w=weight: (
                    (r := _record(tmp_path)) is not None
                    and r.weights.get("v2") == w
                    and r.phase is Phase.PAUSED
                    # the record is saved before its actions are applied: wait for both
                    and fleet.traffic.get_split("courses").weights["v2"] == w
                ),
                60,
                f"the canary at {weight}%",
            )
            assert fleet.traffic.get_split("courses").weights == {"v1": 100 - weight, "v2": weight}
            before = load.snapshot()
            wait_until(lambda b=before: sum(load.snapshot().values()) - sum(b.values()) >= 500, 60)
            assert abs(_share_since(load, before, "v2") - weight / 100) < 0.05
            assert rollout("promote", "courses", "--env", "ha", env=home).returncode == 0
        assert auto.wait(60) == 0, auto.stderr.read() if auto.stderr else ""
        assert fleet.traffic.get_split("courses").weights == {"v1": 0, "v2": 100}
    finally:
        _stop(auto)
        tally = load.stop()
    assert not tally.failures, tally.failures[:5]


def test_rollback_drains_the_candidate_with_zero_failed_requests(
    fleet: Fleet, home: dict[str, str], tmp_path: Path
) -> None:
    plan = _plan(tmp_path, GATED.format(tail=""))
    load = LoadLoop(fleet.haproxy.port, rate=400).start()
    auto = start_rollout("auto", plan, "--env", "ha", "--timeout", "2m", env=home)
    try:
        wait_until(
            lambda: (r := _record(tmp_path)) is not None and r.weights.get("v2") == 20, 60, "20%"
        )
        before = load.snapshot()
        wait_until(lambda: load.snapshot()["v2"] - before["v2"] >= 100, 60, "v2 taking requests")
        aborted = rollout("abort", "courses", "--env", "ha", "--reason", "test", env=home)
        assert aborted.returncode == 0, aborted.stderr
        wait_for(lambda: (r := _record(tmp_path)) and r.phase is Phase.ABORTED, 60, "the rollback")
        auto.wait(60)
        states = {s.name: s.admin_state for s in fleet.traffic._servers()}
        assert all(states[n] & DRAIN_BITS and not states[n] & MAINT_BITS for n in ("v2-1", "v2-2"))
        drained = load.snapshot()
        wait_until(lambda: sum(load.snapshot().values()) - sum(drained.values()) >= 400, 60)
        assert load.snapshot()["v2"] == drained["v2"]  # no new request reached v2
    finally:
        _stop(auto)
        tally = load.stop()
    assert not tally.failures, tally.failures[:5]
    assert tally.rate >= 300, f"the load loop managed {tally.rate:.0f} requests/s only"


def test_a_server_down_shows_in_health_and_holds_the_step(
    fleet: Fleet, home: dict[str, str], tmp_path: Path
) -> None:
    fleet.instances["v2-1"].set_unready(True)
    health = wait_for(
        lambda: (h := fleet.traffic.health("courses")["v2"]).ready == 1 and h, 30, "v2-1 DOWN"
    )
    assert health.total == 2
    assert any(r.startswith("v2-1 DOWN") and "L7STS" in r for r in health.reasons), health
    plan = _plan(tmp_path, GATED.format(tail=""))
    auto = start_rollout("auto", plan, "--env", "ha", "--timeout", "2m", env=home)
    try:
        held = wait_for(
            lambda: (r := _record(tmp_path)) and any(e.kind == "health" for e in r.events) and r,
            60,
            "a health event",
        )
        assert held.weights.get("v2", 0) == 0
        assert fleet.traffic.get_split("courses").weights["v2"] == 0
        fleet.instances["v2-1"].set_unready(False)
        wait_until(
            lambda: (r := _record(tmp_path)) is not None and r.weights.get("v2") == 20,
            60,
            "the step once v2-1 is back UP",
        )
    finally:
        _stop(auto)


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        ('match:\n  - header: {x-lms-beta: "true"}\n', "header/cookie match"),
        ("mirror: 10\n", "mirroring"),
    ],
)
def test_validate_refuses_what_haproxy_cannot_do(
    fleet: Fleet, home: dict[str, str], tmp_path: Path, tail: str, reason: str
) -> None:
    done = rollout("validate", _plan(tmp_path, GATED.format(tail=tail)), "--env", "ha", env=home)
    assert done.returncode == 2, done.stderr
    assert reason in done.stderr and "Runtime API" in done.stderr


def test_validate_refuses_rolling_and_an_unknown_candidate(
    fleet: Fleet, home: dict[str, str], tmp_path: Path
) -> None:
    rolling = "service: courses\nstrategy: rolling\nstable: v1\ncandidate: v2\n"
    done = rollout("validate", _plan(tmp_path, rolling), "--env", "ha", env=home)
    assert done.returncode == 2 and "rolling" in done.stderr, done.stderr
    unknown = GATED.format(tail="").replace("candidate: v2", "candidate: v7")
    done = rollout("validate", _plan(tmp_path, unknown), "--env", "ha", env=home)
    assert done.returncode == 2, done.stderr
    assert "candidate 'v7' has no servers in courses's fixed fleet" in done.stderr
    assert "known: v1, v2" in done.stderr
    done = rollout("validate", _plan(tmp_path, GATED.format(tail="")), "--env", "ha", env=home)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("runtime", ["{tmp}/no-such.sock", "127.0.0.1:1"])
def test_a_bad_runtime_address_exits_4_naming_it(tmp_path: Path, runtime: str) -> None:
    address = runtime.format(tmp=tmp_path)
    env = write_config(tmp_path, {"runtime": address, "stateDir": str(tmp_path / "ha")})
    plan = _plan(tmp_path, GATED.format(tail=""))
    for args in (("validate", plan, "--env", "ha"), ("auto", plan, "--env", "ha")):
        done = rollout(*args, env=env)
        assert done.returncode == 4, (args, done.stderr)
        assert address in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_blue_green_switches_all_traffic_and_retire_drains_the_old_pool(
    fleet: Fleet, home: dict[str, str], tmp_path: Path
) -> None:
    plan = _plan(
        tmp_path,
        "service: courses\nstrategy: bluegreen\nstable: v1\ncandidate: v2\n"
        "autoPromote: true\nscaleDownDelay: 1s\n",
    )
    load = LoadLoop(fleet.haproxy.port, rate=200).start()
    try:
        done = rollout("auto", plan, "--env", "ha", "--timeout", "2m", env=home)
        assert done.returncode == 0, done.stderr
        assert fleet.traffic.get_split("courses").weights == {"v1": 0, "v2": 100}
        states = {s.name: s.admin_state for s in fleet.traffic._servers()}
        assert all(states[n] & DRAIN_BITS and not states[n] & MAINT_BITS for n in ("v1-1", "v1-2"))
        switched = load.snapshot()
        wait_until(lambda: load.snapshot()["v2"] - switched["v2"] >= 200, 60, "v2 serving")
        assert load.snapshot()["v1"] == switched["v1"]
    finally:
        tally = load.stop()
    assert not tally.failures, tally.failures[:5]


def test_a_socket_below_level_admin_is_refused_before_the_rollout(tmp_path: Path) -> None:
    from backends.haproxy.process import free_port, start_haproxy

    port, sock = free_port(), str(tmp_path / "operator.sock")
    config = (
        f"global\n  stats socket {sock} level operator\n"
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n"
        f"frontend f\n  bind 127.0.0.1:{port}\n  default_backend courses\n"
        "backend courses\n  server v1-a 127.0.0.1:1 weight 1\n  server v2-a 127.0.0.1:1 weight 1\n"
    )
    with start_haproxy(config, tmp_path / "hx", port, sock):
        env = write_config(tmp_path, {"runtime": sock, "stateDir": str(tmp_path / "ha")})
        done = rollout("validate", _plan(tmp_path, GATED.format(tail="")), "--env", "ha", env=env)
    assert done.returncode == 4, done.stderr
    assert "level operator" in done.stderr and "level admin" in done.stderr, done.stderr
