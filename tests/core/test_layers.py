"""The layer rules of docs/internals.md hold: import-linter's contracts (pyproject.toml) pass,
and the headless command path really runs without Textual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    exe = Path(sys.executable).parent / "lint-imports"
    r = subprocess.run(
        [str(exe), "--no-cache"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_validate_runs_without_textual() -> None:
    # The CLI path itself: parse arguments, dispatch to validate, and still no Textual.
    code = (
        "import sys\n"
        "from console import cli\n"
        "rc = cli.main(['validate', 'examples/canary.yaml'])\n"
        "assert rc == 0, rc\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"
