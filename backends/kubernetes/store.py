"""``StateStore`` in the cluster: ConfigMaps for the record, audit and commands; a Lease.

- ``rollout-<service>``: the record as JSON in ``data.record``. Compare-and-swap is two-fold:
  the record's ``revision`` must equal ``expected_revision``, and the PUT carries the
  ConfigMap's resourceVersion, so two writers racing get a 409 and one loses cleanly.
  A save that only moves ``updated_at`` is written at most every HEARTBEAT seconds (the
  revision is then unchanged), so an idle rollout does not cost a write per tick.
- ``rollout-<service>-audit``: the newest ``AUDIT_LIMIT`` entries as JSON lines in
  ``data.audit`` (a ConfigMap holds at most 1 MiB; older entries are dropped, and the
  count dropped is kept in ``data.dropped``).
- ``rollout-<service>-commands``: pending commands as a JSON list in ``data.commands``.
- Lease ``rollout-<service>`` (coordination.k8s.io/v1): holderIdentity, leaseDurationSeconds,
  renewTime; another holder may take it over once renewTime + duration has passed.
Appends and takes are read-modify-write with a retry on 409 (safe: recomputed each time).
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from backends.base import (
    AuditEntry,
    BackendError,
    Command,
    ConflictError,
    Lease,
    NotFound,
    RolloutRecord,
    command_key,
)
from backends.kubernetes.api import CONFIGMAPS, LEASES, KubeApi
from backends.kubernetes.cache import WatchCache
from backends.kubernetes.objects import MANAGED_BY

AUDIT_LIMIT = 500
HEARTBEAT = 15.0  # seconds: a record whose only change is updated_at is written this often
RETRIES = 6
SERVICE_LABEL = "rollout.dev/service"
PART_LABEL = "rollout.dev/part"  # record | audit | commands


def _name(service: str, part: str) -> str:
    return f"rollout-{service}" if part == "record" else f"rollout-{service}-{part}"


def _micro(t: float) -> str:
    """A MicroTime. The client's model drops a zero fraction when it re-serializes, and the
    API server parses MicroTime with six digits, so a whole second is nudged by 1 us."""
    when = datetime.fromtimestamp(t, UTC)
    if when.microsecond == 0:
        when = when.replace(microsecond=1)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(s: str | None) -> float:
    if not s:
        return 0.0
    s = s.replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(s).timestamp()
    except ValueError:
        return 0.0


class ConfigMapStore:
    """Rollout state shared by every console that can reach the namespace."""

    def __init__(
        self,
        api: KubeApi,
        *,
        clock: Callable[[], float] = time.time,
        watch_timeout: int = 300,
        renew_fraction: float = 1 / 3,
    ) -> None:
        self.api, self.clock = api, clock
        self.renew_fraction = renew_fraction
        self.cache = WatchCache(
            api, CONFIGMAPS, f"{MANAGED_BY}=rollout", watch_timeout=watch_timeout
        )
        self._leases: dict[str, tuple[dict[str, Any], float]] = {}  # ours: object, renewed at
        self._others: dict[str, tuple[str, float, float]] = {}  # holder, trust until, expires
        self._lock = threading.Lock()

    def close(self) -> None:
        self.cache.stop()

    # ------------------------------------------------------------------ ConfigMap helpers

    def _body(self, service: str, part: str, data: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": _name(service, part),
                "labels": {MANAGED_BY: "rollout", SERVICE_LABEL: service, PART_LABEL: part},
            },
            "data": data,
        }

    def _get(self, service: str, part: str) -> dict[str, Any] | None:
        try:
            return self.api.get(CONFIGMAPS, _name(service, part))
        except NotFound:
            return None

    def _modify(
        self, service: str, part: str, change: Callable[[dict[str, str]], dict[str, str] | None]
    ) -> dict[str, str] | None:
        """Read-modify-write ``data`` with retry on conflict. ``change`` returning None skips."""
        for _ in range(RETRIES):
            cm = self._get(service, part)
            old = dict((cm or {}).get("data") or {})
            new = change(dict(old))
            if new is None:
                return old
            try:
                if cm is None:
                    result = self.api.create(CONFIGMAPS, self._body(service, part, new))
                else:
                    cm["data"] = new
                    result = self.api.replace(CONFIGMAPS, cm)
            except ConflictError:
                continue  # someone else wrote (or created) it: read again and redo the change
            self.cache.observe(result)
            return old
        raise ConflictError(
            f"ConfigMap '{_name(service, part)}' kept changing under us ({RETRIES} tries)"
        )

    # ------------------------------------------------------------------ records

    def services(self) -> list[str]:
        self.cache.ensure()
        return sorted(
            {
                str(cm["metadata"]["labels"][SERVICE_LABEL])
                for cm in self.cache.items()
                if (cm["metadata"].get("labels") or {}).get(PART_LABEL) == "record"
            }
        )

    def load(self, service: str) -> RolloutRecord | None:
        """From the watch cache (our own writes are folded in at once); a GET if it fails."""
        try:
            self.cache.ensure()
            cm = self.cache.get(_name(service, "record"))
        except BackendError:
            cm = self._get(service, "record")
        raw = ((cm or {}).get("data") or {}).get("record")
        if not raw:
            return None
        try:
            return RolloutRecord.from_dict(json.loads(raw))
        except (ValueError, KeyError) as exc:
            raise BackendError(
                f"ConfigMap '{_name(service, 'record')}' holds an unreadable record ({exc}); "
                "inspect it with kubectl before deleting it"
            ) from None

    def save(self, record: RolloutRecord, expected_revision: int) -> RolloutRecord:
        new = RolloutRecord.from_dict({**record.to_dict(), "revision": expected_revision + 1})
        data = {"record": json.dumps(new.to_dict(), sort_keys=True)}
        name = _name(record.service, "record")
        # The watch cache usually holds our own last write: PUT against it directly (one
        # request per save); a 409 means it was stale, so check against a fresh read.
        self.cache.ensure()
        cm = self.cache.get(name)
        for fresh in (False, True):
            if fresh:
                cm = self._get(record.service, "record")
            if cm is None:
                if not fresh:
                    continue
                if expected_revision != 0:
                    raise ConflictError(
                        f"ConfigMap '{name}' is gone but revision {expected_revision} was expected"
                    )
                try:
                    created = self.api.create(
                        CONFIGMAPS, self._body(record.service, "record", data)
                    )
                except ConflictError:
                    raise ConflictError(f"another console created '{name}' first; reload") from None
                self.cache.observe(created)
                return new
            old = json.loads((cm.get("data") or {}).get("record") or "{}")
            stored = int(old.get("revision", 0))
            if stored == expected_revision and self._heartbeat_only(old, new):
                return dataclasses.replace(record, revision=expected_revision)
            if stored != expected_revision:
                if not fresh:
                    continue
                raise ConflictError(
                    f"record '{name}' is at revision {stored}, not {expected_revision}: "
                    "another driver wrote it; reload"
                )
            cm["data"] = data
            try:
                self.cache.observe(self.api.replace(CONFIGMAPS, cm))
            except ConflictError:
                if fresh:
                    raise  # a write landed between our read and this PUT: the CAS lost
                continue
            return new
        raise AssertionError("unreachable")

    def _heartbeat_only(self, old: dict[str, Any], new: RolloutRecord) -> bool:
        """True when ``new`` differs from the stored record only by a recent ``updated_at``.

        The engine stamps ``updated_at`` every tick; writing that alone would cost a PUT a
        second. It is written at least every HEARTBEAT seconds instead, and the revision
        stays the same while nothing else changes.
        """
        fresh = new.to_dict()
        same = {k: v for k, v in old.items() if k not in ("updated_at", "revision")} == {
            k: v for k, v in fresh.items() if k not in ("updated_at", "revision")
        }
        return same and new.updated_at - float(old.get("updated_at", 0.0)) < HEARTBEAT

    # ------------------------------------------------------------------ audit

    def append_audit(self, entry: AuditEntry) -> None:
        line = json.dumps(entry.to_dict(), sort_keys=True)

        def add(data: dict[str, str]) -> dict[str, str]:
            lines = [x for x in (data.get("audit") or "").splitlines() if x]
            lines.append(line)
            dropped = int(data.get("dropped") or 0) + max(0, len(lines) - AUDIT_LIMIT)
            return {"audit": "\n".join(lines[-AUDIT_LIMIT:]) + "\n", "dropped": str(dropped)}

        self._modify(entry.service, "audit", add)

    def read_audit(self, service: str, limit: int | None = None) -> list[AuditEntry]:
        cm = self._get(service, "audit")
        lines = [x for x in (((cm or {}).get("data") or {}).get("audit") or "").splitlines() if x]
        entries = [AuditEntry.from_dict(json.loads(x)) for x in lines]
        return entries[-limit:] if limit else entries

    # ------------------------------------------------------------------ commands

    def post_command(self, command: Command) -> None:
        def add(data: dict[str, str]) -> dict[str, str]:
            pending = json.loads(data.get("commands") or "[]")
            pending.append(command.to_dict())
            return {"commands": json.dumps(pending)}

        self._modify(command.service, "commands", add)

    def take_commands(self, service: str) -> list[Command]:
        # The watch cache says whether anything is pending, so an idle tick costs no request.
        self.cache.ensure()
        cached = self.cache.get(_name(service, "commands"))
        if not json.loads(((cached or {}).get("data") or {}).get("commands") or "[]"):
            return []
        taken: list[dict[str, Any]] = []

        def clear(data: dict[str, str]) -> dict[str, str] | None:
            taken[:] = json.loads(data.get("commands") or "[]")
            return {"commands": "[]"} if taken else None

        self._modify(service, "commands", clear)
        return sorted((Command.from_dict(c) for c in taken), key=lambda c: c.at)

    def peek_commands(self, service: str) -> list[Command]:
        """The pending commands, oldest first, left in place until acknowledged (read from
        the watch cache: an idle tick costs no request)."""
        self.cache.ensure()
        cached = self.cache.get(_name(service, "commands"))
        pending = json.loads(((cached or {}).get("data") or {}).get("commands") or "[]")
        return sorted((Command.from_dict(c) for c in pending), key=lambda c: c.at)

    def ack_commands(self, service: str, keys: Collection[str]) -> None:
        """Remove the commands with these keys, keeping any posted since (CAS, retried)."""
        if not keys:
            return

        def drop(data: dict[str, str]) -> dict[str, str] | None:
            pending = json.loads(data.get("commands") or "[]")
            left = [c for c in pending if command_key(Command.from_dict(c)) not in keys]
            return {"commands": json.dumps(left)} if len(left) != len(pending) else None

        self._modify(service, "commands", drop)

    # ------------------------------------------------------------------ lease

    def _lease_body(self, service: str, holder: str, ttl: float, old: dict | None) -> dict:
        now = _micro(self.clock())
        spec = dict((old or {}).get("spec") or {})
        transitions = int(spec.get("leaseTransitions", 0))
        if spec.get("holderIdentity") and spec.get("holderIdentity") != holder:
            transitions += 1
        if spec.get("holderIdentity") != holder:
            spec["acquireTime"] = now
        spec.update(
            holderIdentity=holder,
            leaseDurationSeconds=max(1, math.ceil(ttl)),
            renewTime=now,
            leaseTransitions=transitions,
        )
        meta = dict((old or {}).get("metadata") or {})
        meta.setdefault("name", _name(service, "record"))
        meta.setdefault("labels", {MANAGED_BY: "rollout", SERVICE_LABEL: service})
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": spec,
        }

    def _expires(self, lease: dict[str, Any]) -> float:
        spec = lease.get("spec") or {}
        return _parse_time(spec.get("renewTime") or spec.get("acquireTime")) + float(
            spec.get("leaseDurationSeconds") or 0
        )

    def _get_lease(self, service: str) -> dict[str, Any] | None:
        try:
            current: dict[str, Any] | None = self.api.get(LEASES, _name(service, "record"))
        except NotFound:
            current = None
        spec = (current or {}).get("spec") or {}
        holder, now = spec.get("holderIdentity"), self.clock()
        with self._lock:
            if current is not None and holder and self._expires(current) > now:
                # Remember someone else's live lease for a third of its duration: a viewer
                # ticking every second then asks ~18 times a minute, not 60 (or 120).
                until = min(self._expires(current), now + float(spec["leaseDurationSeconds"]) / 3)
                self._others[service] = (str(holder), until, self._expires(current))
            else:
                self._others.pop(service, None)
        return current

    def _seen_other(self, service: str) -> Lease | None:
        with self._lock:
            seen = self._others.get(service)
        if seen is None or self.clock() >= seen[1]:
            return None
        return Lease(service=service, holder=seen[0], expires_at=seen[2])

    def acquire_lease(self, service: str, holder: str, ttl: float) -> bool:
        seen = self._seen_other(service)
        if seen is not None and seen.holder != holder:
            return False  # seen live a moment ago (see _seen_other)
        current = self._get_lease(service)
        if current is not None:
            spec = current.get("spec") or {}
            mine = spec.get("holderIdentity") == holder
            if not mine and spec.get("holderIdentity") and self._expires(current) > self.clock():
                return False  # someone else drives and their lease is live
        body = self._lease_body(service, holder, ttl, current)
        try:
            result = (
                self.api.create(LEASES, body) if current is None else self.api.replace(LEASES, body)
            )
        except ConflictError:
            return False  # another console took it between our read and write
        with self._lock:
            self._leases[service] = (result, self.clock())
        return True

    def renew(self, service: str, holder: str, ttl: float) -> bool:
        with self._lock:
            held = self._leases.get(service)
        now = self.clock()
        if held is not None and held[0]["spec"].get("holderIdentity") == holder:
            obj, renewed_at = held
            # Renewing every tick would cost a write a second; once per ttl/3 keeps the
            # lease live with two spare renewals before it can lapse.
            if now - renewed_at < ttl * self.renew_fraction:
                return True
            try:
                result = self.api.replace(LEASES, self._lease_body(service, holder, ttl, obj))
            except ConflictError:
                with self._lock:
                    self._leases.pop(service, None)
                return self.acquire_lease(service, holder, ttl)  # re-read: still ours?
            with self._lock:
                self._leases[service] = (result, now)
            return True
        return self.acquire_lease(service, holder, ttl)

    def release(self, service: str, holder: str) -> None:
        with self._lock:
            self._leases.pop(service, None)
        current = self._get_lease(service)
        if current is None or (current.get("spec") or {}).get("holderIdentity") != holder:
            return
        current["spec"]["holderIdentity"] = None
        current["spec"]["leaseDurationSeconds"] = 1
        try:
            self.api.replace(LEASES, current)
        except (ConflictError, NotFound):
            pass  # someone else took or removed it: nothing of ours to release

    def stored_lease(self, service: str) -> Lease | None:
        """The Lease as stored, expired or not (None when released or absent): tells when
        the last driver's lease ran out (``console.driver.guard``)."""
        current = self._get_lease(service)
        holder = ((current or {}).get("spec") or {}).get("holderIdentity")
        if current is None or not holder:
            return None
        return Lease(service=service, holder=str(holder), expires_at=self._expires(current))

    def lease(self, service: str) -> Lease | None:
        seen = self._seen_other(service)
        if seen is not None:
            return seen
        current = self._get_lease(service)
        if current is None:
            return None
        holder = (current.get("spec") or {}).get("holderIdentity")
        expires = self._expires(current)
        if not holder or expires <= self.clock():
            return None
        return Lease(service=service, holder=str(holder), expires_at=expires)
