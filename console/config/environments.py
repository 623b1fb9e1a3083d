"""Open an environment's backends by name. Heavy backends are imported only when used.

Each backend package offers one factory:
- ``backends.local.connect(state_dir)`` -> Environment for a running demo (raises
  BackendUnavailable when none runs);
- ``backends.prometheus.from_config(metrics_cfg)`` -> MetricsBackend;
- ``backends.kubernetes.from_config(cluster_cfg, env_name)`` -> (TrafficBackend, StateStore).
"""

from __future__ import annotations

import importlib

from backends.base import Environment
from console.config.paths import demo_dir
from console.config.settings import DEMO, Config, ConfigError, load_config


def open_environment(name: str | None = None, config: Config | None = None) -> Environment:
    """Connect to the named environment (or the default). Raises ConfigError, BackendError."""
    config = config or load_config()
    env_cfg = config.environment(name)
    traffic = store = metrics = None
    extras: dict[str, object] = {}
    description = env_cfg.name
    cluster = dict(env_cfg.cluster or {})
    if env_cfg.name == DEMO or cluster.get("kind") == "demo":
        local = importlib.import_module("backends.local")
        env = local.connect(demo_dir())
        traffic, store, metrics, extras = env.traffic, env.store, env.metrics, env.extras
        description = env.description or "demo"
    elif cluster.get("kind") == "kubernetes":
        kube = importlib.import_module("backends.kubernetes")
        try:
            traffic, store = kube.from_config(cluster, env_cfg.name)
        except ValueError as exc:  # a cluster entry the backend rejects: the user's to fix
            raise ConfigError(f"environment '{env_cfg.name}': {exc}") from None
        description = f"kube {cluster.get('context') or 'current-context'} / {cluster.get('namespace') or 'default'}"
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
    )
