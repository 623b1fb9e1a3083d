"""The user's configuration: environments and key bindings, from XDG config.yaml.

``demo`` always exists and needs no configuration. Errors name the file and the field and
raise ``ConfigError``; callers turn that into exit code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from console.config.paths import config_file

DEMO = "demo"
CLUSTER_KINDS = ("kubernetes", "demo")
METRICS_KINDS = ("prometheus", "demo")
TOP_KEYS = ("default", "environments", "keys", "standby")
ENV_KEYS = ("cluster", "metrics", "flags")
FLAGS_KINDS = ("flagd",)


class ConfigError(Exception):
    """The config file is unreadable or wrong; the message says where and what to do."""


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    cluster: Mapping[str, Any] | None = None  # {kind: kubernetes, context, namespace}
    metrics: Mapping[str, Any] | None = None  # {kind: prometheus, url, provider, ...}
    flags: Mapping[str, Any] | None = None  # {kind: flagd, file: PATH}


@dataclass(frozen=True)
class Config:
    default: str = DEMO
    environments: Mapping[str, EnvironmentConfig] = field(default_factory=dict)
    keys: Mapping[str, str] = field(default_factory=dict)
    path: Path | None = None
    standby: bool = False  # consoles take over unguarded rollouts by themselves (--standby)

    def environment(self, name: str | None) -> EnvironmentConfig:
        """The named environment, else the default one. Raises ConfigError if unknown."""
        chosen = name or self.default
        if chosen == DEMO and DEMO not in self.environments:
            return EnvironmentConfig(name=DEMO, cluster={"kind": "demo"}, metrics={"kind": "demo"})
        if chosen not in self.environments:
            known = ", ".join(sorted({DEMO, *self.environments})) or DEMO
            where = f" in {self.path}" if self.path else ""
            raise ConfigError(f"unknown environment '{chosen}'{where}; known: {known}")
        return self.environments[chosen]


def cluster_hint() -> str:
    """``; pass --env with one that has a cluster: demo, prod`` for metrics-only messages."""
    try:
        config = load_config()
    except ConfigError:
        return "; pass --env demo for the demo"
    others = (n for n, e in config.environments.items() if e.cluster is not None and n != DEMO)
    names = [DEMO, *sorted(others)]
    return f"; pass --env with one that has a cluster: {', '.join(names)}"


def yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """One line, ``FILE:LINE: not valid YAML: <problem>``, instead of pyyaml's multi-line dump."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    text = " ".join(str(problem).split())
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and start is not None and mark is not None and start.line != mark.line:
        # e.g. an unclosed '[': the problem shows at the end, the cause lines earlier.
        text += f" ({' '.join(str(context).split())} that starts on line {start.line + 1})"
    return f"{where}: not valid YAML: {text}"


def environment_name(name: str | None) -> str:
    """The environment ``name`` stands for (the config's default when None), for messages.

    Never raises: with an unreadable config it falls back to the name given or "demo".
    """
    if name:
        return name
    try:
        return load_config().default
    except ConfigError:
        return DEMO


def _key_lines(text: str) -> dict[str, int]:
    """1-based lines of the top-level keys and of each ``environments.NAME.KEY``."""
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if not isinstance(root, yaml.MappingNode):
        return lines
    for knode, vnode in root.value:
        lines[str(knode.value)] = knode.start_mark.line + 1
        if knode.value != "environments" or not isinstance(vnode, yaml.MappingNode):
            continue
        for ename, ebody in vnode.value:
            lines[f"environments.{ename.value}"] = ename.start_mark.line + 1
            if isinstance(ebody, yaml.MappingNode):
                for k, _ in ebody.value:
                    lines[f"environments.{ename.value}.{k.value}"] = k.start_mark.line + 1
    return lines


def _unknown_key(path: Path, lines: dict[str, int], field: str, allowed: tuple[str, ...]) -> str:
    """``FILE:LINE: FIELD: unknown key; did you mean X?`` (or the allowed keys)."""
    key = field.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else f"allowed here: {', '.join(allowed)}"
    line = lines.get(field)
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: {field}: unknown key; {hint}"


def load_config(path: Path | None = None) -> Config:
    """Read the config file; a missing file is an empty config (demo only)."""
    path = path or config_file()
    if not path.exists():
        return Config(path=None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error(path, exc)) from None
    if raw is None:
        return Config(path=path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping (default, environments, keys)")
    # A typo ("environment:", "metric:") would otherwise leave an environment silently empty
    # and surface later as a puzzling "unknown environment" or "has no cluster".
    lines = _key_lines(text)
    for key in raw:
        if str(key) not in TOP_KEYS:
            raise ConfigError(_unknown_key(path, lines, str(key), TOP_KEYS))
    envs: dict[str, EnvironmentConfig] = {}
    raw_envs = raw.get("environments") or {}
    if not isinstance(raw_envs, dict):
        raise ConfigError(f"{path}: 'environments' must be a mapping of name -> settings")
    for name, body in raw_envs.items():
        body = body or {}
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: environments.{name} must be a mapping")
        for key in body:
            if str(key) not in ENV_KEYS:
                raise ConfigError(_unknown_key(path, lines, f"environments.{name}.{key}", ENV_KEYS))
        cluster, metrics = body.get("cluster"), body.get("metrics")
        flags = body.get("flags")
        for part, value, kinds in (
            ("cluster", cluster, CLUSTER_KINDS),
            ("metrics", metrics, METRICS_KINDS),
            ("flags", flags, FLAGS_KINDS),
        ):
            if value is None:
                continue
            if not isinstance(value, dict) or value.get("kind") not in kinds:
                raise ConfigError(
                    f"{path}: environments.{name}.{part}.kind must be one of {', '.join(kinds)}"
                )
        envs[str(name)] = EnvironmentConfig(
            name=str(name), cluster=cluster, metrics=metrics, flags=flags
        )
    default = str(raw.get("default") or DEMO)
    if default != DEMO and default not in envs:
        raise ConfigError(f"{path}: default '{default}' is not one of the environments")
    keys = raw.get("keys") or {}
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise ConfigError(f"{path}: 'keys' must map an action to a key, e.g. promote: a")
    standby = raw.get("standby", False)
    if not isinstance(standby, bool):
        raise ConfigError(f"{path}: 'standby' must be true or false, got {standby!r}")
    return Config(default=default, environments=envs, keys=dict(keys), path=path, standby=standby)
