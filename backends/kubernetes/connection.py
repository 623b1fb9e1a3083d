"""Build an authenticated ``ApiClient`` the way kubectl users expect.

Order: an explicit ``kubeconfig`` path in the environment entry (or ``--kubeconfig``); else
in-cluster config when running in a pod (``KUBERNETES_SERVICE_HOST`` set and no
``KUBECONFIG``); else ``$KUBECONFIG`` or ``~/.kube/config``. ``KUBECONFIG`` may list several
files separated by ``:`` as kubectl reads it: missing ones are skipped, the first file to
define a context (cluster, user) wins, and so does the first ``current-context``. ``context``
picks a kubeconfig context (default: current-context); ``namespace`` defaults to the
context's namespace, the pod's namespace, then ``default``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from backends.base import BackendUnavailable

SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class KubeconfigError(BackendUnavailable):
    """The kubeconfig cannot be read or lacks the context asked for: the user's to fix
    (the composition root reports it as a configuration error, exit 2)."""


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
    file, shown = _kubeconfig_files(path, where)
    try:
        contexts, _ = config.list_kube_config_contexts(config_file=file)
    except (ConfigException, OSError, yaml.YAMLError) as exc:
        raise KubeconfigError(
            f"{where}: cannot read kubeconfig {shown} ({exc}); set cluster.kubeconfig, "
            "--kubeconfig or KUBECONFIG to a readable file"
        ) from None
    names = [c["name"] for c in contexts or []]
    # The client lets the last file's current-context win; kubectl takes the first one set.
    wanted = context or _current_context(file)
    chosen = next((c for c in contexts or [] if c["name"] == wanted), None)
    if chosen is None:
        what = f"context '{wanted}' is not in" if wanted else "no current-context in"
        raise KubeconfigError(
            f"{where}: {what} {shown}; known contexts: "
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


def _kubeconfig_files(path: str | None, where: str) -> tuple[str, str]:
    """The client's ``config_file`` argument (one path, or ``:``-separated ones, read at
    call time rather than when the client was imported) and how to name it in messages."""
    if path:
        file = str(Path(path).expanduser())
        if not os.access(file, os.R_OK):
            reason = "no such file" if not os.path.exists(file) else "not readable"
            raise KubeconfigError(
                f"{where}: cannot read kubeconfig {file} ({reason}); set cluster.kubeconfig, "
                "--kubeconfig or KUBECONFIG to a readable file"
            )
        return file, file
    listed = os.environ.get("KUBECONFIG") or ""
    if listed.strip(os.pathsep):
        return listed, listed
    return str(Path("~/.kube/config").expanduser()), "~/.kube/config"


def _current_context(files: str) -> str | None:
    """kubectl's rule: the first file in the list that sets current-context decides."""
    for name in files.split(os.pathsep):
        try:
            with open(os.path.expanduser(name), encoding="utf-8") as f:
                doc = yaml.safe_load(f)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        current = doc.get("current-context") if isinstance(doc, dict) else None
        if current:
            return str(current)
    return None
