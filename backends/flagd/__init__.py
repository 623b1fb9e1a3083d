"""Feature flags in flagd's flag definitions: the pure model and a file backend.

``model`` parses, checks, changes and serializes flagd JSON (no I/O); ``FlagdFile`` is the
``FlagBackend`` over one file. ``from_config({"kind": "flagd", "file": PATH})`` is what an
environment's ``flags:`` entry builds. flagd's gRPC sync endpoint is not supported: a flag
source is a file that flagd (``--uri file:PATH``) or in-process providers watch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backends.flagd.file import FlagdFile

__all__ = ["FlagdFile", "from_config"]


def from_config(cfg: Mapping[str, Any]) -> FlagdFile:
    """The backend an environment's ``flags:`` mapping describes; ValueError names the field."""
    if cfg.get("kind") != "flagd":
        raise ValueError(f"flags.kind must be flagd, got {cfg.get('kind')!r}")
    unknown = sorted(set(cfg) - {"kind", "file"})
    if unknown:
        raise ValueError(f"flags: unknown key {unknown[0]!r}; allowed: kind, file")
    path = cfg.get("file")
    if not isinstance(path, str) or not path:
        raise ValueError("flags.file must be the path of a flagd JSON file")
    return FlagdFile(Path(path).expanduser())
