"""strategy: experiment against the real demo: ``rollout auto`` runs an experiment between the
variants of new-gradebook; the test sends the only requests (no background load) and counts
them per variant from the answers' ``x-lms-flags``; the report must show the same numbers."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from backends.base import Phase
from backends.local.store import FileStateStore
from console.config.environments import demo_flags
from tests.support.waits import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DURATION = 14.0
SENT_MAX = 400

PLAN = f"""\
service: grades
strategy: experiment
flag: new-gradebook
arms:
  - {{name: off, weight: 50}}
  - {{name: on, weight: 50}}
duration: {DURATION:g}s
metric: {{name: error-rate}}
minRequests: 20
interval: 1s
"""


@pytest.fixture(scope="module")
def demo_options() -> dict[str, Any]:
    return {"rps": 0, "instances": 1}  # the test's requests are the only ones


@contextmanager
def _auto(
    plan: Path, text: str, state_dir: Path
) -> Iterator[tuple[subprocess.Popen[str], FileStateStore]]:
    """``text`` written to ``plan`` and ``rollout auto PLAN`` in a subprocess, with the demo's
    store to watch it in; the process is killed on the way out if it still runs."""
    plan.write_text(text)
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "auto", str(plan), "--timeout", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    store = FileStateStore(state_dir / "rollouts")
    try:
        yield proc, store
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _wait_started(store: FileStateStore, service: str) -> float:
    """When the experiment on ``service`` started, once a second has passed since: requests
    go only after a whole second boundary past the start (and the callers stop them well
    before the end), so the report's window holds exactly them."""
    started = wait_for(
        lambda: (
            (store.load(service) or None)
            and store.load(service).engine.get("experiment", {}).get("started")
        ),  # type: ignore[union-attr]
        timeout=60,
        what="the experiment to start",
    )
    wait_for(lambda: time.time() > started + 1.5, timeout=10, what="a second past start")
    return started


def _send(
    gateway_url: str,
    stop_at: float,
    user_count: int,
    ask: Callable[[http.client.HTTPConnection, str], str],
) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Up to SENT_MAX requests until ``stop_at``, from users u1..u``user_count`` in turn;
    ``ask`` sends one and returns its arm. Requests and distinct users per arm."""
    url = urllib.parse.urlsplit(gateway_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    sent: dict[str, int] = {}
    users: dict[str, set[str]] = {}
    for i in range(SENT_MAX):
        if time.time() > stop_at:
            break
        user = f"u{i % user_count + 1}"
        arm = ask(conn, user)
        sent[arm] = sent.get(arm, 0) + 1
        users.setdefault(arm, set()).add(user)
    conn.close()
    return sent, users


def _variant(conn: http.client.HTTPConnection, user: str) -> tuple[str | None, int]:
    conn.request("GET", f"/grades/{user}", headers={"x-lms-user": user})
    resp = conn.getresponse()
    resp.read()
    header = resp.getheader("x-lms-flags") or ""
    for part in header.split(","):
        flag, _, variant = part.strip().partition("=")
        if flag == "new-gradebook":
            return variant, resp.status
    return None, resp.status


def test_experiment_report_counts_match_the_requests_sent(demo_env: Any, tmp_path: Path) -> None:
    flags = demo_flags(demo_env.state_dir)
    flags.set_fractional("new-gradebook", {})
    flags.set_default("new-gradebook", "off")
    with _auto(tmp_path / "experiment.yaml", PLAN, demo_env.state_dir) as (proc, store):
        # The split is in the flag file; services re-read it within a second.
        started = _wait_started(store, "grades")

        def ask(conn: http.client.HTTPConnection, user: str) -> str:
            variant, status = _variant(conn, user)
            assert status == 200 and variant in ("on", "off"), (status, variant)
            return variant

        sent, users = _send(demo_env.gateway_url, started + DURATION - 3.0, 97, ask)
        assert sum(sent.values()) >= 40, sent
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    rec = store.load("grades")
    assert rec is not None and rec.phase is Phase.COMPLETED
    report = rec.engine["experiment"]["report"]
    got = {a["arm"]: a["requests"] for a in report["arms"]}
    assert got == {v: float(n) for v, n in sent.items()}, (got, sent)
    seen = {a["arm"]: a["users"] for a in report["arms"]}
    assert seen == {v: len(u) for v, u in users.items()}, (seen, users)
    # Sticky per user: a user's requests all went to one arm.
    assert not (users.get("on", set()) & users.get("off", set()))
    # Every user back on the control; the report stays in the history (and its JSON).
    assert flags.flag("new-gradebook").default_variant == "off"
    assert not flags.flag("new-gradebook").fractional
    history = subprocess.run(
        [sys.executable, "-m", "console.cli", "history", "grades"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    ).stdout
    assert "experiment-report" in history and "decision:" in history
    for variant, n in sent.items():
        assert any(
            line.split()[:1] == [variant] and f"  {n}  " in line for line in history.splitlines()
        ), history
    lines = subprocess.run(
        [sys.executable, "-m", "console.cli", "history", "grades", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    ).stdout.splitlines()
    entries = [json.loads(line) for line in lines]
    kept = [e for e in entries if e["action"] == "experiment-report"]
    assert kept and kept[-1]["data"]["report"]["arms"] == report["arms"]
    status = subprocess.run(
        [sys.executable, "-m", "console.cli", "status", "grades", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    ).stdout
    row = next(r for r in json.loads(status)["services"] if r["service"] == "grades")
    assert row["report"]["arms"] == report["arms"]


VERSION_PLAN = """\
service: courses
strategy: experiment
arms:
  - {name: v1, weight: 60}
  - {name: v2, weight: 40}
duration: 12s
metric: {name: latency-p95}
minRequests: 10
interval: 1s
"""


def test_experiment_between_versions_is_sticky_per_user(demo_env: Any, tmp_path: Path) -> None:
    demo_env.env.traffic.set_split("courses", {"v1": 100, "v2": 0})
    with _auto(tmp_path / "versions.yaml", VERSION_PLAN, demo_env.state_dir) as (proc, store):
        started = _wait_started(store, "courses")

        def ask(conn: http.client.HTTPConnection, user: str) -> str:
            conn.request("GET", "/courses/3", headers={"x-lms-user": user})
            resp = conn.getresponse()
            resp.read()
            version = resp.getheader("x-lms-version") or "?"
            assert resp.status == 200
            return version

        sent, users = _send(demo_env.gateway_url, started + 12.0 - 3.0, 41, ask)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert not (users.get("v1", set()) & users.get("v2", set())), users  # sticky per user
    rec = store.load("courses")
    assert rec is not None and rec.phase is Phase.COMPLETED
    report = rec.engine["experiment"]["report"]
    assert {a["arm"]: a["requests"] for a in report["arms"]} == {
        v: float(n) for v, n in sent.items()
    }
    assert demo_env.env.traffic.get_split("courses").weights.get("v1") == 100
