"""Open an environment's backends by name. Heavy backends are imported only when used.

This is the composition root: the one module that names concrete backends and wires them
together (the demo's metrics through Prometheus, a stopped demo's records read from disk).
Each backend package offers one factory:
- ``backends.local.connect(state_dir)`` -> Environment for a running demo with its own
  in-process metrics (raises BackendUnavailable when none runs);
- ``backends.prometheus.from_config(metrics_cfg)`` -> MetricsBackend;
- ``backends.kubernetes.from_config(cluster_cfg, env_name)`` -> (TrafficBackend, StateStore);
- ``backends.haproxy.from_config(cluster_cfg, env_name)`` -> TrafficBackend, with the file
  store of ``backends.local`` in ``stateDir`` (default ``<state_dir>/haproxy/<env name>``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from backends.base import BackendUnavailable, Environment
from console.config.paths import demo_dir, state_dir
from console.config.settings import DEMO, Config, ConfigError, load_config


def open_demo(state_dir: Path) -> Environment:
    """The running demo in ``state_dir``. A demo started with ``--metrics prometheus`` is read
    through PromQL, so every process (a second console, ``rollout auto``) sees the same data."""
    from console.config import demo_gateway

    local = importlib.import_module("backends.local")
    gateway = demo_gateway.read(state_dir)  # before connect: "starting" is retried
    env: Environment = local.connect(state_dir)
    if gateway is not None:  # rollout demo --gateway haproxy
        return _demo_on_haproxy(env, gateway)
    url = env.extras.get("prometheus_url")
    if url:
        prom = importlib.import_module("backends.prometheus")
        env.metrics = prom.from_config({"url": url, "provider": "http"})
        env.description = "demo (metrics: prometheus)"
    return env


def _demo_on_haproxy(env: Environment, gateway: dict[str, Any]) -> Environment:
    """The demo with HAProxy as its gateway: traffic through its Runtime API, metrics from
    its exporter through Prometheus; the control API (faults, load) and the store as ever."""
    haproxy = importlib.import_module("backends.haproxy")
    prom = importlib.import_module("backends.prometheus")
    env.traffic = haproxy.from_config({"runtime": gateway["runtime"]}, "demo")
    env.metrics = prom.from_config({"url": gateway["prometheus_url"], "provider": "haproxy"})
    env.description = "demo (gateway: haproxy)"
    env.extras.update(
        gateway_url=gateway["gateway_url"],
        metrics_url=gateway.get("exporter_url"),
        prometheus_url=gateway["prometheus_url"],
        gateway="haproxy",
    )
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
    extras: dict[str, object] = {}
    description = env_cfg.name
    cluster = dict(env_cfg.cluster or {})
    if env_cfg.name == DEMO or cluster.get("kind") == "demo":
        env = open_demo(demo_dir())
        traffic, store, metrics, extras = env.traffic, env.store, env.metrics, env.extras
        description = env.description or "demo"
    elif cluster.get("kind") == "kubernetes":
        kube = importlib.import_module("backends.kubernetes")
        try:
            traffic, store = kube.from_config(cluster, env_cfg.name)
        except ValueError as exc:  # a cluster entry the backend rejects: the user's to fix
            raise ConfigError(f"environment '{env_cfg.name}': {exc}") from None
        description = f"kube {cluster.get('context') or 'current-context'} / {cluster.get('namespace') or 'default'}"
    elif cluster.get("kind") == "haproxy":
        traffic, store = _open_haproxy(cluster, env_cfg.name)
        description = f"haproxy {cluster.get('runtime')}"
    metrics_cfg = dict(env_cfg.metrics or {})
    if metrics_cfg.get("kind") == "prometheus":
        prom = importlib.import_module("backends.prometheus")
        try:
            metrics = prom.from_config(metrics_cfg)
        except ValueError as exc:  # PrometheusConfigError names the bad field
            raise ConfigError(f"environment '{env_cfg.name}': {exc}") from None
    names = cluster.get("backends") if cluster.get("kind") == "haproxy" else None
    if metrics is not None and names and metrics_cfg.get("provider") == "haproxy":
        metrics = BackendNames(metrics, dict(names))
    return Environment(
        name=env_cfg.name,
        traffic=traffic,
        metrics=metrics,
        store=store,
        description=description,
        extras=extras,
    )


def _open_haproxy(cluster: dict[str, Any], env_name: str) -> tuple[Any, Any]:
    """HAProxy's traffic backend and the file store it keeps rollouts in: ``stateDir`` (a
    directory on the controller's host, or one shared by the operators), by default
    ``<XDG state>/rollout/haproxy/<environment>``."""
    haproxy = importlib.import_module("backends.haproxy")
    from backends.local.store import FileStateStore

    try:
        traffic = haproxy.from_config(cluster, env_name)
    except ValueError as exc:  # a cluster entry the backend rejects: the user's to fix
        raise ConfigError(f"environment '{env_name}': {exc}") from None
    where = cluster.get("stateDir")
    if where is not None and not isinstance(where, str):
        raise ConfigError(f"environment '{env_name}': cluster.stateDir: must be a directory path")
    directory = Path(where).expanduser() if where else state_dir() / "haproxy" / env_name
    try:
        store = FileStateStore(directory)
    except OSError as exc:
        raise ConfigError(
            f"environment '{env_name}': cluster.stateDir: cannot use {directory}: {exc}"
        ) from None
    return traffic, store


class BackendNames:
    """Metrics of an HAProxy environment whose services map to other backend names: the
    ``haproxy`` provider's service label is the backend (``proxy``), so each call asks for
    the mapped name. Everything else is the wrapped backend's."""

    def __init__(self, inner: Any, names: dict[str, str]) -> None:
        self.inner = inner
        self.names = names

    def sample(self, service: str, versions: Any, window: float) -> Any:
        return self.inner.sample(self.names.get(service, service), versions, window)

    def history(self, service: str, versions: Any, since: float, step: float) -> Any:
        return self.inner.history(self.names.get(service, service), versions, since, step)

    def query(self, service: str, versions: Any, template: str, window: float) -> Any:
        return self.inner.query(self.names.get(service, service), versions, template, window)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
