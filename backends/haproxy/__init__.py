"""HAProxy backend: canary and blue/green on a fixed fleet through HAProxy's Runtime API.

Imported only when an environment has ``cluster: {kind: haproxy, ...}``. See docs/haproxy.md.

Environment entry keys: ``runtime`` (required: the stats socket's path, or ``host:port``),
``backends`` (service -> HAProxy backend name; default: the service's own name),
``versionPattern`` (regex whose first group, or group ``version``, is the version in a
server's name; default ``([^-]+)-.+``: ``v1-vm03`` is ``v1``), ``timeout`` (seconds per
Runtime API call, default 5). The state store is not here: the composition root gives these
environments the file store (``stateDir``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backends.haproxy.traffic import HAProxyTraffic

KEYS = ("kind", "runtime", "backends", "versionPattern", "timeout", "stateDir")


def from_config(cluster_cfg: Mapping[str, Any], env_name: str) -> HAProxyTraffic:
    """The traffic backend for one environment (no request is made yet). ValueError names a
    bad field."""
    from backends.haproxy.runtime import RuntimeClient, parse_address
    from backends.haproxy.traffic import HAProxyTraffic
    from backends.haproxy.weights import VersionRule

    unknown = [str(k) for k in cluster_cfg if k not in KEYS]
    if unknown:
        raise ValueError(f"cluster.{unknown[0]}: unknown; expected one of {', '.join(KEYS)}")
    runtime = cluster_cfg.get("runtime")
    if not isinstance(runtime, str) or not runtime.strip():
        raise ValueError(
            "cluster.runtime: required, the HAProxy stats socket's path or host:port "
            "(a 'stats socket ... level admin' line)"
        )
    address = parse_address(runtime)
    backends = cluster_cfg.get("backends") or {}
    if not isinstance(backends, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in backends.items()
    ):
        raise ValueError("cluster.backends: must map service names to HAProxy backend names")
    pattern = cluster_cfg.get("versionPattern")
    if pattern is not None and not isinstance(pattern, str):
        raise ValueError("cluster.versionPattern: must be a regex string")
    timeout = cluster_cfg.get("timeout", 5)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 120:
        raise ValueError("cluster.timeout: must be a number of seconds between 0 and 120")
    return HAProxyTraffic(
        RuntimeClient(address, float(timeout)),
        backends=dict(backends),
        rule=VersionRule(pattern),
        label=f"haproxy {env_name}",
    )
