"""The demo LMS's feature flags: the flagd file in the state directory and its first content.

``<state_dir>/flags.json`` is a flagd flag-definition file. The runner writes the seed below
when the file is missing (a file left by an earlier demo is kept: flags are state, like the
rollout records) and hands its path to every service instance in ``LMS_FLAGS_FILE``.

- ``new-gradebook`` (grades): grade answers computed by the new gradebook, a few
  milliseconds slower; the behaviour field ``gradebook_bug`` makes a share of them fail, for
  drills. Seeded off, with the beta cohort (``x-lms-beta: true``) on.
- ``course-recommendations`` (courses): course answers carry recommended courses. Seeded off.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from backends.flagd import model
from backends.flagd.file import write_atomic

FLAGS_FILE = "flags.json"
ENV_VAR = "LMS_FLAGS_FILE"  # where a service instance finds the flag file

SEED: dict[str, dict[str, Any]] = {
    "new-gradebook": {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
        "targeting": {"if": [{"==": [{"var": "x-lms-beta"}, "true"]}, "on", None]},
        "metadata": {"service": "grades", "offVariant": "off"},
    },
    "course-recommendations": {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
        "metadata": {"service": "courses", "offVariant": "off"},
    },
}


def flags_path(state_dir: Path | str) -> Path:
    return Path(state_dir) / FLAGS_FILE


def seed_flags(state_dir: Path | str) -> Path:
    """Write the seed flag file unless one exists; return its path."""
    path = flags_path(state_dir)
    if not path.exists():
        doc = model.new_document(str(path), SEED)
        with contextlib.suppress(FileExistsError):
            write_atomic(path, model.dumps(doc).encode())
    return path
