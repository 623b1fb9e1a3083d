"""A thin dict-in, dict-out layer over the official client's typed API classes.

Every call goes through the generated methods of ``kubernetes.client`` (so auth, TLS and
proxies are the client's) with ``_preload_content=False``: we read JSON ourselves, which
keeps objects as plain dicts (no model round trip that could drop fields of a CRD or a newer
server) and lets the watch loop handle 410 itself. Errors become the contract's errors
(``errors.translate``). ``calls`` counts requests by (verb, resource) for the docs' budget.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from backends.kubernetes.errors import Target, call_json, translate

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
TIMEOUT = (5.0, 20.0)  # connect, read seconds for ordinary requests


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str


DEPLOYMENTS = Kind("apps", "v1", "deployments", "Deployment")
REPLICASETS = Kind("apps", "v1", "replicasets", "ReplicaSet")
PODS = Kind("", "v1", "pods", "Pod")
SERVICES = Kind("", "v1", "services", "Service")
CONFIGMAPS = Kind("", "v1", "configmaps", "ConfigMap")
LEASES = Kind("coordination.k8s.io", "v1", "leases", "Lease")
GATEWAY_GROUP = "gateway.networking.k8s.io"


def httproutes(version: str = "v1") -> Kind:
    return Kind(GATEWAY_GROUP, version, "httproutes", "HTTPRoute")


class KubeApi:
    """Namespaced CRUD, list and watch on the kinds the backend uses."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        from kubernetes import client  # imported here: only Kubernetes environments pay for it

        self.client = api_client
        self.namespace = namespace
        self.server = str(getattr(api_client.configuration, "host", ""))
        self.calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._core = client.CoreV1Api(api_client)
        self._apps = client.AppsV1Api(api_client)
        self._coord = client.CoordinationV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)
        self._apis = client.ApisApi(api_client)
        self._ext = client.ApiextensionsV1Api(api_client)

    # ------------------------------------------------------------------ plumbing

    def _call(self, target: Target, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        with self._lock:
            self.calls[(target.verb, target.resource)] += 1
        kw.setdefault("_request_timeout", TIMEOUT)
        return call_json(target, self.server, fn, *args, **kw)

    def _method(self, kind: Kind, verb: str) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The generated method for ``verb`` on ``kind`` and its leading positional args."""
        ns = self.namespace
        if kind.group == GATEWAY_GROUP:
            name = {
                "get": "get_namespaced_custom_object",
                "list": "list_namespaced_custom_object",
                "create": "create_namespaced_custom_object",
                "update": "replace_namespaced_custom_object",
                "patch": "patch_namespaced_custom_object",
            }[verb]
            return getattr(self._custom, name), (kind.group, kind.version, ns, kind.plural)
        api = {"apps": self._apps, "": self._core, "coordination.k8s.io": self._coord}[kind.group]
        noun = {
            "deployments": "deployment",
            "replicasets": "replica_set",
            "pods": "pod",
            "services": "service",
            "configmaps": "config_map",
            "leases": "lease",
        }[kind.plural]
        prefix = {
            "get": "read",
            "list": "list",
            "create": "create",
            "update": "replace",
            "patch": "patch",
        }[verb]
        return getattr(api, f"{prefix}_namespaced_{noun}"), (ns,)

    def _target(self, verb: str, kind: Kind, name: str | None = None) -> Target:
        return Target(verb, kind.group, kind.plural, self.namespace, name, kind.kind)

    # ------------------------------------------------------------------ verbs

    def get(self, kind: Kind, name: str) -> dict[str, Any]:
        fn, lead = self._method(kind, "get")
        if kind.group == GATEWAY_GROUP:
            return self._call(self._target("get", kind, name), fn, *lead, name)
        return self._call(self._target("get", kind, name), fn, name, *lead)

    def list(self, kind: Kind, label_selector: str = "") -> dict[str, Any]:
        fn, lead = self._method(kind, "list")
        kw = {"label_selector": label_selector} if label_selector else {}
        return self._call(self._target("list", kind), fn, *lead, **kw)

    def create(self, kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
        fn, lead = self._method(kind, "create")
        name = body.get("metadata", {}).get("name")
        return self._call(self._target("create", kind, name), fn, *lead, body)

    def replace(self, kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
        """PUT; carries ``metadata.resourceVersion`` so a stale write answers 409."""
        fn, lead = self._method(kind, "update")
        name = body["metadata"]["name"]
        if kind.group == GATEWAY_GROUP:
            return self._call(self._target("update", kind, name), fn, *lead, name, body)
        return self._call(self._target("update", kind, name), fn, name, *lead, body)

    def patch(
        self, kind: Kind, name: str, body: Any, content_type: str = STRATEGIC
    ) -> dict[str, Any]:
        """PATCH; ``body`` is a list of operations for ``JSON_PATCH``."""
        fn, lead = self._method(kind, "patch")
        if kind.group == GATEWAY_GROUP and content_type == STRATEGIC:
            content_type = MERGE  # custom resources take no strategic merge
            return self._call(
                self._target("patch", kind, name), fn, *lead, name, body, _content_type=content_type
            )
        return self._call(
            self._target("patch", kind, name), fn, name, *lead, body, _content_type=content_type
        )

    def watch(
        self,
        kind: Kind,
        resource_version: str,
        label_selector: str,
        timeout: int,
        on_open: Callable[[Any], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stream watch events (dicts) from ``resource_version`` for ``timeout`` seconds.

        ``on_open`` gets the streaming response, so another thread can shut it down.
        """
        from kubernetes.watch.watch import iter_resp_lines

        fn, lead = self._method(kind, "list")
        kw: dict[str, Any] = {
            "watch": True,
            "resource_version": resource_version,
            "timeout_seconds": timeout,
            "allow_watch_bookmarks": True,
            "_request_timeout": (5.0, timeout + 15.0),
        }
        if label_selector:
            kw["label_selector"] = label_selector
        resp = self._call(self._target("watch", kind), fn, *lead, **kw)
        if on_open is not None:
            on_open(resp)
        try:
            for line in iter_resp_lines(resp):
                if line and line.strip():
                    yield json.loads(line)
        except Exception as exc:
            raise translate(exc, self._target("watch", kind), self.server) from exc
        finally:
            resp.close()
            resp.release_conn()

    # ------------------------------------------------------------------ discovery

    def gateway_version(self) -> str | None:
        """The served Gateway API version (``v1`` preferred), or None without the CRDs."""
        target = Target("get", "", "apis", None, None, "API discovery")
        with self._lock:
            self.calls[("get", "apis")] += 1
        try:
            groups = self._apis.get_api_versions(_request_timeout=TIMEOUT)
        except Exception as exc:
            raise translate(exc, target, self.server) from exc
        for group in groups.groups or []:
            if group.name == GATEWAY_GROUP:
                served = [v.version for v in group.versions or []]
                return "v1" if "v1" in served else (served[0] if served else None)
        return None

    def gateway_bundle_version(self) -> str | None:
        """The Gateway API release installed (CRD annotation), if we may read CRDs."""
        target = Target(
            "get",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
            f"httproutes.{GATEWAY_GROUP}",
            "CustomResourceDefinition",
        )
        with self._lock:
            self.calls[("get", "customresourcedefinitions")] += 1
        try:
            resp: Any = self._ext.read_custom_resource_definition(
                f"httproutes.{GATEWAY_GROUP}", _preload_content=False, _request_timeout=TIMEOUT
            )
            crd = json.loads(resp.data or b"{}")
        except Exception as exc:
            raise translate(exc, target, self.server) from exc
        annotations = crd.get("metadata", {}).get("annotations") or {}
        return annotations.get(f"{GATEWAY_GROUP}/bundle-version")
