"""``HAProxyTraffic``: a fixed fleet of servers behind HAProxy as a TrafficBackend.

A service is an HAProxy backend; its versions are groups of servers told apart by name
(``weights.VersionRule``). The split is carried by server weights (``set server B/S weight
N``); a version at 0 % is put in ``drain`` (requests in flight finish, no new ones), never in
``maint``. Every change of a split is one batch of commands on one connection. Health per
version comes from ``show stat`` and ``show servers state``.

The fleet is fixed: HAProxy starts and stops no servers. ``deploy`` and ``scale`` check that
the version's servers exist (they are reported by ``health``); ``retire`` drains them.
Header/cookie routes and mirroring need configuration (``use_backend`` rules, a SPOE
mirror agent), so ``routing`` says they are not supported and plans that need them, or a
rolling update (it needs a deployer), are refused before they start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from backends.base import (
    BackendError,
    Forbidden,
    MatchRule,
    NotFound,
    Routing,
    TrafficSplit,
    Unsupported,
    VersionHealth,
)
from backends.haproxy.runtime import RuntimeClient
from backends.haproxy.stats import Server, join, parse_servers_state, parse_stat
from backends.haproxy.weights import VersionRule, server_weights, split_of

UNSUPPORTED = (
    "HAProxy is driven through its Runtime API, which sets server weights and states only; "
    "header/cookie routes and mirroring need use_backend rules or a mirror agent in the "
    "configuration, and a rolling update needs a deployer to start new servers"
)


class HAProxyTraffic:
    """TrafficBackend (and RoutingInfo) over one HAProxy's Runtime API."""

    def __init__(
        self,
        client: RuntimeClient,
        *,
        backends: Mapping[str, str] | None = None,
        rule: VersionRule | None = None,
        label: str = "",
    ) -> None:
        self.client = client
        self.backend_of = dict(backends or {})
        self.rule = rule or VersionRule()
        self.name = label or f"haproxy {client.address}"

    # ------------------------------------------------------------------ reading

    def _servers(self) -> list[Server]:
        stat = self.client.execute("show stat")
        state = self.client.execute("show servers state")
        try:
            return join(parse_stat(stat), parse_servers_state(state))
        except ValueError as exc:
            raise BackendError(f"HAProxy at {self.client.address}: {exc}") from None

    def _backend(self, service: str) -> str:
        return self.backend_of.get(service, service)

    def _fleet(self, service: str) -> dict[str, list[Server]]:
        """The service's servers by version (servers not matching the rule left out)."""
        backend = self._backend(service)
        servers = [s for s in self._servers() if s.backend == backend]
        if not servers:
            raise NotFound(
                f"HAProxy at {self.client.address} has no backend '{backend}' with servers "
                f"(service {service})"
            )
        fleet: dict[str, list[Server]] = {}
        for s in servers:
            version = self.rule.version(s.name)
            if version is not None:
                fleet.setdefault(version, []).append(s)
        if not fleet:
            names = ", ".join(s.name for s in servers[:6])
            raise NotFound(
                f"no server of HAProxy backend '{backend}' is named after a version "
                f"(pattern {self.rule.pattern!r}; servers: {names})"
            )
        return fleet

    def services(self) -> list[str]:
        by_backend = {b: s for s, b in self.backend_of.items()}
        found = list(self.backend_of)
        for s in self._servers():
            if s.backend in by_backend or s.backend in found:
                continue
            if self.rule.version(s.name) is not None:
                found.append(s.backend)
        return found

    def versions(self, service: str) -> list[str]:
        return list(self._fleet(service))

    def get_split(self, service: str) -> TrafficSplit:
        fleet = self._fleet(service)
        weights = split_of(
            {v: [(s.name, s.effective_weight) for s in servers] for v, servers in fleet.items()}
        )
        return TrafficSplit(weights=weights)

    def health(self, service: str) -> dict[str, VersionHealth]:
        out: dict[str, VersionHealth] = {}
        for version, servers in self._fleet(service).items():
            counted = [s for s in servers if not s.in_maintenance]
            reasons = [s.problem() for s in servers if not s.routable]
            out[version] = VersionHealth(
                version=version,
                ready=sum(1 for s in counted if s.routable),
                total=len(counted),
                reasons=tuple(reasons),
            )
        return out

    def routing(self, service: str) -> Routing:
        self._fleet(service)  # the backend and its versions exist
        self._require_admin()
        return Routing(
            weighted=True,
            switch=True,
            match=False,
            mirror=False,
            rolling=False,
            fixed_fleet=True,
            reason=UNSUPPORTED,
        )

    # ------------------------------------------------------------------ changing

    def set_split(self, service: str, weights: Mapping[str, int]) -> None:
        fleet = self._fleet(service)
        unknown = [v for v, p in weights.items() if p > 0 and v not in fleet]
        if unknown:
            raise NotFound(
                f"HAProxy backend '{self._backend(service)}' has no servers for "
                f"{', '.join(unknown)}; versions: {', '.join(fleet)}"
            )
        usable = {
            v: [(s.name, s.initial_weight) for s in servers if not s.in_maintenance]
            for v, servers in fleet.items()
        }
        try:
            new = server_weights(weights, usable)
        except ValueError as exc:
            raise BackendError(f"HAProxy backend '{self._backend(service)}': {exc}") from None
        self.client.run(split_commands(self._backend(service), fleet, new))

    def set_match(self, service: str, rules: Sequence[MatchRule], version: str | None) -> None:
        if version is None:
            return  # nothing to clear: no routes are ever set
        raise Unsupported(f"header/cookie routes on HAProxy: {UNSUPPORTED}")

    def set_mirror(self, service: str, version: str | None, percent: int) -> None:
        if version is None or percent <= 0:
            return
        raise Unsupported(f"mirroring on HAProxy: {UNSUPPORTED}")

    def deploy(self, service: str, version: str, instances: int) -> None:
        """The fleet is fixed: succeed when the version has servers (health tells whether
        they are up), else say which servers to add."""
        self._require(service, version)

    def scale(self, service: str, version: str, instances: int) -> None:
        servers = self._require(service, version)
        if instances > len(servers):
            raise Unsupported(
                f"HAProxy cannot start servers: {service}/{version} has {len(servers)}, "
                f"{instances} asked"
            )

    def retire(self, service: str, version: str) -> None:
        """Drain the version's servers (they stay in the configuration, out of traffic)."""
        servers = self._require(service, version)
        backend = self._backend(service)
        self.client.run(
            [
                f"set server {backend}/{s.name} state drain"
                for s in servers
                if not s.in_maintenance and not s.drained
            ]
        )

    def _require_admin(self) -> None:
        """Weights and states need the stats socket at ``level admin``: say so before a
        rollout starts rather than at its first step."""
        level = self.client.execute("show cli level").strip()
        if level in ("user", "operator"):
            raise Forbidden(
                f"HAProxy at {self.client.address}: this stats socket is at level {level}; "
                "changing server weights needs 'level admin' on its 'stats socket' line"
            )

    def _require(self, service: str, version: str) -> list[Server]:
        fleet = self._fleet(service)
        if version not in fleet:
            raise NotFound(
                f"HAProxy backend '{self._backend(service)}' has no servers for version "
                f"{version} (named by {self.rule.pattern!r}; versions: {', '.join(fleet)}); "
                "the fleet is fixed: add its servers to the configuration"
            )
        return fleet[version]


def split_commands(
    backend: str, fleet: Mapping[str, Sequence[Server]], weights: Mapping[str, int]
) -> list[str]:
    """The batch that puts ``weights`` ({server: weight}) in force: servers given traffic
    first (out of drain, new weight), then the others drained, so that no moment has every
    version drained. Servers in maintenance are left alone (an operator put them there)."""
    up: list[str] = []
    down: list[str] = []
    for servers in fleet.values():
        for s in servers:
            if s.in_maintenance:
                continue
            ref = f"{backend}/{s.name}"
            if s.name in weights:
                if s.user_weight != weights[s.name] or s.drained:
                    up.append(f"set server {ref} weight {weights[s.name]}")
                if s.drained:
                    up.append(f"set server {ref} state ready")
            elif not s.drained:
                down.append(f"set server {ref} state drain")
    return up + down
