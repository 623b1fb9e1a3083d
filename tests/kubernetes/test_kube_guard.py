"""The controller key, the stored lease and the unguarded marker on the ConfigMap/Lease store."""

from __future__ import annotations

from backends.base import Phase, RolloutRecord, Strategy
from console.driver import unguarded
from console.driver.presence import CONTROLLER_KEY, claim, controller_running, give_up
from tests.kubernetes.kubetest import NS, connect
from tests.support.clock import Clock

T0 = 1_800_000_000.0


def _record() -> RolloutRecord:
    return RolloutRecord(
        service="courses",
        strategy=Strategy.CANARY,
        stable="v1",
        candidate="v2",
        phase=Phase.PROGRESSING,
        plan={"service": "courses"},
        weights={"v1": 80, "v2": 20},
        updated_at=T0,
    )


def test_controller_key_is_a_lease_of_its_own_and_passes_on(cluster):
    clock = Clock(T0)
    tr_a, a = connect(cluster)
    tr_b, b = connect(cluster)
    a.clock = b.clock = clock
    try:
        assert controller_running(a, clock()) is None
        assert claim(a, "ctl-a@pod-a:1:aa", 10)
        assert not claim(b, "ctl-b@pod-b:1:bb", 10)  # standby
        assert controller_running(b, clock()) == "ctl-a@pod-a:1:aa"
        obj = cluster.emu.get("coordination.k8s.io", "leases", NS, "rollout-rollout-controller")
        assert obj["spec"]["holderIdentity"] == "ctl-a@pod-a:1:aa"
        assert CONTROLLER_KEY not in a.services()  # never a rollout
        give_up(a, "ctl-a@pod-a:1:aa")  # SIGTERM: the standby takes it at once
        clock.now += 4  # past b's memory of a's live lease (ttl/3)
        assert claim(b, "ctl-b@pod-b:1:bb", 10)
        assert controller_running(a, clock()) == "ctl-b@pod-b:1:bb"
    finally:
        for x in (tr_a, a, tr_b, b):
            x.close()


def test_stored_lease_tells_when_a_killed_driver_lease_ran_out(cluster, kube):
    clock = Clock(T0)
    _, store = kube
    store.clock = clock
    store.save(_record(), 0)
    assert store.acquire_lease("courses", "auto@ci:1:aa", 10)
    clock.now += 30  # the driver was killed at T0: nobody renewed
    assert store.lease("courses") is None
    stored = store.stored_lease("courses")
    assert stored is not None and stored.holder == "auto@ci:1:aa"
    assert abs(stored.expires_at - (T0 + 10)) < 1e-3
    rec = store.load("courses")
    guard = unguarded.check(store, rec, clock())
    assert not guard.guarded and guard.since is not None and abs(guard.since - (T0 + 10)) < 1e-3
    # Reported once: the marker is saved with the ConfigMap's compare-and-swap.
    assert unguarded.report(store, rec, guard, clock(), reporter="cron@h:1:aa") is not None
    assert unguarded.report(store, rec, guard, clock(), reporter="cron@h:2:bb") is None
    again = store.load("courses")
    assert [e.kind for e in again.events] == ["unguarded"]
    assert unguarded.report(store, again, guard, clock(), reporter="cron@h:3:cc") is None
    # A released lease leaves nothing stored.
    assert store.acquire_lease("courses", "auto@ci:2:bb", 10)
    store.release("courses", "auto@ci:2:bb")
    assert store.stored_lease("courses") is None
