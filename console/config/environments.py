"""Open an environment's backends by name. Heavy backends are imported only when used.

This is the composition root: the one module that names concrete backends and wires them
together (the demo's metrics through Prometheus, a stopped demo's records read from disk).
Each backend package offers one factory:
- ``backends.local.connect(state_dir)`` -> Environment for a running demo with its own
  in-process metrics (raises BackendUnavailable when none runs);
- ``backends.prometheus.from_config(metrics_cfg)`` -> MetricsBackend;
- ``backends.kubernetes.from_config(cluster_cfg, env_name)`` -> (TrafficBackend, StateStore);
- ``backends.flagd.from_config(flags_cfg)`` -> FlagBackend (the demo's: its state directory's
  ``flags.json``).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from backends.base import BackendUnavailable, Environment, FlagBackend
from console.config.paths import demo_dir
from console.config.settings import DEMO, Config, ConfigError, load_config


def open_demo(state_dir: Path) -> Environment:
    """The running demo in ``state_dir``. A demo started with ``--metrics prometheus`` is read
    through PromQL, so every process (a second console, ``rollout auto``) sees the same data."""
    local = importlib.import_module("backends.local")
    env: Environment = local.connect(state_dir)
    env.flags = demo_flags(state_dir)
    url = env.extras.get("prometheus_url")
    if url:
        prom = importlib.import_module("backends.prometheus")
        env.metrics = prom.from_config({"url": url, "provider": "http"})
        env.description = "demo (metrics: prometheus)"
    return env


def open_for_reading(name: str | None) -> tuple[Environment, str]:
    """The environment for read-only commands (status, history), and a note for the user.

    When the demo is not running its rollout records are still on disk: read them from
    there rather than failing, and say that the live traffic is unknown.
    """
    from backends.local.store import FileStateStore

    config = load_config()
    try:
        return open_environment(name, config), ""
    except BackendUnavailable as exc:
        records = demo_dir() / "rollouts"
        if config.environment(name).name != DEMO or not records.is_dir():
            raise
        env = Environment(
            name=DEMO,
            traffic=None,
            metrics=None,
            store=FileStateStore(records),
            description="demo (not running)",
        )
        return env, f"{exc}; showing the recorded state only"


def open_environment(name: str | None = None, config: Config | None = None) -> Environment:
    """Connect to the named environment (or the default). Raises ConfigError, BackendError."""
    config = config or load_config()
    env_cfg = config.environment(name)
    traffic = store = metrics = None
    flags: FlagBackend | None = None
    extras: dict[str, object] = {}
    description = env_cfg.name
    cluster = dict(env_cfg.cluster or {})
    if env_cfg.name == DEMO or cluster.get("kind") == "demo":
        env = open_demo(demo_dir())
        traffic, store, metrics, extras = env.traffic, env.store, env.metrics, env.extras
        flags = env.flags
        description = env.description or "demo"
    elif cluster.get("kind") == "kubernetes":
        kube = importlib.import_module("backends.kubernetes")
        try:
            traffic, store = kube.from_config(cluster, env_cfg.name)
        except ValueError as exc:  # a cluster entry the backend rejects: the user's to fix
            raise ConfigError(f"environment '{env_cfg.name}': {exc}") from None
        description = f"kube {cluster.get('context') or 'current-context'} / {cluster.get('namespace') or 'default'}"
    if env_cfg.flags:
        flags = _flags_from_config(env_cfg.name, env_cfg.flags)
    metrics_cfg = dict(env_cfg.metrics or {})
    if metrics_cfg.get("kind") == "prometheus":
        prom = importlib.import_module("backends.prometheus")
        try:
            metrics = prom.from_config(metrics_cfg)
        except ValueError as exc:  # PrometheusConfigError names the bad field
            raise ConfigError(f"environment '{env_cfg.name}': {exc}") from None
    return Environment(
        name=env_cfg.name,
        traffic=traffic,
        metrics=metrics,
        store=store,
        description=description,
        extras=extras,
        flags=flags,
    )


def demo_flags(state_dir: Path) -> FlagBackend:
    """The demo's flag file (flagd format) in its state directory."""
    flagd = importlib.import_module("backends.flagd")
    backend: FlagBackend = flagd.FlagdFile(state_dir / "flags.json", name="demo flags")
    return backend


def _flags_from_config(env_name: str, cfg: object) -> FlagBackend:
    flagd = importlib.import_module("backends.flagd")
    try:
        backend: FlagBackend = flagd.from_config(cfg)
    except ValueError as exc:
        raise ConfigError(f"environment '{env_name}': {exc}") from None
    return backend


def open_flags(name: str | None = None, config: Config | None = None) -> Environment:
    """The environment for the flag commands: its ``flags`` and its store (for the audit).

    The demo's flags are a file: they can be read and changed while the demo is stopped
    (its recorded store takes the audit). Raises ConfigError (no flags configured),
    BackendError.
    """
    config = config or load_config()
    env_cfg = config.environment(name)
    cluster = dict(env_cfg.cluster or {})
    is_demo = env_cfg.name == DEMO or cluster.get("kind") == "demo"
    if is_demo and not env_cfg.flags:
        try:
            return open_environment(name, config)
        except BackendUnavailable:
            from backends.local.store import FileStateStore

            return Environment(
                name=env_cfg.name,
                traffic=None,
                metrics=None,
                store=FileStateStore(demo_dir() / "rollouts"),
                description="demo (not running)",
                flags=demo_flags(demo_dir()),
            )
    if not env_cfg.flags:
        where = f" in {config.path}" if config.path else ""
        raise ConfigError(
            f"environment '{env_cfg.name}' has no flags{where}; add "
            f"environments.{env_cfg.name}.flags: {{kind: flagd, file: PATH}}"
        )
    if env_cfg.cluster is None:
        return Environment(
            name=env_cfg.name,
            traffic=None,
            metrics=None,
            store=None,
            description=env_cfg.name,
            flags=_flags_from_config(env_cfg.name, env_cfg.flags),
        )
    return open_environment(name, config)
