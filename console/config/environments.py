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
- ``backends.kubernetes.argo_from_config(cluster_cfg, env_name, detect=...)`` -> the
  ForeignController for Argo Rollouts (``cluster.controller``, below);
- ``backends.kubernetes.flagger_from_config(cluster_cfg, env_name)`` -> the one for Flagger
  (``controller: flagger``), ``gate_server(...)`` its gate webhooks (``rollout gate``).
- ``backends.flagd.from_config(flags_cfg)`` -> FlagBackend (the demo's: its state directory's
  ``flags.json``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backends.base import (
    BackendError,
    BackendUnavailable,
    Environment,
    FlagBackend,
    ForeignController,
)
from console.config.kubeflags import KubeFlags, current, resolve
from console.config.paths import demo_dir, state_dir
from console.config.settings import DEMO, Config, ConfigError, load_config


def open_demo(state_dir: Path) -> Environment:
    """The running demo in ``state_dir``. A demo started with ``--metrics prometheus`` is read
    through PromQL, so every process (a second console, ``rollout auto``) sees the same data."""
    from console.config import demo_gateway

    local = importlib.import_module("backends.local")
    gateway = demo_gateway.read(state_dir)  # before connect: "starting" is retried
    env: Environment = local.connect(state_dir)
    env.flags = demo_flags(state_dir)
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


def open_for_reading(name: str | None, kube: KubeFlags | None = None) -> tuple[Environment, str]:
    """The environment for read-only commands (status, history), and a note for the user.

    When the demo is not running its rollout records are still on disk: read them from
    there rather than failing, and say that the live traffic is unknown.
    """
    from backends.local.store import FileStateStore

    config = load_config()
    kube = kube or current()
    try:
        return open_environment(name, config, kube=kube), ""
    except BackendUnavailable as exc:
        records = demo_dir() / "rollouts"
        if resolve(config, name, kube).name != DEMO or not records.is_dir():
            raise
        env = Environment(
            name=DEMO,
            traffic=None,
            metrics=None,
            store=FileStateStore(records),
            description="demo (not running)",
        )
        return env, f"{exc}; showing the recorded state only"


def open_environment(
    name: str | None = None, config: Config | None = None, *, kube: KubeFlags | None = None
) -> Environment:
    """Connect to the named environment (or the default), with kubectl's flags over its
    cluster entry (console/config/kubeflags.py). Raises ConfigError, BackendError."""
    config = config or load_config()
    env_cfg = resolve(config, name, kube or current())
    traffic = store = metrics = None
    foreign: ForeignController | None = None
    flags: FlagBackend | None = None
    extras: dict[str, object] = {}
    description = env_cfg.name
    cluster = dict(env_cfg.cluster or {})
    if env_cfg.name == DEMO or cluster.get("kind") == "demo":
        env = open_demo(demo_dir())
        traffic, store, metrics, extras = env.traffic, env.store, env.metrics, env.extras
        flags = env.flags
        description = env.description or "demo"
    elif cluster.get("kind") == "kubernetes" and cluster.get("controller") not in (None, "none"):
        foreign = open_foreign(env_cfg.name, cluster)
        where = f"{cluster.get('context') or 'current-context'} / {cluster.get('namespace') or 'default'}"
        description = f"{foreign.name} {where}"
    elif cluster.get("kind") == "kubernetes":
        backend = importlib.import_module("backends.kubernetes")
        from backends.kubernetes.connection import KubeconfigError

        try:
            if cluster.get("controller") is None:  # detection; "none" turns it off
                foreign = backend.argo_from_config(cluster, env_cfg.name, detect=True)
            traffic, store = backend.from_config(cluster, env_cfg.name)
        except KubeconfigError as exc:  # no such file or context: the user's to fix
            raise ConfigError(str(exc)) from None
        except ValueError as exc:  # a cluster entry the backend rejects: the user's to fix
            raise ConfigError(f"environment '{env_cfg.name}': {exc}") from None
        description = f"kube {cluster.get('context') or 'current-context'} / {cluster.get('namespace') or 'default'}"
    elif cluster.get("kind") == "haproxy":
        traffic, store = _open_haproxy(cluster, env_cfg.name)
        description = f"haproxy {cluster.get('runtime')}"
    if env_cfg.flags:
        flags = _flags_from_config(env_cfg.name, env_cfg.flags)
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
    if foreign is not None:
        extras["prometheus_range"] = prometheus_range(metrics)
    return Environment(
        name=env_cfg.name,
        traffic=traffic,
        metrics=metrics,
        store=store,
        description=description,
        extras=extras,
        foreign=foreign,
        flags=flags,
    )


def prometheus_range(metrics: object) -> Callable[[str], RangeQuery | None]:
    """For a foreign controller's analysis charts: ``factory(address)`` gives a function
    ``(query, start, end, step) -> [(time, value)]`` (the first series) on the environment's
    Prometheus when it has one, else on the analysis' own ``address``; None without either."""
    clients: dict[str, object] = {}
    answers: dict[str, tuple[float, list[tuple[float, float | None]]]] = {}

    def factory(address: str) -> RangeQuery | None:
        client = getattr(metrics, "client", None)  # the environment's Prometheus wins
        if client is None and address:
            if address not in clients:
                prom = importlib.import_module("backends.prometheus")
                try:
                    clients[address] = prom.from_config({"url": address, "provider": "http"}).client
                except ValueError:
                    return None
            client = clients[address]
        if client is None or not hasattr(client, "range"):
            return None
        from backends.prometheus.client import values

        def run(
            query: str, start: float, end: float, step: float
        ) -> list[tuple[float, float | None]]:
            # The console polls every second: ask again only once a new step has passed.
            # An address that does not answer (often an in-cluster name, from a laptop) is
            # asked again after a minute, and meanwhile the chart shows the measurements.
            kept = answers.get(query)
            if kept is not None and end < kept[0]:
                return kept[1]
            try:
                result = client.range(query, start, end, step)
            except BackendError:
                answers[query] = (end + 60.0, [])
                return []
            points = values(result[0]) if result else []
            answers[query] = (end + step, points)
            return points

        return run

    return factory


RangeQuery = Callable[[str, float, float, float], list[tuple[float, float | None]]]


# ``cluster.controller``: who drives the rollouts of a Kubernetes environment.
FOREIGN_CONTROLLERS = ("argo-rollouts", "flagger")


def open_foreign(env_name: str, cluster: dict[str, object]) -> ForeignController:
    """The environment's foreign controller (``controller: argo-rollouts`` or ``flagger``): every rollout
    there is the controller's, so no traffic backend or store of ours is opened."""
    kind = cluster.get("controller")
    from backends.kubernetes.connection import KubeconfigError

    if isinstance(kind, list) and kind and len(set(map(str, kind))) == len(kind):
        # both controllers in one namespace: `controller: [argo-rollouts, flagger]`
        from console.driver.foreign_many import ForeignControllers

        return ForeignControllers(
            [open_foreign(env_name, {**cluster, "controller": k}) for k in kind]
        )
    if kind == "argo-rollouts":
        kube = importlib.import_module("backends.kubernetes")
        try:
            return kube.argo_from_config(cluster, env_name, detect=False)
        except KubeconfigError as exc:  # no such file or context: the user's to fix
            raise ConfigError(str(exc)) from None
        except ValueError as exc:
            raise ConfigError(f"environment '{env_name}': {exc}") from None
    if kind == "flagger":  # Flagger's Canaries; verbs through `rollout gate` (docs/flagger.md)
        kube = importlib.import_module("backends.kubernetes")
        try:
            return kube.flagger_from_config(cluster, env_name)
        except KubeconfigError as exc:
            raise ConfigError(str(exc)) from None
        except ValueError as exc:  # cluster.flaggerProvider not a provider name
            raise ConfigError(f"environment '{env_name}': {exc}") from None
    raise ConfigError(
        f"environment '{env_name}': cluster.controller must be one of "
        f"{', '.join(FOREIGN_CONTROLLERS)}, a list of them, or none (rollout drives), "
        f"got {kind!r}"
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


def open_gate(
    name: str | None, *, listen: str, port: int, log: Callable[[dict[str, Any]], None]
) -> Any:
    """The gate webhooks for Flagger (``rollout gate``) on the environment's cluster: its
    context and namespace, kubectl's flags applied. Not started. Raises ConfigError (no
    Kubernetes cluster, a bad kubeconfig or context), BackendError, OSError (address in use)."""
    config = load_config()
    env_cfg = resolve(config, name, current())
    cluster = dict(env_cfg.cluster or {})
    if cluster.get("kind") != "kubernetes":
        raise ConfigError(
            f"environment '{env_cfg.name}' has no Kubernetes cluster: the gate serves the "
            "Canaries of a cluster's namespace; pass --env with one, or --context/-n"
        )
    kube = importlib.import_module("backends.kubernetes")
    from backends.kubernetes.connection import KubeconfigError

    try:
        return kube.gate_server(cluster, env_cfg.name, listen=listen, port=port, log=log)
    except KubeconfigError as exc:
        raise ConfigError(str(exc)) from None


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
