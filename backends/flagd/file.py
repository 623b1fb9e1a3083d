"""``FlagBackend`` over a flagd flag-definition file (the demo's, or any environment's).

Reads check the whole file (``model.parse``); every change takes an exclusive lock on a
sibling ``.<name>.lock`` (so a console and a CLI changing flags at once lose neither
change), reads, changes, checks and writes a temporary file in the same directory, then
renames it over the flag file: flagd's file watchers and our services see the old or the
new definition, never a torn one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from backends.base import BackendUnavailable, CohortRule, Flag
from backends.flagd import model
from backends.flagd.model import FlagDocument


class FlagdFile:
    """The flags of one flagd JSON file."""

    def __init__(self, path: str | os.PathLike[str], *, name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or f"flagd file {self.path}"

    # ------------------------------------------------------------------ reading

    def _read(self) -> FlagDocument:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise BackendUnavailable(f"no flag file at {self.path}") from None
        except OSError as exc:
            raise BackendUnavailable(f"cannot read the flag file {self.path}: {exc}") from None
        return model.parse(data, str(self.path))

    def document(self) -> FlagDocument:
        """The checked file (raises FlagFileError naming the field when malformed)."""
        return self._read()

    def flags(self) -> list[Flag]:
        return list(self._read().flags.values())

    def flag(self, key: str) -> Flag:
        return self._read().flag(key)

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_name(f".{self.path.name}.lock")
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise BackendUnavailable(f"cannot lock the flag file {self.path}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def write(self, doc: FlagDocument) -> None:
        """Write a checked document atomically (tmp + fsync + rename)."""
        write_atomic(self.path, model.dumps(doc).encode())

    def _change(self, key: str | None, how: Callable[[FlagDocument], FlagDocument]) -> FlagDocument:
        with self._locked():
            doc = how(self._read())
            self.write(doc)
        return doc

    def set_default(self, key: str, variant: str) -> Flag:
        return self._change(key, lambda d: model.set_default(d, key, variant)).flag(key)

    def set_fractional(self, key: str, weights: Mapping[str, int]) -> Flag:
        return self._change(key, lambda d: model.set_fractional(d, key, weights)).flag(key)

    def set_cohort(self, key: str, rule: CohortRule) -> Flag:
        return self._change(key, lambda d: model.set_cohort(d, key, rule)).flag(key)

    def clear_cohort(self, key: str, field: str) -> Flag:
        return self._change(key, lambda d: model.clear_cohort(d, key, field)).flag(key)

    def set_enabled(self, key: str, enabled: bool) -> Flag:
        return self._change(key, lambda d: model.set_enabled(d, key, enabled)).flag(key)

    def kill(self, key: str) -> Flag:
        return self._change(key, lambda d: model.kill(d, key)).flag(key)

    def kill_all(self) -> list[Flag]:
        return list(self._change(None, model.kill_all).flags.values())


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory + rename."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise BackendUnavailable(f"cannot write the flag file {path}: {exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise BackendUnavailable(f"cannot write the flag file {path}: {exc}") from None
