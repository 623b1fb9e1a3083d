"""``rollout demo --headless`` as a user runs it: start, refuse a second one, stop cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ROLLOUT_DEMO_DIR=str(root / "demo"),
        XDG_STATE_HOME=str(root / "state"),
        XDG_CONFIG_HOME=str(root / "config"),
    )
    return env


def _rollout(root: Path, *args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "console.cli", "demo", *args],
        env=_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _running(pid: int) -> bool:
    """Alive and not a zombie (a reparented zombie may wait for a slow init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_endpoint(root: Path, proc: subprocess.Popen[str], timeout: float = 60) -> dict[str, Any]:
    path = root / "demo" / "endpoint.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        if proc.poll() is not None:
            raise AssertionError(
                f"rollout demo exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
            )
        time.sleep(0.1)
    raise AssertionError("rollout demo did not write endpoint.json in time")


def _processes_and_ports(endpoint: dict[str, Any]) -> tuple[list[int], list[int]]:
    headers = {"Authorization": f"Bearer {endpoint['token']}"}
    status = httpx.get(endpoint["control_url"] + "/v1/status", headers=headers, timeout=10).json()
    pids = [endpoint["pid"], *status["child_pids"]]
    ports = [
        int(endpoint["gateway_url"].rsplit(":", 1)[1]),
        int(endpoint["control_url"].rsplit(":", 1)[1]),
    ]
    ports += [i["port"] for i in status["instances"] if i["port"]]
    return pids, ports


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as any server would
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if _running(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if _running(p)]


@pytest.fixture
def demo_root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    # Belt and braces: whatever a failed test left behind dies here.
    path = tmp_path / "demo" / "endpoint.json"
    if path.exists():
        pid = json.loads(path.read_text()).get("pid")
        if isinstance(pid, int):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def test_sigterm_stops_every_process_and_frees_every_port(demo_root: Path) -> None:
    proc = _rollout(demo_root, "--headless", "--rps", "20", "--instances", "1")
    try:
        endpoint = _wait_endpoint(demo_root, proc)
        pids, ports = _processes_and_ports(endpoint)
        assert len(pids) == 1 + 6 + 1  # the environment, 3 services x 2 versions, the load
        assert all(_running(p) for p in pids)
        assert httpx.get(endpoint["gateway_url"] + "/courses/1").status_code == 200
        # A second demo on the same state directory is refused and clobbers nothing.
        before = (demo_root / "demo" / "endpoint.json").read_text()
        second = _rollout(demo_root, "--headless")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert "already running" in err
        assert (demo_root / "demo" / "endpoint.json").read_text() == before

        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert endpoint["gateway_url"] in out
    assert "rollout auto" in out
    assert _wait_gone(pids, 15) == []  # returns as soon as they are gone; slack for load
    assert [p for p in ports if not _bindable(p)] == []
    assert not (demo_root / "demo" / "endpoint.json").exists()


def test_children_exit_when_rollout_demo_is_killed(demo_root: Path) -> None:
    proc = _rollout(demo_root, "--headless", "--rps", "10", "--instances", "1")
    try:
        endpoint = _wait_endpoint(demo_root, proc)
        pids, _ = _processes_and_ports(endpoint)
        proc.kill()  # SIGKILL: no handler runs; the children must notice on their own
        proc.communicate(timeout=30)
        assert _wait_gone(pids, 20) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_bad_input_exits_2_with_a_message_and_starts_nothing(tmp_path: Path) -> None:
    for args, message in [
        (["--headless", "--fault", "v2:errors=7"], "between 0 and 1"),
        (["--headless", "--instances", "0"], "--instances"),
        (["--headless", "--rps", "-5"], "--rps"),
    ]:
        proc = _rollout(tmp_path, *args)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2, (args, err)
        assert message in err and "Traceback" not in err
    assert not (tmp_path / "demo" / "endpoint.json").exists()


def test_connect_without_a_running_demo_says_how_to_start_one(tmp_path: Path) -> None:
    from backends.base import BackendUnavailable
    from backends.local import connect

    with pytest.raises(BackendUnavailable, match="start one with `rollout demo`"):
        connect(tmp_path)
    # A stale endpoint file from a dead demo counts as no demo.
    (tmp_path / "endpoint.json").write_text(json.dumps({"pid": 2**22 + 12345, "token": "x"}))
    with pytest.raises(BackendUnavailable, match="no demo environment is running"):
        connect(tmp_path)


def test_fault_flag_reaches_the_candidate_of_every_service(tmp_path: Path) -> None:
    from backends.local import connect, parse_fault, start_demo

    fault = parse_fault("v2:errors=1.0,latency=0ms")
    with start_demo(tmp_path / "demo", rps=0, instances=1, faults=[fault]) as handle:
        env = connect(tmp_path / "demo")
        for service, path in [("courses", "/courses/1"), ("grades", "/grades/u1")]:
            env.traffic.set_split(service, {"v1": 0, "v2": 100})
            assert httpx.get(handle.gateway_url + path).status_code in (500, 503)
            env.extras["control"].clear_fault(service, "v2")
            assert httpx.get(handle.gateway_url + path).status_code == 200


def test_instances_exit_when_the_environment_is_killed(tmp_path: Path) -> None:
    from backends.local import connect, start_demo

    with start_demo(tmp_path / "demo", rps=5, instances=1, services=["courses"]) as handle:
        children = connect(tmp_path / "demo").extras["control"].status()["child_pids"]
        assert len(children) == 3  # v1, v2 and the load generator
        os.kill(handle.pid, signal.SIGKILL)  # no cleanup runs in the environment itself
        handle.wait(10)
        # Each child sees its stdin pipe close and exits on its own.
        assert _wait_gone(children, 15) == []
