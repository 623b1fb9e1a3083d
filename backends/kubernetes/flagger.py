"""Flagger as a foreign controller: read its Canaries, drive its manual gates.

``FlaggerCanaries`` implements ``backends.base.ForeignController`` for one namespace.
Reads: Canaries and the MetricTemplates they refer to (flagger.app/v1beta1, through
CustomObjectsApi), the target Deployments and their ``-primary`` (images, replicas).
Flagger has no pause/promote API: the verbs change the gate state that ``rollout gate``
answers Flagger's webhooks from (flagger_gates.py), kept in one ConfigMap
``rollout-flagger-gates`` (one JSON entry per Canary, written with compare-and-swap), and
each change is recorded as an Event on the Canary (reason ``RolloutConsole``), which
``history`` reads back with Flagger's own Events. docs/flagger.md.
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
    ForeignRollout,
    NotFound,
    Unsupported,
)
from backends.kubernetes import console_events as events
from backends.kubernetes import flagger_parse as parse
from backends.kubernetes.errors import Target, call_json
from backends.kubernetes.flagger_builtins import DEFAULT_PROVIDER
from backends.kubernetes.flagger_gates import GateState, after_verb

TIMEOUT = (5.0, 20.0)
GATES_CONFIGMAP = "rollout-flagger-gates"
VERBS = frozenset({"promote", "resume", "pause", "abort"})
RETRIES = 5


class KubeCalls:
    """The few requests Flagger support makes, errors translated to the contract's."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        from kubernetes import client  # only Kubernetes environments pay for the import

        self.namespace = namespace
        self.server = str(getattr(api_client.configuration, "host", ""))
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)

    def call(self, target: Target, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        kw.setdefault("_request_timeout", TIMEOUT)
        return call_json(target, self.server, fn, *args, **kw)

    def target(
        self, verb: str, group: str, plural: str, kind: str, name: str | None = None
    ) -> Target:
        return Target(verb, group, plural, self.namespace, name, kind)


class GateStore:
    """The gate state of every Canary of a namespace, in one ConfigMap (CAS writes)."""

    def __init__(self, calls: KubeCalls) -> None:
        self.calls = calls

    def read(self) -> dict[str, Any] | None:
        """The ConfigMap (None before the first change)."""
        c = self.calls
        target = c.target("get", "", "configmaps", "ConfigMap", GATES_CONFIGMAP)
        try:
            return c.call(target, c.core.read_namespaced_config_map, GATES_CONFIGMAP, c.namespace)
        except NotFound:
            return None

    def load(self, canary: str) -> GateState:
        cm = self.read()
        return GateState.from_json(((cm or {}).get("data") or {}).get(canary))

    def update(
        self, canary: str, change: Callable[[GateState], GateState | None]
    ) -> tuple[GateState, GateState]:
        """Read-modify-write one Canary's state; ``change`` returning None writes nothing.
        Returns (before, after)."""
        c = self.calls
        for _ in range(RETRIES):
            cm = self.read()
            data = dict((cm or {}).get("data") or {})
            before = GateState.from_json(data.get(canary))
            after = change(before)
            if after is None:
                return before, before
            data[canary] = after.to_json()
            try:
                if cm is None:
                    body = {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {
                            "name": GATES_CONFIGMAP,
                            "labels": {"app.kubernetes.io/managed-by": "rollout-gate"},
                        },
                        "data": data,
                    }
                    target = c.target("create", "", "configmaps", "ConfigMap", GATES_CONFIGMAP)
                    c.call(target, c.core.create_namespaced_config_map, c.namespace, body)
                else:
                    cm["data"] = data  # carries metadata.resourceVersion: a stale write is 409
                    target = c.target("update", "", "configmaps", "ConfigMap", GATES_CONFIGMAP)
                    c.call(
                        target,
                        c.core.replace_namespaced_config_map,
                        GATES_CONFIGMAP,
                        c.namespace,
                        cm,
                    )
            except ConflictError:
                continue  # another writer (the gate, a console) won: read again
            return before, after
        raise ConflictError(f"ConfigMap '{GATES_CONFIGMAP}' kept changing ({RETRIES} tries)")


def record_event(calls: KubeCalls, canary: str, action: str, user: str, message: str) -> None:
    """An Event on the Canary saying who changed which gate (the audit; never raises)."""
    involved = {"apiVersion": f"{parse.GROUP}/{parse.VERSION}", "kind": parse.KIND, "name": canary}
    event = events.event_body(involved, calls.namespace, action, user, message)
    target = calls.target("create", "", "events", "Event", event["metadata"]["name"])
    try:
        calls.call(target, calls.core.create_namespaced_event, calls.namespace, event)
    except BackendError:
        pass  # the change is made; a missing audit line must not make it look failed


class FlaggerCanaries:
    """The Flagger Canaries of one namespace (``ForeignController``)."""

    name = parse.CONTROLLER
    verbs = VERBS

    def __init__(
        self,
        api_client: Any,
        namespace: str,
        *,
        clock: Callable[[], float] = time.time,
        mesh_provider: str = DEFAULT_PROVIDER,
    ) -> None:
        self.calls = KubeCalls(api_client, namespace)
        self.namespace = namespace
        self.mesh_provider = mesh_provider  # Flagger's -mesh-provider (cluster.flaggerProvider)
        self.gates = GateStore(self.calls)
        self._clock = clock
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading

    def _canary_target(self, verb: str, name: str | None = None) -> Target:
        return self.calls.target(verb, parse.GROUP, parse.PLURAL, parse.KIND, name)

    def _list_canaries(self) -> list[dict[str, Any]]:
        c = self.calls
        body = c.call(
            self._canary_target("list"),
            c.custom.list_namespaced_custom_object,
            parse.GROUP,
            parse.VERSION,
            self.namespace,
            parse.PLURAL,
        )
        return list(body.get("items") or [])

    def canary_object(self, name: str) -> dict[str, Any]:
        c = self.calls
        return c.call(
            self._canary_target("get", name),
            c.custom.get_namespaced_custom_object,
            parse.GROUP,
            parse.VERSION,
            self.namespace,
            parse.PLURAL,
            name,
        )

    def _deployments(self) -> dict[str, dict[str, Any]]:
        c = self.calls
        target = c.target("list", "apps", "deployments", "Deployment")
        try:
            body = c.call(target, c.apps.list_namespaced_deployment, self.namespace)
        except BackendError:
            return {}  # images and replica counts are extras: the Canary is what counts
        return {d["metadata"]["name"]: d for d in body.get("items") or []}

    def _templates(self, canaries: list[parse.FlaggerCanary]) -> dict[tuple[str, str], Any]:
        c = self.calls
        out: dict[tuple[str, str], Any] = {}
        for canary in canaries:
            for metric in canary.metrics:
                key = parse.template_key(canary, metric)
                if not metric.template or key in out:
                    continue
                target = Target(
                    "get", parse.GROUP, parse.TEMPLATES, key[0], key[1], "MetricTemplate"
                )
                try:
                    out[key] = c.call(
                        target,
                        c.custom.get_namespaced_custom_object,
                        parse.GROUP,
                        parse.VERSION,
                        key[0],
                        parse.TEMPLATES,
                        key[1],
                    )
                except BackendError:
                    continue  # shown without its query; the Canary still lists
        return out

    def _held(self) -> set[str]:
        """Canaries whose confirm-traffic-increase gate is closed (``rollout pause``)."""
        try:
            cm = self.gates.read()
        except BackendError:
            return set()  # shown by Flagger's phase alone
        data = (cm or {}).get("data") or {}
        return {
            name for name, v in data.items() if not GateState.from_json(v).confirm_traffic_increase
        }

    def _assemble(self, objs: list[dict[str, Any]]) -> list[ForeignRollout]:
        canaries = [parse.canary(o) for o in objs]
        deployments = self._deployments()
        templates = self._templates(canaries)
        held = self._held() if any(c.phase == "Progressing" for c in canaries) else set()
        return [
            parse.to_foreign(
                c,
                deployments=deployments,
                templates=templates,
                held=c.name in held,
                mesh_provider=self.mesh_provider,
            )
            for c in sorted(canaries, key=lambda c: c.name)
        ]

    def rollouts(self) -> list[ForeignRollout]:
        objs = self._list_canaries()
        return self._assemble(objs) if objs else []

    def rollout(self, name: str) -> ForeignRollout:
        return self._assemble([self.canary_object(name)])[0]

    def gate_state(self, name: str) -> GateState:
        return self.gates.load(name)

    # ------------------------------------------------------------------ verbs

    def act(self, name: str, verb: str, *, user: str, reason: str = "") -> str:
        if verb not in VERBS:
            raise Unsupported(
                f"{self.name} has no '{verb}'; it takes: {', '.join(sorted(VERBS))} "
                "(through its gate webhooks, served by `rollout gate`)"
            )
        canary = parse.canary(self.canary_object(name))  # NotFound for an unknown Canary
        hooked = {w.type for w in canary.gates()}
        needed = {
            "promote": {parse.CONFIRM_PROMOTION, parse.CONFIRM_ROLLOUT, parse.CONFIRM_TRAFFIC},
            "resume": {parse.CONFIRM_ROLLOUT, parse.CONFIRM_TRAFFIC},
            "pause": {parse.CONFIRM_ROLLOUT, parse.CONFIRM_TRAFFIC, parse.CONFIRM_PROMOTION},
            "abort": {parse.ROLLBACK},
        }[verb]
        if not hooked & needed:
            raise ConflictError(
                f"canary '{name}' has no {' or '.join(sorted(needed))} webhook, so Flagger "
                f"never asks and '{verb}' would change nothing; point its analysis.webhooks "
                "at `rollout gate` (docs/flagger.md)"
            )
        if verb == "abort" and canary.phase not in ("Progressing", "Waiting", "WaitingPromotion"):
            raise ConflictError(
                f"canary '{name}' is {canary.phase or 'not initialized'}: Flagger asks the "
                "rollback webhook only while Progressing, Waiting or WaitingPromotion"
            )
        if verb in ("promote", "resume") and canary.phase not in parse.ACTIVE:
            raise ConflictError(
                f"canary '{name}' is {canary.phase or 'not initialized'}: nothing rolls out "
                f"to {verb}; a new revision of {canary.target} starts one"
            )
        now = self._clock()
        waiting = canary.phase == "Waiting"
        _, after = self.gates.update(
            name, lambda s: after_verb(s, verb, waiting=waiting, by=user, at=now)
        )
        message = f"{events.verb_message(verb, user, reason)} ({after.summary()})"
        record_event(self.calls, name, verb, user, message)
        return f"canary '{name}' {verb}: {after.summary()}"

    # ------------------------------------------------------------------ history

    def history(self, name: str, limit: int | None = None) -> list[AuditEntry]:
        """Events on the Canary, oldest first: ours (who, verb, why) and Flagger's."""
        c = self.calls
        selector = f"involvedObject.kind={parse.KIND},involvedObject.name={name}"
        target = c.target("list", "", "events", "Event")
        body = c.call(target, c.core.list_namespaced_event, self.namespace, field_selector=selector)
        return events.history(body.get("items") or [], parse.KIND, name, parse.CONTROLLER, limit)
