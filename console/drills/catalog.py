"""The built-in scenarios (package data) and the log of past drills in the state directory."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from console.drills.load import load_scenario, parse_scenario
from console.drills.model import Scenario
from console.drills.report import Report

LOG_NAME = "drills.jsonl"


def builtin_names() -> list[str]:
    """Names of the scenarios shipped with rollout, sorted."""
    folder = resources.files("console.drills") / "scenarios"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def builtin(name: str) -> Scenario:
    """A built-in scenario by name; KeyError (with the known names) when there is none."""
    if name not in builtin_names():
        raise KeyError(name)
    ref = resources.files("console.drills") / "scenarios" / f"{name}.yaml"
    return parse_scenario(ref.read_text(encoding="utf-8"), f"{name}.yaml")


def load(name: str | None, file: str | None) -> Scenario:
    """The scenario a command names: ``--file PATH`` or a built-in name."""
    if file is not None:
        return load_scenario(file)
    assert name is not None
    return builtin(name)


def save_report(state_dir: Path, report: Report) -> Path:
    """Append the report to the drill log (one JSON object per line)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LOG_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(json.dumps(report.to_dict(), sort_keys=True) + "\n")
    return path


def read_reports(state_dir: Path) -> tuple[list[Report], int]:
    """Every saved report, oldest first, and how many lines could not be read."""
    try:
        lines = (state_dir / LOG_NAME).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return [], 0
    out, bad = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            out.append(Report.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            bad += 1
    return out, bad
