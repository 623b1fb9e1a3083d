"""The ConfigMap/Lease state store beyond the StateStore contract (tests/store): the objects
it writes, 409s retried, the bounded audit, the cost of lease renewals and of heartbeats."""

from __future__ import annotations

import json
import re

import pytest

from backends.base import (
    AuditEntry,
    Command,
    CommandKind,
    ConflictError,
)
from backends.kubernetes import store as store_mod
from tests.kubernetes.kubetest import NS, connect
from tests.support.clock import Clock
from tests.support.records import record


def test_the_record_is_a_labelled_configmap_and_a_conflict_names_the_revisions(cluster, kube):
    _, store = kube
    store.save(record(step_index=1), 0)
    cm = cluster.emu.get("", "configmaps", NS, "rollout-courses")
    assert json.loads(cm["data"]["record"])["step_index"] == 1
    assert cm["metadata"]["labels"]["rollout.dev/part"] == "record"
    store.save(record(step_index=2), 1)
    with pytest.raises(ConflictError, match="revision 2, not 1"):
        store.save(record(step_index=3), 1)


def test_stale_resource_version_put_is_retried_safely(cluster, kube):
    _, store = kube
    store.save(record(), 0)
    # someone touches the ConfigMap (not the record): our PUT with the cached
    # resourceVersion answers 409; the store re-reads, sees revision 1 still, and writes.
    cm = cluster.emu.get("", "configmaps", NS, "rollout-courses")
    cm["metadata"].setdefault("annotations", {})["note"] = "edited by hand"
    cluster.emu.put("", "configmaps", cm, NS)
    cluster.emu.fail_next("update", "configmaps", name="rollout-courses")
    saved = store.save(record(step_index=4), 1)
    assert saved.revision == 2
    assert store.load("courses").step_index == 4


def test_commands_round_trip_and_survive_conflicts(cluster, kube):
    _, store = kube
    assert store.take_commands("courses") == []
    store.post_command(Command(CommandKind.PAUSE, "courses", user="alice", at=2.0))
    cluster.emu.fail_next("update", "configmaps", name="rollout-courses-commands")
    store.post_command(Command(CommandKind.PROMOTE, "courses", user="bob", at=1.0))
    from tests.support.waits import wait_for

    taken = wait_for(lambda: store.take_commands("courses"), what="commands")
    assert [c.kind for c in taken] == [CommandKind.PROMOTE, CommandKind.PAUSE]
    assert store.take_commands("courses") == []


def test_commands_stay_until_acknowledged_and_later_posts_survive_the_ack(cluster, kube):
    from backends.base import command_key
    from tests.support.waits import wait_for

    _, store = kube
    a = Command(CommandKind.PAUSE, "courses", user="alice", at=1.0, id="a")
    b = Command(CommandKind.RESUME, "courses", user="alice", at=2.0, id="b")
    store.post_command(a)
    store.post_command(b)
    seen = wait_for(lambda: len(store.peek_commands("courses")) == 2, what="two commands")
    assert seen and [c.id for c in store.peek_commands("courses")] == ["a", "b"]
    c = Command(CommandKind.PROMOTE, "courses", user="bob", at=3.0, id="c")
    store.post_command(c)  # posted after the peek
    cluster.emu.fail_next("update", "configmaps", name="rollout-courses-commands")
    store.ack_commands("courses", {command_key(a), command_key(b)})  # conflict: retried
    cm = cluster.emu.get("", "configmaps", NS, "rollout-courses-commands")
    assert [x["id"] for x in json.loads(cm["data"]["commands"])] == ["c"]
    wait_for(lambda: [x.id for x in store.peek_commands("courses")] == ["c"], what="only c")


def test_audit_is_bounded(cluster, kube, monkeypatch):
    _, store = kube
    monkeypatch.setattr(store_mod, "AUDIT_LIMIT", 5)
    for i in range(8):
        store.append_audit(
            AuditEntry(at=float(i), service="courses", actor="engine", action="x", reason=str(i))
        )
    entries = store.read_audit("courses")
    assert [e.reason for e in entries] == ["3", "4", "5", "6", "7"]
    assert [e.reason for e in store.read_audit("courses", limit=2)] == ["6", "7"]
    cm = cluster.emu.get("", "configmaps", NS, "rollout-courses-audit")
    assert cm["data"]["dropped"] == "3"


def test_lease_refuses_a_second_driver_and_allows_takeover_after_expiry(cluster):
    clock = Clock()
    tr_a, a = connect(cluster)
    tr_b, b = connect(cluster)
    a.clock = b.clock = clock
    try:
        assert a.acquire_lease("courses", "alice@x:1:aa", 10)
        assert not b.acquire_lease("courses", "bob@y:2:bb", 10)
        lease = b.lease("courses")
        assert lease is not None and lease.holder == "alice@x:1:aa"
        obj = cluster.emu.get("coordination.k8s.io", "leases", NS, "rollout-courses")
        assert obj["spec"]["holderIdentity"] == "alice@x:1:aa"
        assert obj["spec"]["leaseDurationSeconds"] == 10
        # MicroTime as the API server parses it: six fractional digits and a zone
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|\+00:00)", obj["spec"]["renewTime"]
        )
        # renewals inside ttl/3 cost nothing; later ones write renewTime
        puts = len([r for r in cluster.emu.calls() if r.plural == "leases" and r.verb == "update"])
        clock.advance(1)
        assert a.renew("courses", "alice@x:1:aa", 10)
        clock.advance(4)
        assert a.renew("courses", "alice@x:1:aa", 10)
        after = len([r for r in cluster.emu.calls() if r.plural == "leases" and r.verb == "update"])
        assert after == puts + 1
        clock.advance(9)  # alice's lease is still live (renewed 9 s ago, ttl 10)
        assert not b.acquire_lease("courses", "bob@y:2:bb", 10)
        clock.advance(2)  # now it lapsed: bob takes over
        assert b.acquire_lease("courses", "bob@y:2:bb", 10)
        obj = cluster.emu.get("coordination.k8s.io", "leases", NS, "rollout-courses")
        assert obj["spec"]["holderIdentity"] == "bob@y:2:bb"
        assert obj["spec"]["leaseTransitions"] == 1
        # alice's stale renew notices and fails
        clock.advance(5)
        assert not a.renew("courses", "alice@x:1:aa", 10)
        b.release("courses", "bob@y:2:bb")
        clock.advance(4)  # a remembers bob's live lease for ttl/3 before asking again
        assert a.lease("courses") is None
        assert a.acquire_lease("courses", "alice@x:1:aa", 10)
    finally:
        for x in (tr_a, a, tr_b, b):
            x.close()


def test_lease_race_on_create_loses_cleanly(cluster, kube):
    _, store = kube
    cluster.emu.fail_next("create", "leases")
    assert not store.acquire_lease("courses", "alice@x:1:aa", 10)
    assert store.acquire_lease("courses", "alice@x:1:aa", 10)


def test_heartbeat_only_saves_are_coalesced(cluster, kube):
    _, store = kube
    first = store.save(record(updated_at=100.0), 0)

    def puts():
        return len(
            [r for r in cluster.emu.calls() if r.verb == "update" and r.plural == "configmaps"]
        )

    before = puts()
    same = store.save(record(updated_at=105.0), first.revision)
    assert same.revision == first.revision and puts() == before  # nothing but the clock moved
    later = store.save(record(updated_at=116.0), same.revision)
    assert later.revision == first.revision + 1 and puts() == before + 1  # heartbeat due
    changed = store.save(record(updated_at=117.0, step_index=3), later.revision)
    assert changed.revision == later.revision + 1 and store.load("courses").step_index == 3
