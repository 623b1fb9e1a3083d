"""Rollout records, audit log, driver lease and command queue as files in one directory.

Per service ``<name>``:

- ``<name>.json``            the record, replaced atomically (temp file, fsync, rename, fsync dir),
  so a kill at any instant leaves either the old or the new record, never a torn one;
- ``<name>.audit.jsonl``     append-only JSON lines, each written with one ``write()`` under
  ``O_APPEND`` and fsynced; a reader skips a torn last line;
- ``<name>.lease``           the driver lease: holder and expiry (POSIX seconds), rewritten by
  a renewal only once a third of its TTL has passed;
- ``<name>.commands.jsonl``  pending operator commands, oldest first; taking them removes
  the file, so a command is applied at most once (a driver killed between taking and saving
  loses it, which is safer than promoting twice);
- ``<name>.lock``            an ``fcntl`` lock held around every read-compare-write, so two
  processes can never both win a compare-and-swap or both take the lease.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from backends.base import (
    AuditEntry,
    BackendError,
    Command,
    ConflictError,
    CorruptRecord,
    Lease,
    RolloutRecord,
    command_key,
)

# Service names become file names: letters, digits, '-' and '_' only, so no '/', no '..',
# and no clash with the '.audit.jsonl' style suffixes.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def check_service_name(service: str) -> str:
    """Return ``service`` if it is a safe file-name stem, else raise ValueError."""
    if not isinstance(service, str) or not _NAME.match(service):
        raise ValueError(
            f"invalid service name {service!r}: use letters, digits, '-' and '_' (max 128)"
        )
    return service


def _reason(exc: BackendError, path: Path) -> str:
    """The error without the path prefix that ``_read_json`` adds (CorruptRecord names it)."""
    text = str(exc)
    prefix = f"{path}: unreadable state file: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _names_service(path: Path, stem: str) -> bool:
    """True if the (unparsable) file still says ``"service": "<stem>"``."""
    try:
        raw = path.read_bytes()
    except OSError:
        return False
    return re.search(rb'"service"\s*:\s*"' + re.escape(stem.encode()) + rb'"', raw) is not None


class FileStateStore:
    """A ``StateStore`` on the local file system (the demo environment's state directory)."""

    # Every lease holder runs on this machine: a driver may free the lease of a holder whose
    # process is gone instead of waiting out the TTL (see Driver._release_dead_holder).
    local_leases = True

    def __init__(self, directory: str | os.PathLike[str], clock: Callable[[], float] = time.time):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._clock = clock

    # ------------------------------------------------------------------ paths and locking

    def _path(self, service: str, suffix: str) -> Path:
        return self.directory / f"{check_service_name(service)}{suffix}"

    @contextlib.contextmanager
    def _locked(self, service: str) -> Iterator[None]:
        """Hold the service's exclusive lock (blocks; held only for a few file operations)."""
        fd = os.open(self._path(service, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def _write_atomic(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        dfd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    @staticmethod
    def _read_json(path: Path) -> Any:
        try:
            return json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise BackendError(f"{path}: unreadable state file: {exc}") from None

    # ------------------------------------------------------------------ records

    def services(self) -> list[str]:
        """Services that have a record."""
        names = []
        for p in self.directory.glob("*.json"):
            stem = p.name[: -len(".json")]
            if not _NAME.match(stem):
                continue
            try:
                d = json.loads(p.read_bytes())
            except OSError:
                continue
            except ValueError:
                # A damaged record that still names its service is listed, so that load()
                # reports it instead of the service silently vanishing; other junk is not.
                if _names_service(p, stem):
                    names.append(stem)
                continue
            # Other files may share the directory (the demo's endpoint.json): only records
            # naming their own service count.
            if isinstance(d, dict) and d.get("service") == stem and "phase" in d:
                names.append(stem)
        return sorted(names)

    def load(self, service: str) -> RolloutRecord | None:
        """The service's record, or None if it has none; CorruptRecord if it is unreadable."""
        path = self._path(service, ".json")
        try:
            d = self._read_json(path)
        except BackendError as exc:
            raise CorruptRecord(service, str(path), _reason(exc, path)) from None
        if d is None:
            return None
        try:
            return RolloutRecord.from_dict(d)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise CorruptRecord(service, str(path), f"not a rollout record: {exc}") from None

    def save(self, record: RolloutRecord, expected_revision: int) -> RolloutRecord:
        """Compare-and-swap: write if the stored revision is ``expected_revision`` (0: none)."""
        path = self._path(record.service, ".json")
        with self._locked(record.service):
            try:
                current = self._read_json(path)
            except BackendError as exc:
                raise CorruptRecord(record.service, str(path), _reason(exc, path)) from None
            current_rev = int(current.get("revision", 0)) if isinstance(current, dict) else 0
            if current_rev != expected_revision:
                raise ConflictError(
                    f"{record.service}: record is at revision {current_rev}, "
                    f"expected {expected_revision}"
                )
            d = record.to_dict()
            d["revision"] = current_rev + 1
            self._write_atomic(path, json.dumps(d, sort_keys=True).encode() + b"\n")
        return RolloutRecord.from_dict(d)

    # ------------------------------------------------------------------ audit

    def append_audit(self, entry: AuditEntry) -> None:
        """Append one JSON line; a single write() under O_APPEND, then fsync."""
        line = json.dumps(entry.to_dict(), sort_keys=True, separators=(",", ":")) + "\n"
        path = self._path(entry.service, ".audit.jsonl")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            # A previous writer killed mid-line leaves no newline at the end; start ours on a
            # fresh line so only the torn one is lost, not ours too.
            size = os.fstat(fd).st_size
            if size:
                with open(path, "rb") as f:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":
                        line = "\n" + line
            data = line.encode()
            written = os.write(fd, data)
            if written != len(data):
                raise BackendError(f"{path}: short write to the audit log")
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_audit(self, service: str, limit: int | None = None) -> list[AuditEntry]:
        """Audit entries oldest first (the last ``limit`` if given); torn lines are skipped."""
        path = self._path(service, ".audit.jsonl")
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return []
        entries = []
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                entries.append(AuditEntry.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue  # a torn or foreign line: skip it, never fail the reader
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return entries

    # ------------------------------------------------------------------ lease

    def _read_lease(self, service: str) -> Lease | None:
        try:
            d = self._read_json(self._path(service, ".lease"))
        except BackendError:
            return None  # an unreadable lease is no lease
        if not isinstance(d, dict):
            return None
        try:
            return Lease(
                service=service, holder=str(d["holder"]), expires_at=float(d["expires_at"])
            )
        except (KeyError, ValueError, TypeError):
            return None

    def _write_lease(self, service: str, holder: str, ttl: float) -> None:
        body = {"holder": holder, "expires_at": self._clock() + ttl}
        self._write_atomic(self._path(service, ".lease"), json.dumps(body).encode() + b"\n")

    def _hold_lease(self, service: str, holder: str, ttl: float, *, renewing: bool = False) -> bool:
        """Write ``holder``'s lease unless another holder's is still live. A renewal of our
        own lease with more than two thirds of ``ttl`` left writes nothing: a driver ticking
        every second would otherwise write (and fsync) its lease every second."""
        with self._locked(service):
            cur = self._read_lease(service)
            now = self._clock()
            if cur and cur.holder != holder and cur.expires_at > now:
                return False
            if renewing and cur and cur.holder == holder and cur.expires_at - now > ttl * 2 / 3:
                return True
            self._write_lease(service, holder, ttl)
            return True

    def acquire_lease(self, service: str, holder: str, ttl: float) -> bool:
        """Take the lease if it is free, expired, or already ours."""
        return self._hold_lease(service, holder, ttl)

    def renew(self, service: str, holder: str, ttl: float) -> bool:
        """Extend our lease; False if someone else holds it (we lost it). Ours expired with
        nobody taking it meanwhile is still safe to hold, so this is the same rule as taking.
        Written at most every ``ttl / 3`` (as the Kubernetes store does)."""
        return self._hold_lease(service, holder, ttl, renewing=True)

    def release(self, service: str, holder: str) -> None:
        """Give the lease up if we hold it."""
        with self._locked(service):
            cur = self._read_lease(service)
            if cur and cur.holder == holder:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._path(service, ".lease"))
                self._fsync_dir()

    def lease(self, service: str) -> Lease | None:
        """The current unexpired lease, if any."""
        cur = self._read_lease(service)
        if cur and cur.expires_at > self._clock():
            return cur
        return None

    def stored_lease(self, service: str) -> Lease | None:
        """The lease as stored, expired or not (a released one is gone): tells when the
        last driver's lease ran out (``console.driver.guard``)."""
        return self._read_lease(service)

    # ------------------------------------------------------------------ commands

    def post_command(self, command: Command) -> None:
        """Queue a command for the driver (one JSON line, fsynced)."""
        line = json.dumps(command.to_dict(), sort_keys=True, separators=(",", ":")) + "\n"
        with self._locked(command.service):
            path = self._path(command.service, ".commands.jsonl")
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)

    def take_commands(self, service: str) -> list[Command]:
        """Remove and return the pending commands, oldest first."""
        path = self._path(service, ".commands.jsonl")
        with self._locked(service):
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                return []
            try:
                os.unlink(path)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
            self._fsync_dir()
        return _parse_commands(raw)

    def peek_commands(self, service: str) -> list[Command]:
        """The pending commands, oldest first, left in the queue until acknowledged."""
        path = self._path(service, ".commands.jsonl")
        try:
            with self._locked(service):
                raw = path.read_bytes()
        except FileNotFoundError:
            return []
        return _parse_commands(raw)

    def ack_commands(self, service: str, keys: Collection[str]) -> None:
        """Remove the commands with these keys (``command_key``); later posts stay."""
        if not keys:
            return
        path = self._path(service, ".commands.jsonl")
        with self._locked(service):
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                return
            left = [c for c in _parse_commands(raw) if command_key(c) not in keys]
            if not left:
                path.unlink(missing_ok=True)
            else:
                text = "".join(
                    json.dumps(c.to_dict(), sort_keys=True, separators=(",", ":")) + "\n"
                    for c in left
                )
                self._write_atomic(path, text.encode())
            self._fsync_dir()


def _parse_commands(raw: bytes) -> list[Command]:
    """The queue's JSON lines as commands, oldest first; a torn or foreign line is skipped."""
    commands = []
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            commands.append(Command.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    commands.sort(key=lambda c: c.at)  # stable: equal times keep file order
    return commands
