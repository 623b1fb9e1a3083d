"""Turn the Kubernetes client's exceptions into the contract's errors, with a next step.

403 -> ``Forbidden`` naming the verb, resource, API group and namespace that the Role lacks;
404 -> ``NotFound`` naming the object; 409 -> ``ConflictError``; anything that never reached
the API server -> ``BackendUnavailable`` saying what to check. Messages never carry tokens.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backends.base import (
    BackendError,
    BackendUnavailable,
    ConflictError,
    Forbidden,
    NotFound,
)


@dataclass(frozen=True)
class Target:
    """What a request was about, for the error message."""

    verb: str  # get, list, watch, create, update, patch, delete
    group: str  # "" for the core API group
    resource: str  # plural: deployments, configmaps, httproutes
    namespace: str | None
    name: str | None = None
    kind: str = ""  # Deployment, ConfigMap ...

    @property
    def what(self) -> str:
        label = self.kind or self.resource
        where = f" in namespace '{self.namespace}'" if self.namespace else ""
        return f"{label} '{self.name}'{where}" if self.name else f"{self.resource}{where}"


def call_json(target: Target, server: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """Call a generated client method ``fn`` unparsed (``_preload_content=False``) and
    return its JSON body; the client's exceptions become the contract's (``translate``).
    With ``watch=True`` the raw response is returned for the caller to stream."""
    try:
        resp = fn(*args, _preload_content=False, **kw)
    except Exception as exc:
        raise translate(exc, target, server) from exc
    if kw.get("watch"):
        return resp
    try:
        return json.loads(resp.data or b"{}")
    finally:
        resp.release_conn()


def _status_message(body: object) -> str:
    if not body:
        return ""
    try:
        data = json.loads(body if isinstance(body, str | bytes) else str(body))
    except ValueError:
        return str(body)[:200]
    return str(data.get("message", "")) if isinstance(data, dict) else ""


def translate(exc: Exception, target: Target, server: str = "") -> BackendError:
    """The contract error for ``exc`` raised while doing ``target``."""
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status > 0:
        detail = _status_message(getattr(exc, "body", None))
        group = target.group or '"" (core)'
        if status == 403:
            return Forbidden(
                f"Kubernetes refused to {target.verb} {target.what}: the Role lacks verb "
                f"'{target.verb}' on resource '{target.resource}' in API group {group}. "
                f"Grant it (see deploy/rbac.yaml) and retry. Server said: {detail}"
            )
        if status == 401:
            return Forbidden(
                f"Kubernetes rejected the credentials while trying to {target.verb} "
                f"{target.what}; refresh the kubeconfig user's token and retry"
            )
        if status == 404:
            return NotFound(f"{target.what} not found ({detail or 'HTTP 404'})")
        if status == 409:
            return ConflictError(
                f"{target.what} was changed by someone else while we tried to "
                f"{target.verb} it ({detail or 'HTTP 409'}); reload and retry"
            )
        if status == 410:
            return BackendError(f"watch of {target.what} expired (410 Gone); relisting")
        if status >= 500:
            return BackendUnavailable(
                f"the Kubernetes API server failed to {target.verb} {target.what} "
                f"(HTTP {status}: {detail}); it may be overloaded, retry shortly"
            )
        return BackendError(f"cannot {target.verb} {target.what}: HTTP {status}: {detail}")
    where = f" at {server}" if server else ""
    return BackendUnavailable(
        f"cannot reach the Kubernetes API server{where} to {target.verb} {target.what} "
        f"({type(exc).__name__}: {str(exc)[:160]}). Check the context and network "
        "(`kubectl cluster-info`), VPN or proxy; the rollout state is unchanged."
    )
