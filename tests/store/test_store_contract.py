"""The ``StateStore`` contract, run over every implementation (see conftest.py): records
with compare-and-swap, the audit log, the driver lease with an injected clock, the command
queue (take, or peek and acknowledge) and the list of services.

Two stores opened on the same state stand for two consoles. What only one implementation
does (file locks, torn lines, the API server's 409s and objects) is tested beside it:
tests/store/test_file_store.py and tests/kubernetes/test_kube_store.py.
"""

from __future__ import annotations

import pytest

from backends.base import (
    AuditEntry,
    Command,
    CommandInbox,
    CommandKind,
    ConflictError,
    command_key,
)
from tests.store.conftest import Stores
from tests.support.records import record

ALICE, BOB = "alice@lap:1:aa", "bob@desk:2:bb"
TTL = 10


def test_save_bumps_the_revision_and_rejects_stale_writes(stores: Stores) -> None:
    store = stores.open()
    assert store.load("courses") is None
    first = store.save(record(), 0)
    assert first.revision == 1
    assert store.load("courses") == first
    second = store.save(record(step_index=1), 1)
    assert second.revision == 2
    with pytest.raises(ConflictError):
        store.save(record(step_index=5), 1)
    with pytest.raises(ConflictError):
        store.save(record(step_index=5), 0)  # a second "first" save loses
    loaded = store.load("courses")
    assert loaded is not None and loaded.step_index == 1 and loaded.revision == 2


def test_a_stale_write_from_another_console_loses(stores: Stores) -> None:
    a, b = stores.open(), stores.open()
    a.save(record(), 0)
    a.save(record(step_index=5), 1)
    # b may not have seen a's second write: its compare-and-swap must still lose
    with pytest.raises(ConflictError):
        b.save(record(step_index=9), 1)
    loaded = a.load("courses")
    assert loaded is not None and loaded.step_index == 5


def test_services_are_those_with_a_record(stores: Stores) -> None:
    store = stores.open()
    assert store.services() == []
    store.save(record("grades"), 0)
    store.save(record("courses"), 0)
    # an audit entry, a command or a lease alone makes no service
    store.append_audit(AuditEntry(at=1.0, service="payments", actor="al", action="x", reason=""))
    store.post_command(Command(CommandKind.PAUSE, "payments", user="al", at=1.0))
    assert store.acquire_lease("payments", ALICE, TTL)
    assert store.services() == ["courses", "grades"]


def test_audit_is_read_oldest_first_and_limited_to_the_newest(stores: Stores) -> None:
    store = stores.open()
    assert store.read_audit("courses") == []
    entries = [
        AuditEntry(at=float(i), service="courses", actor="alice@lap", action="promote", reason=r)
        for i, r in enumerate(["first", "second", "third"])
    ]
    for entry in entries:
        store.append_audit(entry)
    store.append_audit(AuditEntry(at=9.0, service="grades", actor="engine", action="x", reason=""))
    assert store.read_audit("courses") == entries
    assert store.read_audit("courses", limit=1) == entries[-1:]
    assert store.read_audit("courses", limit=2) == entries[-2:]
    assert [e.service for e in store.read_audit("grades")] == ["grades"]


def test_lease_is_exclusive_until_it_expires(stores: Stores) -> None:
    a, b = stores.open(), stores.open()
    clock = stores.clock
    t0 = clock.now
    assert a.acquire_lease("courses", ALICE, TTL)
    assert a.acquire_lease("courses", ALICE, TTL)  # already ours
    assert not b.acquire_lease("courses", BOB, TTL)
    lease = b.lease("courses")
    assert lease is not None and lease.holder == ALICE
    assert lease.expires_at == pytest.approx(t0 + TTL, abs=1e-3)
    clock.advance(5)
    assert a.renew("courses", ALICE, TTL)  # now it expires at t0 + 15
    clock.advance(7)
    assert not b.acquire_lease("courses", BOB, TTL)  # renewed: still live
    clock.advance(4)
    assert b.lease("courses") is None  # lapsed
    assert b.acquire_lease("courses", BOB, TTL)  # expired: bob takes over
    assert not a.renew("courses", ALICE, TTL)  # alice finds she lost it
    a.release("courses", ALICE)  # not hers to release: no effect
    lease = b.lease("courses")
    assert lease is not None and lease.holder == BOB
    b.release("courses", BOB)
    # A console may go on trusting a lease it saw live for a third of its TTL.
    clock.advance(TTL / 3 + 1)
    assert a.lease("courses") is None
    assert a.acquire_lease("courses", ALICE, TTL)


def test_commands_are_taken_once_oldest_first(stores: Stores) -> None:
    store = stores.open()
    assert store.take_commands("courses") == []
    kinds = [CommandKind.PAUSE, CommandKind.RESUME, CommandKind.PROMOTE]
    for i, kind in enumerate(kinds):
        store.post_command(
            Command(kind=kind, service="courses", user="al", at=100.0 + i, id=str(i))
        )
    store.post_command(Command(kind=CommandKind.ABORT, service="grades", at=50.0))
    store.post_command(Command(kind=CommandKind.ABORT, service="courses", at=99.0, id="early"))
    taken = store.take_commands("courses")
    assert [c.id for c in taken] == ["early", "0", "1", "2"]
    assert [c.kind for c in taken[1:]] == kinds
    assert store.take_commands("courses") == []
    assert [c.kind for c in store.take_commands("grades")] == [CommandKind.ABORT]


def _post(store: object, kind: str, at: float, id_: str) -> Command:
    cmd = Command(CommandKind(kind), "courses", user="carol", host="desk", at=at, id=id_)
    store.post_command(cmd)  # type: ignore[attr-defined]
    return cmd


def test_peeked_commands_stay_until_acknowledged(stores: Stores) -> None:
    store = stores.open()
    assert isinstance(store, CommandInbox)
    assert store.peek_commands("courses") == []
    b = _post(store, "resume", 2.0, "b")
    a = _post(store, "pause", 1.0, "a")
    assert [c.id for c in store.peek_commands("courses")] == ["a", "b"]
    assert [c.id for c in store.peek_commands("courses")] == ["a", "b"]  # still there
    c = _post(store, "promote", 3.0, "c")  # posted after the peek
    store.ack_commands("courses", {command_key(a), command_key(b)})
    assert store.peek_commands("courses") == [c]
    store.ack_commands("courses", {command_key(c)})
    assert store.peek_commands("courses") == []
    store.ack_commands("courses", {"nothing"})  # an empty queue is fine
