"""The headless modules never import Textual (DESIGN.md: headless mode starts fast, no terminal)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HEADLESS = [
    "backends.base",
    "console.plan.load",
    "console.plan.model",
    "console.analysis.verdicts",
    "console.engine.machine",
    "console.cli",
    "console.commands.validate",
]


def test_headless_modules_do_not_import_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {HEADLESS!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_validate_runs_without_textual() -> None:
    # The CLI path itself: parse arguments, dispatch to validate, and still no Textual.
    code = (
        "import sys\n"
        "from console import cli\n"
        "rc = cli.main(['validate', 'examples/canary.yaml'])\n"
        "assert rc == 0, rc\n"
        "print('textual' in sys.modules)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "False"
