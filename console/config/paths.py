"""Where rollout keeps configuration and state: XDG directories, never dotfiles in ~."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "rollout"


def config_file() -> Path:
    return config_dir() / "config.yaml"


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "rollout"


def demo_dir() -> Path:
    """The embedded demo environment's state directory (records, audit, its endpoint file)."""
    override = os.environ.get("ROLLOUT_DEMO_DIR")
    return Path(override) if override else state_dir() / "demo"
