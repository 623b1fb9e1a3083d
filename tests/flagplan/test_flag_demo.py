"""strategy: flag against the real demo: ``rollout auto`` (a real process) drives the flag in
the demo's flagd file, judged on the gateway's per-variant metrics (x-lms-flags)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from backends.base import Phase
from backends.local.store import FileStateStore
from console.config.environments import demo_flags

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

PLAN = """\
service: grades
strategy: flag
flag: new-gradebook
variant: on
steps:
  - setWeight: 30
  - pause: 2s
  - setWeight: 60
  - pause: 2s
analysis:
  interval: 1s
  window: 2s
  minRequests: 3
  failureLimit: 0
  inconclusiveLimit: 30
  metrics:
    - {name: error-rate, max: 0.05}
"""


@pytest.fixture(scope="module")
def demo_options() -> dict[str, Any]:
    # grades takes about a third of the load: a 30 % variant sees a few requests a second.
    return {"rps": 90, "instances": 1}


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


@pytest.fixture
def flag_off(demo_env: Any) -> Any:
    """new-gradebook back to off for everyone outside its beta cohort, no bug, no record."""
    flags = demo_flags(demo_env.state_dir)

    def reset() -> None:
        flags.set_fractional("new-gradebook", {})
        flags.set_default("new-gradebook", "off")
        demo_env.control.clear_fault("grades", "v1")
        for p in (demo_env.state_dir / "rollouts").glob("grades.*"):
            p.unlink()

    def settled() -> None:
        # The plan's 2 s window must not still hold answers from before the reset (the
        # faulty test's bug, served to the beta cohort): wait until it shows none, bounded.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            on = demo_env.env.metrics.flag_sample("new-gradebook", ["on"], 3.0)["on"]
            if not on.error_ratio:
                return
            time.sleep(0.5)
        pytest.fail(f"the on variant still fails 20 s after the reset: {on}")

    reset()
    settled()
    yield flags
    reset()


def _plan(tmp_path: Path) -> Path:
    path = tmp_path / "flag.yaml"
    path.write_text(PLAN)
    return path


def test_a_faulty_variant_rolls_back_to_the_default_variant_with_the_reason(
    demo_env: Any, flag_off: Any, tmp_path: Path
) -> None:
    # The new gradebook fails half of its answers; the old one (off) none.
    demo_env.control.inject_fault("grades", "v1", errors=0.0, latency=0.0, gradebook_bug=0.5)
    out = _run("auto", str(_plan(tmp_path)), "--timeout", "90")
    assert out.returncode == 1, out.stdout + out.stderr
    rec = FileStateStore(demo_env.state_dir / "rollouts").load("grades")
    assert rec is not None, out.stdout + out.stderr
    assert rec is not None and rec.phase is Phase.ROLLED_BACK
    assert "error-rate" in rec.message
    assert "flag new-gradebook back to its default variant off for every user" in rec.message
    flag = flag_off.flag("new-gradebook")
    assert flag.default_variant == "off" and not flag.fractional
    # The beta cohort is the flag's own targeting: a rollback leaves it alone.
    assert [c.variant for c in flag.cohorts] == ["on"]
    history = _run("history", "grades")
    assert "back to its default variant off" in history.stdout


def test_a_healthy_variant_completes_and_becomes_the_default(
    demo_env: Any, flag_off: Any, tmp_path: Path
) -> None:
    out = _run("auto", str(_plan(tmp_path)), "--timeout", "90")
    assert out.returncode == 0, out.stdout + out.stderr
    rec = FileStateStore(demo_env.state_dir / "rollouts").load("grades")
    assert rec is not None and rec.phase is Phase.COMPLETED
    assert "on is the default variant for every user" in rec.message
    assert flag_off.flag("new-gradebook").default_variant == "on"
    weights = [e.data["weights"] for e in rec.events if e.kind == "weight"]
    assert weights == [
        {"off": 70, "on": 30},
        {"off": 40, "on": 60},
        {"off": 0, "on": 100},
    ]
    status = json.loads(_run("status", "grades", "--json").stdout)
    row = next(r for r in status["services"] if r["service"] == "grades")
    assert row["flag"] == "new-gradebook" and row["phase"] == "Completed"
