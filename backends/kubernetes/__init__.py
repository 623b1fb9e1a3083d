"""Kubernetes backend: canary, blue/green and rolling on a cluster's API.

Imported only when an environment has ``cluster: {kind: kubernetes, ...}``; nothing here
imports the ``kubernetes`` package until ``from_config`` is called. See docs/kubernetes.md.

Environment entry keys: ``context``, ``namespace``, ``kubeconfig`` (all optional), and the
rarely needed ``gatewayApiVersion`` (skip discovery), ``mirrorField`` (``percent`` or
``fraction``), ``watchTimeout`` (seconds each watch request lives, default 300). With
``controller: flagger``: ``flaggerProvider`` (Flagger's ``-mesh-provider``, default
``istio``), the provider of the built-in metrics of a Canary without ``spec.provider``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backends.kubernetes.store import ConfigMapStore
    from backends.kubernetes.traffic import KubernetesTraffic


def from_config(
    cluster_cfg: Mapping[str, Any], env_name: str
) -> tuple[KubernetesTraffic, ConfigMapStore]:
    """The traffic backend and state store for one environment (no request is made yet)."""
    from backends.kubernetes.api import KubeApi
    from backends.kubernetes.connection import connect
    from backends.kubernetes.store import ConfigMapStore
    from backends.kubernetes.traffic import KubernetesTraffic

    conn = connect(cluster_cfg, env_name)
    api = KubeApi(conn.api_client, conn.namespace)
    watch_timeout = int(cluster_cfg.get("watchTimeout") or 300)
    store = ConfigMapStore(api, watch_timeout=watch_timeout)

    traffic = KubernetesTraffic(
        api,
        context=conn.context,
        gateway_version=cluster_cfg.get("gatewayApiVersion"),
        mirror_field=cluster_cfg.get("mirrorField"),
        watch_timeout=watch_timeout,
        record_hint=store.load,
    )
    return traffic, store


def argo_from_config(cluster_cfg: Mapping[str, Any], env_name: str, *, detect: bool) -> Any:
    """The Argo Rollouts of the environment's namespace (``backends.base.ForeignController``;
    argo.py). ``detect``: list nothing unless the API server serves argoproj.io."""
    from backends.kubernetes.argo import ArgoRollouts
    from backends.kubernetes.connection import connect

    conn = connect(cluster_cfg, env_name)
    return ArgoRollouts(conn.api_client, conn.namespace, detect=detect)


def flagger_from_config(cluster_cfg: Mapping[str, Any], env_name: str) -> Any:
    """The Flagger Canaries of the environment's namespace (``backends.base.ForeignController``;
    flagger.py): read through the API, verbs through the gate state ``rollout gate`` serves.
    ``flaggerProvider``: Flagger's ``-mesh-provider`` (ValueError unless a non-empty string)."""
    from backends.kubernetes.connection import connect
    from backends.kubernetes.flagger import FlaggerCanaries
    from backends.kubernetes.flagger_builtins import DEFAULT_PROVIDER

    provider = cluster_cfg.get("flaggerProvider", DEFAULT_PROVIDER)
    if not isinstance(provider, str) or not provider.strip():
        raise ValueError(
            "cluster.flaggerProvider must be the name of Flagger's mesh provider "
            f"(its -mesh-provider flag, e.g. istio, linkerd, nginx), got {provider!r}"
        )
    conn = connect(cluster_cfg, env_name)
    return FlaggerCanaries(conn.api_client, conn.namespace, mesh_provider=provider.strip())


def gate_server(
    cluster_cfg: Mapping[str, Any],
    env_name: str,
    *,
    listen: str,
    port: int,
    log: Any = None,
) -> Any:
    """The HTTP endpoints of Flagger's gate webhooks for the environment's namespace
    (flagger_gate.py ``GateServer``, not started)."""
    from backends.kubernetes.connection import connect
    from backends.kubernetes.flagger import KubeCalls
    from backends.kubernetes.flagger_gate import GateServer

    conn = connect(cluster_cfg, env_name)
    return GateServer(KubeCalls(conn.api_client, conn.namespace), listen=listen, port=port, log=log)
