"""FileStateStore beyond the StateStore contract (test_store_contract.py): compare-and-swap
across processes, torn audit lines, a kill mid-write, file names, the lease on one machine."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backends.base import (
    AuditEntry,
    ConflictError,
)
from backends.local.store import FileStateStore
from tests.support.records import record
from tests.support.waits import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _cas_worker(directory: str, barrier: object, expected: int, tag: int, out: object) -> None:
    store = FileStateStore(directory)
    barrier.wait()  # type: ignore[attr-defined]
    try:
        store.save(record(message=f"writer {tag}"), expected)
        out.put(tag)  # type: ignore[attr-defined]
    except ConflictError:
        out.put(-1)  # type: ignore[attr-defined]


def test_compare_and_swap_has_one_winner_across_processes(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    store.save(record(), 0)
    ctx = multiprocessing.get_context("fork")
    for rnd in range(3):
        expected = rnd + 1
        barrier = ctx.Barrier(4)
        out = ctx.Queue()
        procs = [
            ctx.Process(target=_cas_worker, args=(str(tmp_path), barrier, expected, i, out))
            for i in range(4)
        ]
        for p in procs:
            p.start()
        try:
            results = [out.get(timeout=20) for _ in procs]
        finally:
            for p in procs:
                p.join(10)
                if p.is_alive():
                    p.kill()
        winners = [r for r in results if r >= 0]
        assert len(winners) == 1, results
        rec = store.load("courses")
        assert rec is not None
        assert rec.revision == expected + 1
        assert rec.message == f"writer {winners[0]}"


def test_torn_audit_line_is_skipped_and_later_entries_survive(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    entry = AuditEntry(at=1.0, service="courses", actor="alice@lap", action="promote", reason="ok")
    store.append_audit(entry)
    # A writer killed mid-line: half a JSON object and no newline.
    with open(tmp_path / "courses.audit.jsonl", "ab") as f:
        f.write(b'{"at": 2.0, "service": "courses", "act')
    assert store.read_audit("courses") == [entry]
    later = AuditEntry(at=3.0, service="courses", actor="engine", action="rollback", reason="x")
    store.append_audit(later)
    assert store.read_audit("courses") == [entry, later]
    assert store.read_audit("courses", limit=1) == [later]


def test_a_released_lease_is_free_at_once(tmp_path: Path) -> None:
    # Every holder is on this machine: no other console caches the lease it saw.
    store = FileStateStore(tmp_path, clock=lambda: 1016.0)
    assert store.acquire_lease("courses", "b@h:2:y", 10)
    store.release("courses", "b@h:2:y")
    assert store.lease("courses") is None
    assert store.acquire_lease("courses", "a@h:1:x", 10)


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "", ".hidden", "x.audit", "a b"])
def test_service_names_cannot_escape_the_directory(tmp_path: Path, bad: str) -> None:
    store = FileStateStore(tmp_path)
    with pytest.raises(ValueError, match="invalid service name"):
        store.load(bad)
    with pytest.raises(ValueError):
        store.save(record(service=bad), 0)


def test_services_ignores_other_json_files(tmp_path: Path) -> None:
    (tmp_path / "endpoint.json").write_text(json.dumps({"url": "http://127.0.0.1:1"}))
    (tmp_path / "garbage.json").write_text("{not json")
    store = FileStateStore(tmp_path)
    store.save(record("grades"), 0)
    assert store.services() == ["grades"]


_WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from backends.base import RolloutRecord, Phase, Strategy, AuditEntry
from backends.local.store import FileStateStore
from tests.support.records import record
store = FileStateStore({d!r})
cur = store.load("courses")
rev = cur.revision if cur else 0
rec = RolloutRecord(service="courses", strategy=Strategy.CANARY, stable="v1", candidate="v2",
                    phase=Phase.PROGRESSING, plan={{"pad": "x" * 20000}})
print("ready", flush=True)
while True:
    rev = store.save(rec, rev).revision
    store.append_audit(AuditEntry(at=time.time(), service="courses", actor="w", action="a",
                                  reason="r" * 200))
"""


def _revision(store: FileStateStore) -> int:
    rec = store.load("courses")
    return rec.revision if rec is not None else 0


@pytest.mark.slow
def test_sigkill_mid_write_never_leaves_a_torn_record(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    audit = tmp_path / "courses.audit.jsonl"
    last_rev = 0
    for i in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER.format(root=str(ROOT), d=str(tmp_path))],
            stdout=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == b"ready"
            # Kill only after this writer's first save (and a first audit line): on a loaded
            # machine it may not have run at all within a fixed sleep, leaving nothing to check.
            wait_until(
                lambda r=last_rev: _revision(store) > r and audit.exists(), 20, "a first save"
            )
            time.sleep(0.01 + 0.03 * i)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(10)
        rec = store.load("courses")
        assert rec is not None and rec.plan["pad"] == "x" * 20000
        assert rec.revision >= last_rev
        last_rev = rec.revision
        raw = json.loads((tmp_path / "courses.json").read_text())
        assert raw["revision"] == rec.revision
        # One write() of a whole line under O_APPEND: a kill leaves no torn line.
        lines = (tmp_path / "courses.audit.jsonl").read_bytes().split(b"\n")
        assert lines[-1] == b""
        assert all(json.loads(ln)["action"] == "a" for ln in lines[:-1])
        assert len(store.read_audit("courses")) == len(lines) - 1
