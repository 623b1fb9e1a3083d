"""Is a controller running? The active ``rollout controller`` holds a lease on a reserved key.

The key ``rollout-controller`` lives in the same ``StateStore`` as the rollouts' own leases,
so whoever can read a rollout can tell whether a controller guards it: the file store keeps
``rollout-controller.lease`` beside the records, the Kubernetes store a Lease named
``rollout-rollout-controller``. It is never a record, so ``store.services()`` does not list
it (and no service may be named ``rollout-controller``).

One controller holds the key (the active one) and renews it every pass; the others are
standbys that try to take it on every pass and drive nothing until they do. Rollouts keep
their own per-rollout lease, so even two controllers that both think they are active drive
each rollout exactly once.
"""

from __future__ import annotations

import time

from backends.base import BackendError, StateStore
from console.driver.edges import holder_gone

CONTROLLER_KEY = "rollout-controller"


def _local(store: StateStore) -> bool:
    """A store whose holders all run on this machine (see ``Driver._release_dead_holder``)."""
    return bool(getattr(store, "local_leases", False))


def controller_running(store: StateStore, now: float | None = None) -> str | None:
    """The holder id of the active controller, or None when none holds the key.

    On a local store a holder whose process is gone does not count, even before its
    lease runs out. Store errors count as "none" (the caller cannot tell either way).
    """
    now = time.time() if now is None else now
    try:
        lease = store.lease(CONTROLLER_KEY)
    except BackendError:
        return None
    if lease is None or lease.expires_at <= now:
        return None
    if _local(store) and holder_gone(lease.holder):
        return None
    return lease.holder


def claim(store: StateStore, holder: str, ttl: float) -> bool:
    """Take or renew the controller key for ``holder``; False when another controller holds
    it. On a local store a dead holder's key is freed at once (a restarted controller does
    not wait out the TTL). Raises BackendError when the store fails."""
    if store.renew(CONTROLLER_KEY, holder, ttl):
        return True
    if not _local(store):
        return False
    lease = store.lease(CONTROLLER_KEY)
    if lease is not None and lease.holder != holder and holder_gone(lease.holder):
        store.release(CONTROLLER_KEY, lease.holder)
        return store.acquire_lease(CONTROLLER_KEY, holder, ttl)
    return False


def give_up(store: StateStore, holder: str) -> None:
    """Release the controller key if ``holder`` has it (a standby takes it on its next pass)."""
    try:
        store.release(CONTROLLER_KEY, holder)
    except BackendError:
        pass  # it runs out on its own
