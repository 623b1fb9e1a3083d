"""A small Kubernetes API server emulator for the backend's tests (HTTP on 127.0.0.1).

Why our own and not kmock's ``KubernetesEmulator``: kmock 0.8 keeps objects as blindly
merged dicts with no resourceVersion (lists answer ``'...'``), so there is no 409 on a stale
write; PUT is not served; a watch always replays every object and cannot resume from a
resourceVersion or answer 410; label selectors are ignored (test_kube_kmock_gaps.py). Its object-picking helpers
are name-mangled, so adding those means replacing every handler -- that *is* a new emulator.

What this one does: a generic object store keyed by (group, plural, namespace, name) with a
global resourceVersion; GET/LIST (label selectors), POST, PUT (409 on a stale
resourceVersion), PATCH (merge, strategic merge for the lists we patch, JSON patch),
DELETE; watch streaming with resume from a resourceVersion and 410 after ``compact()``;
discovery (``/api``, ``/apis``, ``/apis/<group>/<version>``); RBAC from a Role manifest (403
with the real server's message); injected failures (e.g. the next PUT answers 409).
Patches and selectors are in patch.py, the HTTP handler in http_handler.py. This file stays
one class over ~500 lines because the store, verbs, watch and discovery share one lock.
"""

from __future__ import annotations

import copy
import ssl
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any

from .http_handler import Handler
from .patch import ApiError, json_patch, match_labels, merge_patch, strategic_merge

GATEWAY = "gateway.networking.k8s.io"


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True


CORE = [
    Resource("", "v1", "pods", "Pod"),
    Resource("", "v1", "services", "Service"),
    Resource("", "v1", "configmaps", "ConfigMap"),
    Resource("", "v1", "namespaces", "Namespace", namespaced=False),
    Resource("apps", "v1", "deployments", "Deployment"),
    Resource("apps", "v1", "replicasets", "ReplicaSet"),
    Resource("coordination.k8s.io", "v1", "leases", "Lease"),
    Resource("", "v1", "events", "Event"),
    Resource(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
    ),
]
GATEWAY_RESOURCES = [
    Resource(GATEWAY, "v1", "httproutes", "HTTPRoute"),
    Resource(GATEWAY, "v1", "gateways", "Gateway"),
]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- errors


@dataclass
class Fault:
    verb: str
    plural: str
    name: str | None
    code: int
    count: int


@dataclass(frozen=True)
class LoggedRequest:
    at: float
    verb: str
    group: str
    plural: str
    namespace: str | None
    name: str | None
    content_type: str = ""
    subresource: str | None = None  # "status" for /status
    body: Any = None  # the request's JSON body (patches, creates)
    query: dict[str, str] | None = None


# --------------------------------------------------------------------------- the server


class Emulator:
    """The state and behaviour; ``start()`` serves it on 127.0.0.1:<free port>."""

    def __init__(
        self,
        *,
        gateway_api: bool = True,
        gateway_bundle: str = "v1.3.0",
        tls: tuple[str, str] | None = None,
    ) -> None:
        # (certificate, key) files: serve HTTPS, as a real API server does (in-cluster
        # config only speaks HTTPS); the certificate is then the kubeconfig's CA too
        self.tls = tls
        self.resources: dict[tuple[str, str], Resource] = {}
        for res in CORE + (GATEWAY_RESOURCES if gateway_api else []):
            self.resources[(res.group, res.plural)] = res
        self.objects: dict[tuple[str, str, str | None, str], dict[str, Any]] = {}
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 100
        # (rv, group, plural, type, object) -- resumable watch history, bounded
        self.history: deque[tuple[int, str, str, str, dict[str, Any]]] = deque(maxlen=5000)
        self.compacted_rv = 0
        self.faults: list[Fault] = []
        self.requests: list[LoggedRequest] = []
        self.rules: list[dict[str, Any]] | None = None  # None: allow everything
        # (group, plural) of custom resources whose CRD enables the status subresource:
        # writes to the object keep its status, writes to /status keep everything else
        self.status_subresources: set[tuple[str, str]] = set()
        # custom checks on a write (group, plural) -> fn(new object) raising ApiError (422)
        self.validators: dict[tuple[str, str], Any] = {}
        self.user = "system:serviceaccount:lms:rollout"
        self.prune_mirror_percent = False  # pretend the HTTPRoute CRD predates v1.2
        self.closing = False
        self.watch_epoch = 0  # bumped by drop_watches(): open watch streams end
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if gateway_api:
            self.put(
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                {
                    "metadata": {
                        "name": f"httproutes.{GATEWAY}",
                        "annotations": {f"{GATEWAY}/bundle-version": gateway_bundle},
                    },
                    "spec": {"group": GATEWAY, "names": {"plural": "httproutes"}},
                },
            )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Serve on a free loopback port; return the base URL."""
        emulator = self

        class Bound(Handler):
            emu = emulator

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Bound)
        self._server.daemon_threads = True
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        with self.lock:
            self.closing = True
            self.changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------ test helpers

    def kubeconfig(self, namespace: str = "lms", context: str = "emu") -> dict[str, Any]:
        """A kubeconfig dict pointing at this emulator."""
        cluster: dict[str, Any] = {"server": self.url}
        if self.tls is not None:
            cluster["certificate-authority"] = self.tls[0]
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emu", "cluster": cluster}],
            "users": [{"name": "emu", "user": {"token": "test-token"}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": "emu", "user": "emu", "namespace": namespace},
                }
            ],
            "current-context": context,
        }

    def fail_next(
        self, verb: str, plural: str, *, name: str | None = None, code: int = 409, count: int = 1
    ) -> None:
        """Make the next ``count`` matching requests fail with ``code``."""
        with self.lock:
            self.faults.append(Fault(verb, plural, name, code, count))

    def compact(self) -> None:
        """Forget the watch history: watches resuming from older versions get 410 Gone."""
        with self.lock:
            self.history.clear()
            self.compacted_rv = self.rv

    def drop_watches(self) -> None:
        """End every open watch stream (as an API server restart or a load balancer would)."""
        with self.lock:
            self.watch_epoch += 1
            self.changed.notify_all()

    def use_role(self, role: dict[str, Any]) -> None:
        """Enforce a Role manifest's rules (403 for anything else)."""
        self.rules = list(role.get("rules") or [])

    def calls(self, since: float = 0.0) -> list[LoggedRequest]:
        with self.lock:
            return [r for r in self.requests if r.at >= since]

    def get(self, group: str, plural: str, namespace: str | None, name: str) -> dict | None:
        with self.lock:
            obj = self.objects.get((group, plural, namespace, name))
            return copy.deepcopy(obj) if obj else None

    def list(self, group: str, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                copy.deepcopy(o)
                for (g, p, ns, _), o in sorted(self.objects.items(), key=lambda kv: kv[0][3])
                if g == group and p == plural and ns == namespace
            ]

    def put(
        self, group: str, plural: str, obj: dict[str, Any], namespace: str | None = None
    ) -> dict:
        """Create or overwrite an object directly (the simulated controllers use this)."""
        res = self.resources[(group, plural)]
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        ns = (namespace or meta.get("namespace") or "default") if res.namespaced else None
        with self.lock:
            key = (group, plural, ns, meta["name"])
            old = self.objects.get(key)
            self._stamp(res, obj, ns, old)
            self.objects[key] = obj
            self._emit(group, plural, "MODIFIED" if old else "ADDED", obj)
            return copy.deepcopy(obj)

    def delete(self, group: str, plural: str, namespace: str | None, name: str) -> None:
        with self.lock:
            obj = self.objects.pop((group, plural, namespace, name), None)
            if obj is not None:
                self.rv += 1
                obj["metadata"]["resourceVersion"] = str(self.rv)
                self._emit(group, plural, "DELETED", obj, bump=False)

    # ------------------------------------------------------------------ internals

    def _stamp(
        self, res: Resource, obj: dict[str, Any], ns: str | None, old: dict[str, Any] | None
    ) -> None:
        meta = obj["metadata"]
        obj["apiVersion"] = f"{res.group}/{res.version}" if res.group else res.version
        obj["kind"] = res.kind
        if ns is not None:
            meta["namespace"] = ns
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        if old is None:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_iso()
            meta["generation"] = 1
        else:
            meta["uid"] = old["metadata"]["uid"]
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            gen = old["metadata"].get("generation", 1)
            meta["generation"] = gen + 1 if obj.get("spec") != old.get("spec") else gen
            if "status" not in obj and "status" in old and res.plural != "configmaps":
                obj["status"] = old["status"]

    def _emit(self, group: str, plural: str, kind: str, obj: dict, bump: bool = True) -> None:
        del bump
        self.history.append(
            (int(obj["metadata"]["resourceVersion"]), group, plural, kind, copy.deepcopy(obj))
        )
        self.changed.notify_all()

    def _take_fault(self, verb: str, plural: str, name: str | None) -> int | None:
        with self.lock:
            for fault in self.faults:
                if fault.verb == verb and fault.plural == plural and fault.name in (None, name):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault.code
        return None

    def _authorize(
        self, verb: str, res: Resource, ns: str | None, name: str | None, sub: str | None = None
    ) -> None:
        if self.rules is None:
            return
        plural = f"{res.plural}/{sub}" if sub else res.plural
        for rule in self.rules:
            groups, resources, verbs = (
                rule.get("apiGroups", []),
                rule.get("resources", []),
                rule.get("verbs", []),
            )
            names = rule.get("resourceNames") or []
            if (
                (res.group in groups or "*" in groups)
                and (plural in resources or "*" in resources)
                and (verb in verbs or "*" in verbs)
                and (not names or name in names)
            ):
                return
        where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
        subject = f'{res.plural} "{name}"' if name else res.plural
        also = f' (subresource "{sub}")' if sub else ""
        raise ApiError(
            403,
            "Forbidden",
            f'{subject} is forbidden: User "{self.user}" cannot {verb} resource '
            f'"{res.plural}"{also} in API group "{res.group}"{where}',
            {"name": name or "", "group": res.group, "kind": res.plural},
        )

    # ------------------------------------------------------------------ verbs

    def handle(
        self, method: str, path: str, query: dict[str, str], body: Any, ctype: str
    ) -> tuple[int, Any]:
        """Serve one non-watch request; returns (status, json body)."""
        if path in ("/api", "/apis", "/version") or self._discovery_path(path):
            return 200, self._discovery(path)
        res, ns, name, sub = self._route(path)
        verb = {
            "GET": "get" if name else "list",
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete",
        }[method]
        with self.lock:
            self.requests.append(
                LoggedRequest(
                    time.time(), verb, res.group, res.plural, ns, name, ctype, sub,
                    copy.deepcopy(body), dict(query),
                )
            )  # fmt: skip
        self._authorize(verb, res, ns, name, sub)
        code = self._take_fault(verb, res.plural, name)
        if code is not None:
            raise ApiError(code, "Conflict" if code == 409 else "InternalError", "injected fault")
        has_status = (res.group, res.plural) in self.status_subresources
        if sub is not None and (sub != "status" or not has_status or method == "POST"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        with self.lock:
            if verb == "list":
                return 200, self._list(res, ns, query.get("labelSelector", ""))
            if verb == "create":
                return 201, self._create(res, ns, body)
            assert name is not None
            key = (res.group, res.plural, ns, name)
            current = self.objects.get(key)
            if current is None:
                raise ApiError(
                    404,
                    "NotFound",
                    f'{res.plural}.{res.group or "core"} "{name}" not found'.replace(".core", ""),
                    {"name": name, "group": res.group, "kind": res.plural},
                )
            if verb == "get":
                return 200, copy.deepcopy(current)
            if verb == "delete":
                self.delete(res.group, res.plural, ns, name)
                return 200, {"kind": "Status", "status": "Success"}
            if verb == "update":
                new = copy.deepcopy(body)
            elif "strategic" in ctype:
                new = strategic_merge(current, body)
            elif "merge-patch" in ctype:
                new = merge_patch(current, body)
            elif "json-patch" in ctype:
                new = json_patch(current, body)
                body = {}
            else:
                raise ApiError(415, "UnsupportedMediaType", f"patch type {ctype} not supported")
            want_rv = (body.get("metadata") or {}).get("resourceVersion")
            if want_rv and want_rv != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {res.plural} "{name}": the object has '
                    "been modified; please apply your changes to the latest version and try again",
                    {"name": name, "group": res.group, "kind": res.plural},
                )
            new.setdefault("metadata", {})["name"] = name
            if has_status:  # the status subresource splits who may write what
                if sub == "status":
                    new = {**copy.deepcopy(current), "status": new.get("status")}
                elif "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
                else:
                    new.pop("status", None)
                if new.get("status") is None:
                    new.pop("status", None)
            check = self.validators.get((res.group, res.plural))
            if check is not None:
                check(new)
            self._prune(res, new)
            self._stamp(res, new, ns, current)
            self.objects[key] = new
            self._emit(res.group, res.plural, "MODIFIED", new)
            return 200, copy.deepcopy(new)

    def _prune(self, res: Resource, obj: dict[str, Any]) -> None:
        if res.plural != "httproutes" or not self.prune_mirror_percent:
            return
        for rule in (obj.get("spec") or {}).get("rules") or []:
            for flt in rule.get("filters") or []:
                mirror = flt.get("requestMirror") or {}
                mirror.pop("percent", None)
                mirror.pop("fraction", None)

    def _create(self, res: Resource, ns: str | None, body: dict[str, Any]) -> dict:
        body = copy.deepcopy(body)
        meta = body.setdefault("metadata", {})
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", "metadata.name: Required value")
        key = (res.group, res.plural, ns, name)
        if key in self.objects:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{res.plural} "{name}" already exists',
                {"name": name, "group": res.group, "kind": res.plural},
            )
        self._prune(res, body)
        self._stamp(res, body, ns, None)
        self.objects[key] = body
        self._emit(res.group, res.plural, "ADDED", body)
        return copy.deepcopy(body)

    def _list(self, res: Resource, ns: str | None, selector: str) -> dict[str, Any]:
        items = [
            copy.deepcopy(o)
            for (g, p, n, _), o in self.objects.items()
            if g == res.group
            and p == res.plural
            and (ns is None or n == ns)
            and match_labels(selector, o["metadata"].get("labels") or {})
        ]
        return {
            "apiVersion": f"{res.group}/{res.version}" if res.group else res.version,
            "kind": f"{res.kind}List",
            "metadata": {"resourceVersion": str(self.rv)},
            "items": items,
        }

    def watch_events(
        self, res: Resource, ns: str | None, selector: str, rv: str | None, timeout: float
    ):
        """Yield watch events (dicts) until ``timeout`` or shutdown."""
        deadline = time.monotonic() + timeout
        epoch = self.watch_epoch
        initial: list[dict[str, Any]] = []
        with self.lock:
            if not rv or rv == "0":
                start = self.rv
                initial = self._list(res, ns, selector)["items"]
            else:
                start = int(rv)
                expired = start < self.compacted_rv
                compacted = self.compacted_rv
        if not rv or rv == "0":
            for obj in initial:
                yield {"type": "ADDED", "object": obj}
        elif expired:
            yield {
                "type": "ERROR",
                "object": ApiError(
                    410, "Expired", f"too old resource version: {start} ({compacted})"
                ).status(),
            }
            return
        last = start
        while not self.closing and epoch == self.watch_epoch:
            with self.lock:
                pending = [
                    (v, kind, obj)
                    for v, g, p, kind, obj in self.history
                    if v > last and g == res.group and p == res.plural
                ]
                if not pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self.closing or epoch != self.watch_epoch:
                        return
                    self.changed.wait(timeout=min(remaining, 0.5))
                    continue
            for v, kind, obj in pending:
                last = max(last, v)
                meta = obj["metadata"]
                if ns is not None and meta.get("namespace") != ns:
                    continue
                if not match_labels(selector, meta.get("labels") or {}):
                    continue
                yield {"type": kind, "object": obj}

    def authorize_watch(self, path: str) -> tuple[Resource, str | None]:
        res, ns, name, _ = self._route(path)
        with self.lock:
            self.requests.append(
                LoggedRequest(time.time(), "watch", res.group, res.plural, ns, name)
            )
        self._authorize("watch", res, ns, None)
        code = self._take_fault("watch", res.plural, None)
        if code is not None:
            raise ApiError(code, "Expired" if code == 410 else "InternalError", "injected fault")
        return res, ns

    # ------------------------------------------------------------------ routing and discovery

    def _route(self, path: str) -> tuple[Resource, str | None, str | None, str | None]:
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) >= 3:
            group, rest = "", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, rest = parts[1], parts[3:]
        else:
            raise ApiError(
                404, "NotFound", f"the server could not find the requested resource ({path})"
            )
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        res = self.resources.get((group, rest[0]))
        if res is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        return res, ns, name, sub

    def _discovery_path(self, path: str) -> bool:
        parts = [p for p in path.split("/") if p]
        return (parts[:1] == ["api"] and len(parts) == 2) or (
            parts[:1] == ["apis"] and len(parts) in (2, 3)
        )

    def _groups(self) -> dict[str, set[str]]:
        groups: dict[str, set[str]] = {}
        for res in self.resources.values():
            if res.group:
                groups.setdefault(res.group, set()).add(res.version)
        return groups

    def _discovery(self, path: str) -> dict[str, Any]:
        parts = [p for p in path.split("/") if p]
        if parts == ["version"]:
            return {"major": "1", "minor": "31", "gitVersion": "v1.31.0-emulator"}
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"]}

        def group_doc(name: str, versions: set[str]) -> dict[str, Any]:
            vs = [{"groupVersion": f"{name}/{v}", "version": v} for v in sorted(versions)]
            return {"kind": "APIGroup", "name": name, "versions": vs, "preferredVersion": vs[-1]}

        groups = self._groups()
        if parts == ["apis"]:
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [group_doc(g, v) for g, v in sorted(groups.items())],
            }
        if len(parts) == 2 and parts[0] == "apis":
            if parts[1] not in groups:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return group_doc(parts[1], groups[parts[1]])
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        found = [r for r in self.resources.values() if r.group == group and r.version == version]
        if not found:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return {
            "kind": "APIResourceList",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [
                {
                    "name": r.plural,
                    "kind": r.kind,
                    "namespaced": r.namespaced,
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                }
                for r in found
            ],
        }
