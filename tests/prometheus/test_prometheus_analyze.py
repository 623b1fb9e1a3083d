"""``rollout analyze`` end to end: the real CLI against a real Prometheus holding 30 minutes
of history, backfilled with promtool (Debian's prometheus package ships it).

The history, for service ``courses`` (http provider), one point every 5 s:
- v1: 10 req/s, no errors, fast;
- v2: 2 req/s; no errors until 13 minutes ago (``BREAK``), then 30 % of them fail;
- v3: nothing at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from backends.local.prometheus_runner import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STEP = 5
BUCKETS = (("0.05", 0.6), ("0.1", 0.95), ("0.25", 1.0), ("+Inf", 1.0))
PLAN = """\
service: courses
strategy: canary
stable: v1
candidate: {candidate}
steps:
  - setWeight: 20
  - pause: 5m
  - setWeight: 100
analysis:
  interval: 1m
  minRequests: 30
  failureLimit: 1
  inconclusiveLimit: 3
  metrics:
    - {{name: error-rate, max: {max_errors}}}
    - {{name: latency-p99, max: 500ms}}
    - name: ok-rate
      query: 'sum(rate(http_request_duration_seconds_count{{service="{{{{service}}}}", version="{{{{version}}}}", code="200"}}[{{{{window}}}}]))'
      min: 1
"""


def _history(start: int, end: int, brk: int) -> str:
    """OpenMetrics text for promtool: each series' points in time order."""
    out = ["# TYPE http_request_duration_seconds histogram"]
    times = range(start, end + 1, STEP)

    def counts(version: str, code: str, t: int) -> float:
        elapsed = t - start
        if version == "v1":
            return 10.0 * elapsed if code == "200" else 0.0
        bad = 0.6 * max(0, t - brk)
        return 2.0 * elapsed - bad if code == "200" else bad

    for version in ("v1", "v2"):
        for code in ("200", "500"):
            labels = f'code="{code}",service="courses",version="{version}"'
            for le, frac in BUCKETS:
                for t in times:
                    n = counts(version, code, t) * frac
                    out.append(
                        f'http_request_duration_seconds_bucket{{{labels},le="{le}"}} {n} {t}'
                    )
            for t in times:
                out.append(
                    f"http_request_duration_seconds_count{{{labels}}} {counts(version, code, t)} {t}"
                )
            for t in times:
                out.append(
                    f"http_request_duration_seconds_sum{{{labels}}} {counts(version, code, t) * 0.05} {t}"
                )
    out.append("# EOF")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def world(
    start_prom: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not os.access(promtool, os.X_OK):
        pytest.skip("promtool (Debian package prometheus) is needed to backfill history")
    now = int(time.time())
    start, brk = now - 1800, now - 780
    work = tmp_path_factory.mktemp("analyze-prom")
    (work / "data").mkdir()
    source = work / "history.om"
    source.write_text(_history(start, now, brk))
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(work / "data")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    handle = start_prom([], workdir=work)
    home = tmp_path_factory.mktemp("analyze-home")
    config = {
        "default": "staging",
        "environments": {
            "staging": {"metrics": {"kind": "prometheus", "url": handle.url, "provider": "http"}},
            "lb": {"metrics": {"kind": "prometheus", "url": handle.url, "provider": "haproxy"}},
            "down": {
                "metrics": {
                    "kind": "prometheus",
                    "url": f"http://127.0.0.1:{free_port()}",
                    "timeout": "1s",
                }
            },
            "typo": {"metrics": {"kind": "prometheus", "url": handle.url, "provider": "istoi"}},
        },
    }
    (home / "config" / "rollout").mkdir(parents=True)
    (home / "config" / "rollout" / "config.yaml").write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
        "ROLLOUT_DEMO_DIR": str(home / "demo"),
    }
    return {"env": env, "dir": home, "break": brk, "now": now}


def _plan(world: dict[str, Any], name: str, candidate: str = "v2", max_errors: str = "0.05") -> str:
    path = world["dir"] / f"{name}.yaml"
    path.write_text(PLAN.format(candidate=candidate, max_errors=max_errors))
    return str(path)


def _analyze(world: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", "analyze", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=world["env"],
        check=False,
    )


def test_would_have_failed_names_the_first_metric_and_when(world: dict[str, Any]) -> None:
    got = _analyze(world, _plan(world, "strict"), "--env", "staging", "--since", "30m", "--json")
    assert got.returncode == 1, got.stderr
    doc = json.loads(got.stdout)
    assert doc["verdict"] == "fail" and doc["exit_code"] == 1
    first = doc["first_failure"]
    assert [m["name"] for m in first["metrics"]] == ["error-rate"]
    # Errors start at BREAK; a 1-minute window crosses 5 % about 10 s later, and measurements
    # are a minute apart: the first failing one is within 70 s after the break.
    assert world["break"] < first["at"] <= world["break"] + 70
    assert first["metrics"][0]["value"] > 0.05
    # failureLimit 1: the next measurement (also failing) rolls back.
    assert doc["decision"] == "breach"
    assert doc["decided_at"] == pytest.approx(first["at"] + 60, abs=1)
    assert "would have rolled back" in doc["message"]
    # Before the break every measurement passed, with the custom metric evaluated too.
    before = [s for s in doc["steps"] if s["at"] < world["break"]]
    assert len(before) >= 15 and all(s["status"] == "successful" for s in before)
    assert all(s["values"]["ok-rate"] == pytest.approx(2.0, rel=0.05) for s in before)
    assert all(s["values"]["error-rate"] == 0.0 for s in before)


def test_would_have_passed_with_a_looser_threshold(world: dict[str, Any]) -> None:
    got = _analyze(world, _plan(world, "loose", max_errors="0.5"), "--since", "30m")
    assert got.returncode == 0, got.stdout + got.stderr
    assert "result: PASS: would have passed: 29 measurements" in got.stdout or (
        "result: PASS: would have passed: 30 measurements" in got.stdout
    )
    assert "successful" in got.stdout


def test_human_report_says_which_metric_and_when(world: dict[str, Any]) -> None:
    got = _analyze(world, _plan(world, "strict2"), "--env", "staging", "--since", "30m")
    assert got.returncode == 1
    assert "stopped at the breach" in got.stdout
    assert "first failure: error-rate at " in got.stdout
    assert "result: FAIL: would have rolled back: error-rate" in got.stdout


def test_no_traffic_on_the_candidate_is_inconclusive_not_a_pass(world: dict[str, Any]) -> None:
    got = _analyze(world, _plan(world, "ghost", candidate="v3"), "--since", "10m", "--json")
    assert got.returncode == 1
    doc = json.loads(got.stdout)
    assert doc["verdict"] == "inconclusive" and doc["decision"] == "inconclusive-limit"


def test_bad_input_exits_2_with_a_clear_message(world: dict[str, Any]) -> None:
    plan = _plan(world, "bad")
    got = _analyze(world, plan, "--since", "soon")
    assert got.returncode == 2 and "--since 'soon'" in got.stderr
    got = _analyze(world, plan, "--since", "30s")
    assert got.returncode == 2 and "shorter than the analysis window" in got.stderr
    got = _analyze(world, plan, "--env", "lb", "--since", "10m")
    assert got.returncode == 2 and "no latency histogram" in got.stderr
    got = _analyze(world, plan, "--env", "typo", "--since", "10m")
    assert got.returncode == 2 and "unknown provider 'istoi'" in got.stderr
    got = _analyze(world, plan, "--env", "nowhere", "--since", "10m")
    assert got.returncode == 2 and "unknown environment 'nowhere'" in got.stderr
    missing = _analyze(world, str(world["dir"] / "missing.yaml"))
    assert missing.returncode == 2
    assert "Traceback" not in got.stderr + missing.stderr


def test_unreachable_prometheus_exits_4(world: dict[str, Any]) -> None:
    got = _analyze(world, _plan(world, "down"), "--env", "down", "--since", "10m")
    assert got.returncode == 4
    assert "unreachable" in got.stderr and "Traceback" not in got.stderr
