"""Build an authenticated ``ApiClient`` the way kubectl users expect.

Order: an explicit ``kubeconfig`` path in the environment entry; else in-cluster config when
running in a pod (``KUBERNETES_SERVICE_HOST`` set and no ``KUBECONFIG``); else ``$KUBECONFIG``
or ``~/.kube/config``. ``context`` picks a kubeconfig context (default: current-context);
``namespace`` defaults to the context's namespace, the pod's namespace, then ``default``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import BackendUnavailable

SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class Connection:
    api_client: Any
    namespace: str
    context: str  # "in-cluster" when running in a pod


def connect(cluster_cfg: Mapping[str, Any], env_name: str) -> Connection:
    """An ApiClient for the environment. Raises BackendUnavailable naming what is wrong."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    path = cluster_cfg.get("kubeconfig")
    context = cluster_cfg.get("context")
    namespace = cluster_cfg.get("namespace")
    where = f"environment '{env_name}'"
    if not path and os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise BackendUnavailable(
                f"{where}: in-cluster config failed ({exc}); is a service account token mounted?"
            ) from None
        if not namespace and SA_NAMESPACE.exists():
            namespace = SA_NAMESPACE.read_text().strip()
        return Connection(client.ApiClient(configuration), namespace or "default", "in-cluster")
    file = str(Path(path).expanduser()) if path else None
    shown = file or os.environ.get("KUBECONFIG") or "~/.kube/config"
    try:
        contexts, current = config.list_kube_config_contexts(config_file=file)
    except (ConfigException, OSError) as exc:
        raise BackendUnavailable(
            f"{where}: cannot read kubeconfig {shown} ({exc}); set cluster.kubeconfig "
            "or KUBECONFIG to a readable file"
        ) from None
    names = [c["name"] for c in contexts or []]
    chosen = next((c for c in contexts or [] if c["name"] == context), None) if context else current
    if chosen is None:
        raise BackendUnavailable(
            f"{where}: context '{context}' is not in {shown}; known contexts: "
            f"{', '.join(names) or 'none'} (see `kubectl config get-contexts`)"
        )
    try:
        api_client = config.new_client_from_config(config_file=file, context=chosen["name"])
    except (ConfigException, OSError, ValueError) as exc:
        raise BackendUnavailable(
            f"{where}: kubeconfig {shown} context '{chosen['name']}': {exc}"
        ) from None
    namespace = namespace or (chosen.get("context") or {}).get("namespace") or "default"
    return Connection(api_client, str(namespace), str(chosen["name"]))
