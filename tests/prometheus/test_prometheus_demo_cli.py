"""``rollout demo --metrics prometheus``: Debian's Prometheus scrapes the demo, or a clear
message when there is none. Also the runner's binary lookup."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from backends.local import prometheus_runner, read_prometheus_url
from backends.local.prometheus_runner import PrometheusNotInstalled, find_binary
from backends.prometheus import PrometheusMetrics, from_config
from console.config.environments import open_demo

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "ROLLOUT_DEMO_DIR": str(tmp_path / "demo"),
        **extra,
    }


def _demo(tmp_path: Path, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "console.cli", "demo", "--headless"),
            *("--metrics", "prometheus", "--rps", "40", "--instances", "1"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(tmp_path, **extra),
    )


def test_find_binary_explains_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ROLLOUT_PROMETHEUS", raising=False)
    monkeypatch.setattr(prometheus_runner, "DEFAULT_BINARY", str(tmp_path / "nope"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrometheusNotInstalled, match="apt-get install prometheus"):
        find_binary()
    fake = tmp_path / "prometheus"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_binary() == str(fake)
    monkeypatch.setenv("ROLLOUT_PROMETHEUS", str(tmp_path / "missing"))
    with pytest.raises(PrometheusNotInstalled, match=r"not installed at .*missing"):
        find_binary()


@pytest.mark.slow
def test_demo_without_prometheus_says_so(tmp_path: Path) -> None:
    proc = _demo(tmp_path, ROLLOUT_PROMETHEUS=str(tmp_path / "no-prometheus"))
    try:
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 4, (out, err)
    assert "could not start Prometheus: Prometheus is not installed at" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_demo_with_prometheus_serves_the_demo_through_promql(tmp_path: Path) -> None:
    try:
        find_binary()
    except PrometheusNotInstalled as exc:
        pytest.skip(str(exc))
    proc = _demo(tmp_path)
    url = None
    try:
        assert proc.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        stdout = proc.stdout
        threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and url is None and proc.poll() is None:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line.strip().startswith("prometheus http://"):
                url = line.split()[1]
        assert url is not None, "the demo never printed its Prometheus URL"
        backend = from_config({"url": url, "provider": "http"})
        got = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = backend.sample("courses", ["v1", "v2"], 3)
            if got["v1"].request_rate:
                break
            time.sleep(0.5)
        assert got is not None and got["v1"].request_rate, got
        assert got["v1"].error_ratio == 0.0
        assert got["v2"].request_rate in (None, 0.0)  # v2 takes no traffic in the demo
        # Any other process (rollout auto, a second console) connecting to this demo reads
        # the same PromQL data, not the gateway's in-process numbers.
        env = open_demo(tmp_path / "demo")
        assert env.extras["prometheus_url"] == url
        assert isinstance(env.metrics, PrometheusMetrics)
        assert env.metrics.sample("courses", ["v1"], 3)["v1"].request_rate
    finally:
        # The reader thread owns stdout; only wait here (stderr is a few lines at most).
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()
    assert proc.returncode == 0
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as s, pytest.raises(OSError):
        s.settimeout(1)
        s.connect(("127.0.0.1", port))  # Prometheus stopped with the demo
    assert read_prometheus_url(tmp_path / "demo") is None  # no pointer left to a dead server
