"""``TrafficBackend`` on Kubernetes: Deployments per version, routed three ways.

For each service the routing *mode* is read from the cluster every call:
- ``gateway``: an HTTPRoute named after the service exists -> weights on its backendRefs
  (one Service per version), beta cohorts as header-match rules, dark launch as a
  RequestMirror filter. Used for canary.
- ``selector``: the active Service's selector pins a ``version`` -> only all-or-nothing
  splits, done by switching that selector in one patch; ``<service>-preview`` follows the
  candidate. Used for blue/green.
- ``replicas``: the active Service selects every version (``app`` only) -> the split is the
  ratio of ready pods (``TrafficSplit.approximate``). The fallback without Gateway API, and
  the shape the engine's rolling batches (Deploy/Scale) work in.
Reads come from watch caches (no API call); writes are single PATCH/PUT requests, with a
retry on conflict where the write is recomputed from the desired state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from backends.base import (
    BackendError,
    ConflictError,
    MatchRule,
    NotFound,
    RolloutRecord,
    Routing,
    TrafficSplit,
    Unsupported,
    VersionHealth,
)
from backends.kubernetes import objects as o
from backends.kubernetes.api import DEPLOYMENTS, PODS, SERVICES, KubeApi, httproutes
from backends.kubernetes.cache import WatchCache
from backends.kubernetes.health import version_health
from backends.kubernetes.rolling import NativeRolling

RETRIES = 5


class KubernetesTraffic(NativeRolling):
    """Routes and scales a namespace's services. Thread-safe for reads."""

    supports_native_rolling = True  # pause/resume via spec.paused, rollback as rollout undo

    def __init__(
        self,
        api: KubeApi,
        *,
        context: str = "",
        gateway_version: str | None = None,
        mirror_field: str | None = None,
        watch_timeout: int = 300,
        record_hint: Callable[[str], RolloutRecord | None] | None = None,
    ) -> None:
        self.api = api
        self.name = f"kubernetes {context or 'in-cluster'}/{api.namespace}"
        self._gateway_override = gateway_version
        self._mirror_field = mirror_field
        self._gateway: str | bool | None = False  # False: not discovered yet
        self.record_hint = record_hint  # the rollout in progress, to size replica-ratio splits
        self.deployments = WatchCache(api, DEPLOYMENTS, o.APP, watch_timeout=watch_timeout)
        self.pods = WatchCache(api, PODS, o.APP, watch_timeout=watch_timeout)
        self.services_cache = WatchCache(api, SERVICES, watch_timeout=watch_timeout)
        self.routes: WatchCache | None = None
        self.watch_timeout = watch_timeout

    def close(self) -> None:
        for cache in (self.deployments, self.pods, self.services_cache, self.routes):
            if cache is not None:
                cache.stop()

    # ------------------------------------------------------------------ discovery

    def gateway(self) -> str | None:
        """The Gateway API version in use, or None when the cluster has none."""
        if self._gateway is False:
            self._gateway = self._gateway_override or self.api.gateway_version()
            if self._gateway:
                self.routes = WatchCache(
                    self.api, httproutes(str(self._gateway)), watch_timeout=self.watch_timeout
                )
        return self._gateway if isinstance(self._gateway, str) else None

    def mirror_field(self) -> str:
        """``percent`` on Gateway API v1.3+, else ``fraction``."""
        if self._mirror_field is None:
            try:
                bundle = self.api.gateway_bundle_version()
            except BackendError:
                bundle = None  # reading CRDs is optional (a ClusterRole); fraction is safe
            self._mirror_field = "percent" if o.bundle_at_least(bundle, 1, 3) else "fraction"
        return self._mirror_field

    def _deps(self, service: str) -> list[dict[str, Any]]:
        self.deployments.ensure()
        return [
            d
            for d in self.deployments.items()
            if (d.get("metadata", {}).get("labels") or {}).get(o.APP) == service
            and o.version_of(d) is not None
        ]

    def _dep(self, service: str, version: str) -> dict[str, Any]:
        for d in self._deps(service):
            if o.version_of(d) == version or o.version_label(
                o.version_of(d) or ""
            ) == o.version_label(version):
                return d
        try:  # the watch may not have delivered a Deployment created a moment ago
            fresh = self.api.get(DEPLOYMENTS, o.deployment_name(service, version))
        except NotFound:
            fresh = None
        if fresh is not None and (fresh["metadata"].get("labels") or {}).get(o.APP) == service:
            self.deployments.observe(fresh)
            return fresh
        raise NotFound(
            f"no Deployment for version '{version}' of service '{service}' in namespace "
            f"'{self.api.namespace}' (looked for labels app={service}, "
            f"version={o.version_label(version)}); known versions: {', '.join(self.versions(service)) or 'none'}"
        )

    def _route(self, service: str) -> dict[str, Any] | None:
        if not self.gateway() or self.routes is None:
            return None
        self.routes.ensure()
        return self.routes.get(service)

    def _service(self, name: str) -> dict[str, Any] | None:
        self.services_cache.ensure()
        return self.services_cache.get(name)

    def mode(self, service: str) -> str:
        """``gateway``, ``selector`` or ``replicas`` (see the module docstring)."""
        if self._route(service) is not None:
            return "gateway"
        active = self._service(service)
        if active is not None and o.VERSION in ((active.get("spec") or {}).get("selector") or {}):
            return "selector"
        return "replicas"

    def routing(self, service: str) -> Routing:
        """What ``mode(service)`` allows (RoutingInfo): only a Gateway API route can match
        headers and mirror; a version-pinning Service selector only switches all at once."""
        mode = self.mode(service)
        if mode == "gateway":
            return Routing()
        route = (
            f"needs a Gateway API HTTPRoute named '{service}' in namespace "
            f"'{self.api.namespace}' (see docs/kubernetes.md)"
        )
        if mode == "selector":
            return Routing(
                weighted=False,
                match=False,
                mirror=False,
                reason=f"service '{service}' switches by Service selector (blue/green); {route}",
            )
        return Routing(
            switch=False,
            match=False,
            mirror=False,
            reason=(
                f"service '{service}' is split by replica counts (its Service selects every "
                f"version); blue/green needs it to select one version, and routing {route}"
            ),
        )

    # ------------------------------------------------------------------ reading

    def services(self) -> list[str]:
        self.deployments.ensure()
        return sorted(
            {
                str(d["metadata"]["labels"][o.APP])
                for d in self.deployments.items()
                if o.version_of(d) is not None
            }
        )

    def versions(self, service: str) -> list[str]:
        return sorted({str(o.version_of(d)) for d in self._deps(service)})

    def health(self, service: str) -> dict[str, VersionHealth]:
        deps = self._deps(service)
        self.pods.ensure()
        return version_health(service, deps, self.pods.items())

    def _version_services(self, service: str) -> dict[str, str]:
        """version -> the Service that selects exactly it (``<service>-<version>`` by default,
        or any Service whose selector is ``app=<service>, version=<label>``)."""
        labels = {o.version_label(v): v for v in self.versions(service)}
        out = {v: o.version_service_name(service, v) for v in labels.values()}
        self.services_cache.ensure()
        for svc in self.services_cache.items():
            sel = (svc.get("spec") or {}).get("selector") or {}
            name = svc["metadata"]["name"]
            own = (service, o.preview_service_name(service))
            if sel.get(o.APP) == service and sel.get(o.VERSION) in labels and name not in own:
                version = labels[sel[o.VERSION]]
                if self._service(out[version]) is None:
                    out[version] = name
        return out

    def _backends(self, service: str, versions: Sequence[str]) -> dict[str, tuple[str, int]]:
        active = self._service(service)
        default_port = _first_port(active) if active else 80
        names = self._version_services(service)
        out = {}
        for v in versions:
            name = names.get(v, o.version_service_name(service, v))
            svc = self._service(name)
            out[v] = (name, _first_port(svc) if svc else default_port)
        return out

    def get_split(self, service: str) -> TrafficSplit:
        mode = self.mode(service)
        versions = self.versions(service)
        if mode == "gateway":
            route = self._route(service) or {}
            by_name = {name: v for v, name in self._version_services(service).items()}
            split = o.route_split(route, by_name)
            weights = {v: split.weights.get(v, 0) for v in versions} | dict(split.weights)
            return TrafficSplit(
                weights=weights,
                match=split.match,
                match_version=split.match_version,
                mirror_version=split.mirror_version,
                mirror_percent=split.mirror_percent,
            )
        if mode == "selector":
            active = self._service(service) or {}
            label = str(active["spec"]["selector"][o.VERSION])
            return TrafficSplit(
                weights={v: 100 if o.version_label(v) == label else 0 for v in versions}
            )
        health = self.health(service)
        # Pods of a version no Deployment runs any more still serve (a rolling update of one
        # Deployment is half-way), so they count too.
        versions = sorted(set(versions) | {v for v, h in health.items() if h.total > 0})
        raw = {v: health[v].ready if v in health else 0 for v in versions}
        if sum(raw.values()) == 0:
            raw = {v: (health[v].desired or 0) if v in health else 0 for v in versions}
        return TrafficSplit(weights=o.to_percent(raw), approximate=True)

    # ------------------------------------------------------------------ routing

    def _check_weights(self, service: str, weights: Mapping[str, int]) -> None:
        if sum(weights.values()) != 100 or any(w < 0 for w in weights.values()):
            raise BackendError(
                f"weights for {service} must be >= 0 and sum to 100: {dict(weights)}"
            )
        for version in weights:
            self._dep(service, version)  # NotFound names the missing Deployment
        health = self.health(service)
        for version, weight in weights.items():
            h = health.get(version)
            if 0 < weight < 100 and (h is None or h.ready == 0):
                why = "; ".join(h.reasons) if h and h.reasons else "no ready pods"
                raise BackendError(
                    f"refusing to send {weight}% of {service} to {version}: 0 pods ready ({why})"
                )

    def set_split(self, service: str, weights: Mapping[str, int]) -> None:
        weights = {str(k): int(v) for k, v in weights.items()}
        self._check_weights(service, weights)
        mode = self.mode(service)
        if mode == "gateway":
            for v, w in weights.items():
                if w > 0:
                    self._ensure_version_service(service, v)
            self._update_route(service, weights=weights)
        elif mode == "selector":
            winners = [v for v, w in weights.items() if w == 100]
            if not winners:
                raise Unsupported(
                    f"service '{service}' switches by Service selector (blue/green): it sends "
                    "all traffic to one version; install Gateway API for weighted splits"
                )
            self._switch_selector(service, service, winners[0])
        else:
            self._scale_to_ratio(service, weights)

    def set_match(self, service: str, rules: Sequence[MatchRule], version: str | None) -> None:
        if self.mode(service) != "gateway":
            if version is None or not rules:
                return  # nothing to clear
            raise Unsupported(
                f"header routes for '{service}' need a Gateway API HTTPRoute named "
                f"'{service}' in namespace '{self.api.namespace}'"
            )
        if version is not None:
            self._dep(service, version)
            self._ensure_version_service(service, version)
        self._update_route(service, match=(tuple(rules), version if rules else None))

    def set_mirror(self, service: str, version: str | None, percent: int) -> None:
        if self.mode(service) != "gateway":
            if version is None or percent <= 0:
                return
            raise Unsupported(
                f"mirroring '{service}' needs a Gateway API HTTPRoute named '{service}'"
            )
        if version is not None and percent > 0:
            self._dep(service, version)
            self._ensure_version_service(service, version)
        else:
            version, percent = None, 0
        result = self._update_route(service, mirror=(version, max(0, min(100, percent))))
        if version is not None and 0 < percent < 100 and not o.mirror_kept(result):
            self._update_route(service, mirror=(None, 0))  # never mirror more than asked
            raise Unsupported(
                f"this cluster's Gateway API dropped the mirror {self.mirror_field()} field "
                f"(it predates v1.2): it can mirror all of '{service}' or none, not {percent}%"
            )

    def _update_route(
        self,
        service: str,
        *,
        weights: Mapping[str, int] | None = None,
        match: tuple[tuple[MatchRule, ...], str | None] | None = None,
        mirror: tuple[str | None, int] | None = None,
    ) -> dict[str, Any]:
        """Rewrite the route's rules, keeping what this call does not change; retry on 409."""
        kind = httproutes(str(self.gateway()))
        route = self._route(service)
        if route is None:
            raise NotFound(f"HTTPRoute '{service}' not found in namespace '{self.api.namespace}'")
        for attempt in range(RETRIES):
            current = o.route_split(
                route, {name: v for v, name in self._version_services(service).items()}
            )
            w = dict(weights) if weights is not None else dict(current.weights)
            rules, mversion = match if match is not None else (current.match, current.match_version)
            mv, mp = (
                mirror if mirror is not None else (current.mirror_version, current.mirror_percent)
            )
            involved = [v for v in {*w, *([mversion] if mversion else []), *([mv] if mv else [])}]
            body = dict(route)
            body["spec"] = dict(route.get("spec") or {})
            body["spec"]["rules"] = o.build_rules(
                route,
                weights=w,
                backend=self._backends(service, involved),
                match=rules,
                match_version=mversion,
                mirror_version=mv,
                mirror_percent=mp,
                mirror_field=self.mirror_field() if mv and 0 < mp < 100 else "percent",
            )
            body.pop("status", None)
            try:
                result = self.api.replace(kind, body)
            except ConflictError:
                if attempt == RETRIES - 1:
                    raise
                route = self.api.get(kind, service)  # someone else wrote: re-read, re-apply
                continue
            if self.routes is not None:
                self.routes.observe(result)
            return result
        raise AssertionError("unreachable")

    def _switch_selector(self, service: str, svc_name: str, version: str) -> None:
        """Point a Service at one version in a single patch (blue/green switch)."""
        result = self.api.patch(
            SERVICES, svc_name, {"spec": {"selector": {o.VERSION: o.version_label(version)}}}
        )
        self.services_cache.observe(result)

    def _scale_to_ratio(self, service: str, weights: Mapping[str, int]) -> None:
        record = self.record_hint(service) if self.record_hint else None
        strategy = str(record.strategy) if record is not None else "canary"
        if strategy == "rolling":
            return  # the engine's Scale actions size each version; traffic follows ready pods
        if strategy == "bluegreen":
            raise Unsupported(
                f"blue/green for '{service}' needs the Service '{service}' to select one "
                "version (selector app + version); it selects every version now"
            )
        deps = {v: self._dep(service, v) for v in weights}
        total = sum(int(d["spec"].get("replicas", 0)) for d in self._deps(service))
        sizes = o.replicas_for(weights, max(total, 1))
        if record is not None and not record.phase.terminal and record.candidate in sizes:
            # A canary candidate must run before it may get weight (health gates it), and
            # one pod is the least exposure replica ratios can give: keep it warm at 1.
            sizes[record.candidate] = max(sizes[record.candidate], 1)
        for version, replicas in sizes.items():
            if int(deps[version]["spec"].get("replicas", 0)) != replicas:
                self._patch_replicas(deps[version]["metadata"]["name"], replicas)

    def _ensure_version_service(self, service: str, version: str) -> None:
        name = self._version_services(service).get(
            version, o.version_service_name(service, version)
        )
        if self._service(name) is not None:
            return
        name = o.version_service_name(service, version)
        active = self._service(service)
        ports = [
            {k: v for k, v in p.items() if k in ("name", "port", "targetPort", "protocol")}
            for p in ((active or {}).get("spec") or {}).get("ports") or []
        ]
        try:
            created = self.api.create(SERVICES, o.version_service(service, version, ports))
        except ConflictError:
            return  # created meanwhile (409 AlreadyExists): fine
        self.services_cache.observe(created)

    # ------------------------------------------------------------------ instances

    def _patch_replicas(self, name: str, replicas: int, **spec: Any) -> None:
        result = self.api.patch(DEPLOYMENTS, name, {"spec": {"replicas": int(replicas), **spec}})
        self.deployments.observe(result)

    def deploy(self, service: str, version: str, instances: int) -> None:
        """Run ``instances`` pods of ``version`` (creating its Deployment from the stable one)."""
        self._ensure_deployment(service, version, instances)
        mode = self.mode(service)
        if mode == "gateway":
            self._ensure_version_service(service, version)
        elif mode == "selector":
            preview = o.preview_service_name(service)
            if self._service(preview) is not None:
                self._switch_selector(service, preview, version)

    def _ensure_deployment(self, service: str, version: str, instances: int) -> None:
        deps = self._deps(service)
        label = o.version_label(version)
        existing = [d for d in deps if o.version_label(o.version_of(d) or "") == label]
        if existing:
            self._patch_replicas(existing[0]["metadata"]["name"], instances, paused=None)
            return
        if not deps:
            raise NotFound(
                f"no Deployment labelled app={service} in namespace '{self.api.namespace}': "
                "create the stable version first (see deploy/examples/)"
            )
        source = max(deps, key=lambda d: int(d["spec"].get("replicas", 0)))
        body = o.clone_deployment(source, service, version, instances)
        try:
            created = self.api.create(DEPLOYMENTS, body)
        except ConflictError:  # created meanwhile: size it
            self._patch_replicas(body["metadata"]["name"], instances)
            return
        self.deployments.observe(created)

    def scale(self, service: str, version: str, instances: int) -> None:
        """Size a version; a version without a Deployment gets one (rolling's first batch)."""
        self._ensure_deployment(service, version, instances)

    def retire(self, service: str, version: str) -> None:
        """Scale a version to 0 (its Deployment stays, so a switch back is one scale away)."""
        dep = self._dep(service, version)
        mode = self.mode(service)
        if mode in ("gateway", "selector") and self.get_split(service).weights.get(version, 0) > 0:
            raise BackendError(
                f"refusing to retire {version} of {service}: it still takes traffic; "
                "move the traffic first"
            )
        self._patch_replicas(dep["metadata"]["name"], 0)


def _first_port(svc: Mapping[str, Any] | None) -> int:
    ports = ((svc or {}).get("spec") or {}).get("ports") or []
    return int(ports[0].get("port", 80)) if ports else 80
