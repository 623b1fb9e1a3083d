"""Text output keeps one record per line: a newline or escape sequence in an operator's
--reason (or any recorded text) is shown escaped, so it cannot forge a history line or
drive the terminal."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest

from backends.base import AuditEntry, Environment, Event, Phase, RolloutRecord, Strategy
from backends.local.store import FileStateStore
from console.commands import verbs as control
from console.plan.load import parse_plan
from console.view import text as output
from tests.support.fakes import FakeMetrics, FakeTraffic

FORGED = "why\n2026-11-26 09:00:00  admin@prod  promote  fake\x1b[2J"


def test_audit_line_escapes_control_characters() -> None:
    a = AuditEntry(at=0.0, service="courses", actor="alice@laptop", action="pause", reason=FORGED)
    line = output.audit_line(a)
    assert "\n" not in line and "\x1b" not in line
    assert line.endswith("pause  why\\n2026-11-26 09:00:00  admin@prod  promote  fake\\x1b[2J")


def test_event_line_escapes_control_characters() -> None:
    e = Event(at=0.0, service="courses", kind="pause", message=f"paused by alice: {FORGED}")
    line = output.event_line(e)
    assert "\n" not in line and "\x1b" not in line and "\\n2026" in line


def test_table_cells_stay_on_one_line() -> None:
    text = output.table([["courses", FORGED]], ["SERVICE", "MESSAGE"])
    assert len(text.splitlines()) == 2 and "\x1b" not in text


def test_unicode_is_kept() -> None:
    a = AuditEntry(at=0.0, service="s", actor="a", action="pause", reason="🚀 ünïcode\ttab")
    assert output.audit_line(a).endswith("🚀 ünïcode\\ttab")


def test_control_command_reply_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = FileStateStore(tmp_path / "state")
    store.save(
        RolloutRecord(
            service="courses",
            strategy=Strategy.CANARY,
            stable="v1",
            candidate="v2",
            phase=Phase.PROGRESSING,
            plan=parse_plan("service: courses\ncandidate: v2\nsteps: [{pause: 1h}]\n").to_dict(),
            weights={"v1": 100, "v2": 0},
        ),
        0,
    )
    env = Environment("fake", FakeTraffic(), FakeMetrics(time.time), store)
    monkeypatch.setattr("console.config.environments.open_environment", lambda name=None: env)
    args = argparse.Namespace(env=None, service="courses", command="pause", reason=FORGED)
    assert control.run(args) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\n2026-11-26" in out
    assert not any(line.startswith("2026-11-26 09:00:00") for line in out.splitlines())
    assert out.startswith("paused: paused by ")
    audit = store.read_audit("courses", None)
    assert all("\n" not in a.reason and "\x1b" not in a.reason for a in audit)
