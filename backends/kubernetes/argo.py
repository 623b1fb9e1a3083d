"""Argo Rollouts as a foreign controller: read its Rollouts, send its plugin's verbs.

``ArgoRollouts`` implements ``backends.base.ForeignController``. Reads: Rollouts,
AnalysisRuns (argoproj.io/v1alpha1, namespaced), the AnalysisTemplates and
ClusterAnalysisTemplates a Rollout refers to, and ReplicaSets (images and ``undo``).
Verbs send exactly the requests of ``kubectl argo rollouts`` (argo_patches.py has the bodies):

- promote:       PATCH merge on ``status`` (when the plugin makes a status patch), then PATCH
                 merge on the Rollout (when it is ``spec.paused``); a 404 on the status
                 subresource sends the unified patch on the Rollout instead, as the plugin does
- promote --full: same, with ``{"status":{"promoteFull":true}}``
- pause:         PATCH merge ``{"spec":{"paused":true}}``
- abort / retry: PATCH merge ``{"status":{"abort":true|false}}`` on ``status`` (404 -> Rollout)
- undo:          GET the Rollout, LIST ReplicaSets by its selector, PATCH JSON
                 ``replace /spec/template`` with the previous revision's template

Who did it: each verb creates a core/v1 Event on the Rollout (reason ``RolloutConsole``,
action the verb, reportingController ``rollout-console``, message ``promote by
alice@laptop: why``); ``history`` reads them back with the Argo controller's own Events on
that Rollout. docs/argo-rollouts.md.

Detection (``detect=True``): the API group is looked up once (discovery, cached for a
minute); without it the controller lists nothing, so environments without Argo pay one
discovery request a minute and nothing else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from backends.base import (
    AuditEntry,
    BackendError,
    ConflictError,
    Forbidden,
    ForeignRollout,
    NotFound,
    Unsupported,
)
from backends.kubernetes import argo_parse as parse
from backends.kubernetes import argo_patches as patches
from backends.kubernetes import console_events as events
from backends.kubernetes.errors import Target, call_json, translate

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
TIMEOUT = (5.0, 20.0)
VERBS = frozenset({"promote", "promote-full", "pause", "abort", "retry", "undo"})
DETECT_TTL = 60.0


class ArgoRollouts:
    """The Argo Rollouts of one namespace, through the API server."""

    name = parse.CONTROLLER
    verbs = VERBS

    def __init__(
        self,
        api_client: Any,
        namespace: str,
        *,
        detect: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from kubernetes import client  # only Kubernetes environments pay for the import

        self.namespace = namespace
        self.detect = detect
        self.server = str(getattr(api_client.configuration, "host", ""))
        self._client = api_client
        self._custom = client.CustomObjectsApi(api_client)
        self._apis = client.ApisApi(api_client)
        self._clock = clock
        self._lock = threading.Lock()
        self._served: tuple[float, bool] | None = None

    # ------------------------------------------------------------------ plumbing

    # The core and apps API classes take seconds to import (client v37): only when used.
    @property
    def _core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self._client)

    @property
    def _apps(self) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self._client)

    def _call(self, target: Target, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        kw.setdefault("_request_timeout", TIMEOUT)
        return call_json(target, self.server, fn, *args, **kw)

    def _target(
        self, verb: str, plural: str, name: str | None = None, group: str = parse.GROUP
    ) -> Target:
        kinds = {
            "rollouts": "Rollout",
            "analysisruns": "AnalysisRun",
            "analysistemplates": "AnalysisTemplate",
            "clusteranalysistemplates": "ClusterAnalysisTemplate",
            "replicasets": "ReplicaSet",
            "events": "Event",
        }
        namespace = None if plural == "clusteranalysistemplates" else self.namespace
        return Target(verb, group, plural, namespace, name, kinds.get(plural, ""))

    def _list(self, plural: str) -> list[dict[str, Any]]:
        fn = self._custom.list_namespaced_custom_object
        body = self._call(
            self._target("list", plural), fn, parse.GROUP, parse.VERSION, self.namespace, plural
        )
        return list(body.get("items") or [])

    def _get(self, name: str) -> dict[str, Any]:
        fn = self._custom.get_namespaced_custom_object
        args = (parse.GROUP, parse.VERSION, self.namespace, "rollouts", name)
        return self._call(self._target("get", "rollouts", name), fn, *args)

    def _patch(self, name: str, patch: patches.Patch) -> dict[str, Any]:
        kind = MERGE if patch.kind == "merge" else JSON_PATCH
        fn = (
            self._custom.patch_namespaced_custom_object_status
            if patch.status
            else self._custom.patch_namespaced_custom_object
        )
        args = (parse.GROUP, parse.VERSION, self.namespace, "rollouts", name, patch.body)
        return self._call(self._target("patch", "rollouts", name), fn, *args, _content_type=kind)

    def _replicasets(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """The ReplicaSets the rollout's ``spec.selector.matchLabels`` selects."""
        labels = (obj.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        kw = {"label_selector": selector} if selector else {}
        target = self._target("list", "replicasets", group="apps")
        body = self._call(target, self._apps.list_namespaced_replica_set, self.namespace, **kw)
        return list(body.get("items") or [])

    def served(self) -> bool:
        """Whether the API server serves argoproj.io (the CRDs are installed)."""
        if not self.detect:
            return True
        with self._lock:
            if self._served is not None and self._clock() - self._served[0] < DETECT_TTL:
                return self._served[1]
        target = Target("get", "", "apis", None, None, "API discovery")
        try:
            groups = self._apis.get_api_versions(_request_timeout=TIMEOUT)
        except Exception as exc:
            raise translate(exc, target, self.server) from exc  # unreachable: say so
        found = any(
            g.name == parse.GROUP and any(v.version == parse.VERSION for v in g.versions or [])
            for g in groups.groups or []
        )
        with self._lock:
            self._served = (self._clock(), found)
        return found

    # ------------------------------------------------------------------ reading

    def _templates(self, obj: dict[str, Any]) -> list[Any]:
        """The analysis templates the rollout refers to, as analyses with no values yet;
        one that cannot be read is left out (the runs, once they exist, carry the specs)."""
        out = []
        for name, cluster in parse.template_names(obj):
            try:
                fn: Callable[..., Any]
                if cluster:
                    fn = self._custom.get_cluster_custom_object
                    target = self._target("get", "clusteranalysistemplates", name)
                    args: tuple[Any, ...] = (
                        parse.GROUP,
                        parse.VERSION,
                        "clusteranalysistemplates",
                        name,
                    )
                else:
                    fn = self._custom.get_namespaced_custom_object
                    target = self._target("get", "analysistemplates", name)
                    args = (parse.GROUP, parse.VERSION, self.namespace, "analysistemplates", name)
                got = self._call(target, fn, *args)
                out.append(parse.template_analysis(got, given=parse.rollout_args(obj)))
            except BackendError:
                continue
        return out

    def _assemble(
        self, obj: dict[str, Any], runs: list[dict[str, Any]], rs: list[dict[str, Any]]
    ) -> ForeignRollout:
        templates = [] if parse.current_runs(obj, runs) else self._templates(obj)
        return parse.rollout(obj, rs, runs, templates)

    def rollouts(self) -> list[ForeignRollout]:
        if not self.served():
            return []
        try:
            objs = self._list("rollouts")
        except Forbidden:
            if self.detect:  # Argo is installed, but not ours to see: as if it were not
                return []
            raise
        if not objs:
            return []
        runs = self._list("analysisruns")
        out = []
        for obj in sorted(objs, key=lambda o: o["metadata"]["name"]):
            out.append(self._assemble(obj, runs, self._replicasets(obj)))
        return out

    def rollout(self, name: str) -> ForeignRollout:
        if not self.served():
            raise NotFound(f"Rollout '{name}': Argo Rollouts is not installed")
        try:
            obj = self._get(name)
        except Forbidden:
            if self.detect:  # as in rollouts(): not ours to see
                raise NotFound(f"Rollout '{name}' cannot be read here") from None
            raise
        return self._assemble(obj, self._list("analysisruns"), self._replicasets(obj))

    # ------------------------------------------------------------------ verbs

    def act(self, name: str, verb: str, *, user: str, reason: str = "") -> str:
        if verb not in VERBS:
            raise Unsupported(f"{self.name} has no '{verb}'; it takes: {', '.join(sorted(VERBS))}")
        # The same requests as the plugin: promote and undo read the Rollout first, pause,
        # abort and retry only patch it (the answer names the object for the Event).
        if verb in ("promote", "promote-full"):
            obj = self._get(name)
            said = self._promote(name, obj, full=verb == "promote-full")
        elif verb == "pause":
            obj = self._patch(name, patches.PAUSE)
            said = f"rollout '{name}' paused"
        elif verb in ("abort", "retry"):
            obj = self._status_patch(name, patches.ABORT if verb == "abort" else patches.RETRY)
            said = f"rollout '{name}' {'aborted' if verb == 'abort' else 'retried'}"
        else:
            obj = self._get(name)
            said = self._undo(name, obj)
        self._record(obj, verb, user, reason)
        return said

    def _status_patch(self, name: str, patch: patches.Patch) -> dict[str, Any]:
        """A status patch; on 404 (no status subresource) the same body on the Rollout."""
        try:
            return self._patch(name, patch)
        except NotFound:
            return self._patch(name, patches.Patch(patch.body, patch.kind, status=False))

    def _promote(self, name: str, obj: dict[str, Any], *, full: bool) -> str:
        spec_patch, status_patch, unified = patches.promote_patches(obj, full=full)
        if status_patch is not None:
            try:
                self._patch(name, status_patch)
            except NotFound:
                spec_patch = unified
        if spec_patch is not None:
            self._patch(name, spec_patch)
        return f"rollout '{name}' {'fully promoted' if full else 'promoted'}"

    def _undo(self, name: str, obj: dict[str, Any]) -> str:
        if (obj.get("spec") or {}).get("workloadRef"):
            raise Unsupported(
                f"rollout '{name}' uses a workloadRef: undo it on the referenced workload "
                "(`kubectl argo rollouts undo` patches that object)"
            )
        target = patches.undo_target(obj, self._replicasets(obj))
        if target is None:
            raise ConflictError(f"no revision found for rollout '{name}' to go back to")
        revision, rs = target
        if patches.same_template(obj, rs):
            return f"skipped rollback (current template already matches revision {revision})"
        self._patch(name, patches.undo_patch(rs))
        return f"rollout '{name}' undo (back to revision {revision})"

    def _record(self, obj: dict[str, Any], verb: str, user: str, reason: str) -> None:
        """An Event on the Rollout saying who did what (the audit; never fails the verb)."""
        meta = obj.get("metadata") or {}
        involved = {
            "apiVersion": f"{parse.GROUP}/{parse.VERSION}",
            "kind": "Rollout",
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        event = events.event_body(
            involved, self.namespace, verb, user, events.verb_message(verb, user, reason)
        )
        target = self._target("create", "events", meta.get("name"), group="")
        try:
            self._call(target, self._core.create_namespaced_event, self.namespace, event)
        except BackendError:
            pass  # the verb is done; a missing audit line must not make it look failed

    def history(self, name: str, limit: int | None = None) -> list[AuditEntry]:
        """Events on the Rollout, oldest first: ours (who, verb, why) and the controller's."""
        selector = f"involvedObject.kind=Rollout,involvedObject.name={name}"
        target = self._target("list", "events", group="")
        body = self._call(
            target, self._core.list_namespaced_event, self.namespace, field_selector=selector
        )
        return events.history(body.get("items") or [], "Rollout", name, parse.CONTROLLER, limit)
