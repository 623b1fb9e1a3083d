"""The Deployment's own rolling update: start, pause/resume, status, and undo.

For services run as ONE Deployment named after the service (the usual layout before any
progressive delivery), the controller does the batching (maxSurge, maxUnavailable,
minReadySeconds); we only change the template, flip ``spec.paused``, and roll back the way
``kubectl rollout undo`` does: copy the previous revision's ReplicaSet template back into
the Deployment (without its ``pod-template-hash`` label) in one compare-and-swap PUT.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backends.base import BackendError, ConflictError, NotFound, RolloutStatus
from backends.kubernetes import objects as o
from backends.kubernetes.api import DEPLOYMENTS, JSON_PATCH, REPLICASETS

if TYPE_CHECKING:
    from backends.kubernetes.api import KubeApi
    from backends.kubernetes.cache import WatchCache

# Annotations kubectl does not copy from a ReplicaSet back to its Deployment on undo.
SKIP_ANNOTATIONS = (
    o.REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "kubectl.kubernetes.io/last-applied-configuration",
)


class NativeRolling:
    """Mixed into KubernetesTraffic; needs ``self.api`` and ``self.deployments``."""

    api: KubeApi
    deployments: WatchCache

    _deps: Callable[[str], list[dict[str, Any]]]  # KubernetesTraffic's
    mode: Callable[[str], str]  # KubernetesTraffic's: gateway, selector or replicas

    # ------------------------------------------------------------ driven by the engine

    def native_rollout(self, service: str) -> RolloutStatus | None:
        """The Deployment's rollout status when the service is ONE Deployment named after
        it (``courses``) behind a Service selecting every version; None otherwise (one
        Deployment per version, or routing that would not reach a new pod template)."""
        deps = self._deps(service)
        if len(deps) != 1 or deps[0]["metadata"].get("name") != service:
            return None
        if self.mode(service) != "replicas":
            return None
        st = self.rollout_status(service)
        return RolloutStatus(
            version=str(st["version"] or ""),
            revision=st["revision"],
            desired=st["desired"],
            updated=st["updated"],
            ready=st["ready"],
            paused=st["paused"],
            reason=st["reason"],
        )

    def start_rolling(
        self,
        service: str,
        version: str,
        *,
        instances: int,
        max_surge: int,
        max_unavailable: int,
        min_ready: float,
    ) -> None:
        """The engine's RollingUpdate: template, strategy and replicas in one PATCH."""
        self.rolling_update(
            service,
            version,
            max_surge=max_surge,
            max_unavailable=max_unavailable,
            min_ready=min_ready,
            replicas=instances,
        )

    def hold_rolling(self, service: str, hold: bool) -> None:
        """The engine's HoldRollout: ``spec.paused`` on or off."""
        if hold:
            self.pause(service)
        else:
            self.resume(service)

    def undo_rolling(self, service: str, version: str) -> None:
        """The engine's UndoRollout: back to the newest revision that ran ``version``,
        unpaused (a paused Deployment would not move). Nothing to do if it runs it."""
        dep = self._native(service)
        if o.version_label(o.version_of(dep) or "") == o.version_label(version):
            if dep["spec"].get("paused"):
                self.resume(service)
            return
        runs = [
            rev
            for rev, rs in self.history(service)
            if o.version_label(o.version_of(rs) or "") == o.version_label(version)
        ]
        if not runs:
            raise NotFound(
                f"Deployment '{service}' has no revision running {version} to roll back to; "
                f"see `kubectl rollout history deployment/{service}`"
            )
        self.rollback(service, runs[-1], unpause=True)

    # ------------------------------------------------------------ kubectl rollout verbs

    def _native(self, service: str) -> dict[str, Any]:
        self.deployments.ensure()
        dep = self.deployments.get(service)
        if dep is None:
            dep = self.api.get(DEPLOYMENTS, service)  # raises NotFound naming it
        return dep

    def rolling_update(
        self,
        service: str,
        version: str,
        *,
        max_surge: int = 1,
        max_unavailable: int = 0,
        min_ready: float = 0.0,
        replicas: int | None = None,
    ) -> None:
        """Start the Deployment's own rolling update to ``version`` (an image or a tag)."""
        dep = self._native(service)
        containers = (dep["spec"]["template"].get("spec") or {}).get("containers") or []
        if not containers:
            raise BackendError(f"Deployment '{service}' has no containers to update")
        image = version if o.is_image(version) else o.retag(str(containers[0]["image"]), version)
        patch: dict[str, Any] = {
            "metadata": {"annotations": {o.VERSION_ANNOTATION: version}},
            "spec": {
                "paused": None,
                "minReadySeconds": int(min_ready),
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
                },
                "template": {
                    "metadata": {"labels": {o.VERSION: o.version_label(version)}},
                    "spec": {"containers": [{"name": containers[0]["name"], "image": image}]},
                },
            },
        }
        if replicas is not None:
            patch["spec"]["replicas"] = int(replicas)
        self.deployments.observe(self.api.patch(DEPLOYMENTS, service, patch))

    def pause(self, service: str) -> None:
        """``kubectl rollout pause``: the controller stops moving pods."""
        self.deployments.observe(self.api.patch(DEPLOYMENTS, service, {"spec": {"paused": True}}))

    def resume(self, service: str) -> None:
        """``kubectl rollout resume``."""
        self.deployments.observe(self.api.patch(DEPLOYMENTS, service, {"spec": {"paused": None}}))

    def rollout_status(self, service: str) -> dict[str, Any]:
        """Revision, replica counts, paused flag and the Progressing reason."""
        dep = self._native(service)
        st = dep.get("status") or {}
        progressing: dict[str, Any] = next(
            (c for c in st.get("conditions") or [] if c.get("type") == "Progressing"), {}
        )
        return {
            "revision": int((dep["metadata"].get("annotations") or {}).get(o.REVISION, 0)),
            "desired": int(dep["spec"].get("replicas", 1)),
            "updated": int(st.get("updatedReplicas", 0)),
            "ready": int(st.get("readyReplicas", 0)),
            "paused": bool(dep["spec"].get("paused")),
            "reason": progressing.get("reason", ""),
            "version": o.version_of(dep),
        }

    def history(self, service: str) -> list[tuple[int, dict[str, Any]]]:
        """(revision, ReplicaSet) owned by the Deployment, oldest first."""
        dep = self._native(service)
        selector = (dep["spec"].get("selector") or {}).get("matchLabels") or {}
        label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        uid = dep["metadata"].get("uid")
        out = []
        for rs in self.api.list(REPLICASETS, label_selector).get("items") or []:
            owners = rs["metadata"].get("ownerReferences") or []
            if uid and not any(ref.get("uid") == uid for ref in owners):
                continue
            rev = int((rs["metadata"].get("annotations") or {}).get(o.REVISION, 0))
            out.append((rev, rs))
        return sorted(out, key=lambda pair: pair[0])

    def rollback(
        self, service: str, to_revision: int | None = None, *, unpause: bool = False
    ) -> int:
        """``kubectl rollout undo``: back to the previous (or the given) revision.

        One JSON patch replaces the template and the annotations, guarded by a ``test`` of
        the revision it was computed from: status updates do not make it fail (as a
        resourceVersion precondition would), a concurrent rollout does. ``unpause`` clears
        ``spec.paused`` in the same patch. Returns the revision whose template is now in the
        Deployment.
        """
        dep = self.api.get(DEPLOYMENTS, service)
        annotations = dep["metadata"].get("annotations") or {}
        current = int(annotations.get(o.REVISION, 0))
        revisions = self.history(service)
        if to_revision is None:
            older = [(r, rs) for r, rs in revisions if r < current]
            if not older:
                raise NotFound(
                    f"Deployment '{service}' has no revision before {current} to roll back to"
                )
            rev, rs = older[-1]
        else:
            found = [(r, rs) for r, rs in revisions if r == to_revision]
            if not found:
                raise NotFound(f"revision {to_revision} of Deployment '{service}' not found")
            rev, rs = found[0]
        template = copy.deepcopy(rs["spec"]["template"])
        (template.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
        new_annotations = {k: v for k, v in annotations.items() if k in SKIP_ANNOTATIONS}
        for k, v in (rs["metadata"].get("annotations") or {}).items():
            if k not in SKIP_ANNOTATIONS:
                new_annotations[k] = v
        ops = [
            {"op": "test", "path": "/metadata/annotations", "value": annotations},
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": new_annotations},
        ]
        if unpause:
            ops.append({"op": "add", "path": "/spec/paused", "value": False})
        try:
            result = self.api.patch(DEPLOYMENTS, service, ops, JSON_PATCH)
        except BackendError as exc:
            if "HTTP 422" in str(exc):  # the JSON patch test failed: someone moved it on
                raise ConflictError(
                    f"Deployment '{service}' moved on while rolling back (it was at revision "
                    f"{current}); look at `kubectl rollout history deployment/{service}` and retry"
                ) from None
            raise
        self.deployments.observe(result)
        return rev
