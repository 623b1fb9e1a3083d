"""Which version serves a request: weighted split, header/cookie routes, mirroring. Pure logic.

The split is applied per request with a shuffled table of 100 slots (one slot per percent),
walked in order and reshuffled at each lap, so every 100 consecutive requests follow the
weights exactly while the order stays unpredictable. Swapping a whole ``Route`` object is
how the gateway changes weights: requests already routed keep their version.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backends.base import MatchRule, TrafficSplit

USER_HEADER = "x-lms-user"  # who the request is for (as the flag evaluation reads it)
USER_COOKIE = "lms_user"


class RouteError(ValueError):
    """A routing change that cannot be applied; the message says why."""


def parse_cookies(raw: str) -> dict[str, str]:
    """``a=1; b=2`` -> {"a": "1", "b": "2"}."""
    out = {}
    for part in raw.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            out[name] = value.strip().strip('"')
    return out


def rule_matches(rule: MatchRule, headers: Mapping[str, str], cookies: Mapping[str, str]) -> bool:
    """True if every header and cookie of the rule is present with the exact value."""
    if not rule.headers and not rule.cookies:
        return False  # an empty rule would pin everything; treat it as matching nothing
    for name, value in rule.headers.items():
        if headers.get(name.lower()) != value:
            return False
    return all(cookies.get(name) == value for name, value in rule.cookies.items())


def validate_weights(weights: Mapping[str, object], known: Collection[str]) -> dict[str, int]:
    """Integer weights >= 0 over known versions summing to 100; raises RouteError."""
    if not isinstance(weights, Mapping) or not weights:
        raise RouteError("weights must be a non-empty mapping of version -> integer percent")
    out: dict[str, int] = {}
    for version, w in weights.items():
        if version not in known:
            raise RouteError(f"unknown version '{version}'; known: {', '.join(sorted(known))}")
        if isinstance(w, bool) or not isinstance(w, int) or w < 0:
            raise RouteError(f"weight of '{version}' must be an integer >= 0, got {w!r}")
        out[str(version)] = w
    if sum(out.values()) != 100:
        raise RouteError(f"weights must sum to 100, got {sum(out.values())}")
    return out


@dataclass
class Route:
    """A service's routing: weights, match rules pinned to a version, and mirroring."""

    weights: dict[str, int]
    match: tuple[MatchRule, ...] = ()
    match_version: str | None = None
    mirror_version: str | None = None
    mirror_percent: int = 0
    # Split by user (experiments between versions): a request naming its user goes to the
    # version its user's hash falls in, so the same user always gets the same version.
    by_user: bool = False
    _table: list[str] = field(default_factory=list, repr=False)
    _pos: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._table = [v for v, w in sorted(self.weights.items()) for _ in range(w)]
        self._rng.shuffle(self._table)

    def weighted(self) -> str | None:
        """The next version by weight (None if no version has weight)."""
        if not self._table:
            return None
        if self._pos >= len(self._table):
            self._rng.shuffle(self._table)
            self._pos = 0
        v = self._table[self._pos]
        self._pos += 1
        return v

    def choose(
        self,
        headers: Mapping[str, str],
        cookies: Mapping[str, str],
        ready: Collection[str],
    ) -> str | None:
        """The version to serve this request among ``ready`` versions; None if none can.

        Match rules win when their version is ready. A weighted pick whose version has no
        ready instance falls back to the other weighted versions that are ready.
        """
        if self.match_version and self.match_version in ready:
            for rule in self.match:
                if rule_matches(rule, headers, cookies):
                    return self.match_version
        user = (headers.get(USER_HEADER) or cookies.get(USER_COOKIE) or "") if self.by_user else ""
        v = self.for_user(user) if user else self.weighted()
        if v is None or v in ready:
            return v
        alive = [(x, w) for x, w in self.weights.items() if w > 0 and x in ready]
        if not alive:
            return None
        return self._rng.choices([x for x, _ in alive], [w for _, w in alive])[0]

    def for_user(self, user: str) -> str | None:
        """The version ``user`` falls in: a stable hash of the user over the weights."""
        point = zlib.crc32(user.encode("utf-8", "replace")) % 100
        total = 0
        for version, w in sorted(self.weights.items()):
            total += w
            if w > 0 and point < total:
                return version
        return self.weighted()

    def with_user_routing(self, by_user: bool) -> Route:
        return Route(
            dict(self.weights),
            self.match,
            self.match_version,
            self.mirror_version,
            self.mirror_percent,
            by_user,
        )

    def mirror_to(self, served: str) -> str | None:
        """The version to copy this request to, if any (never the one that served it)."""
        if not self.mirror_version or self.mirror_percent <= 0 or served == self.mirror_version:
            return None
        if self._rng.random() * 100 < self.mirror_percent:
            return self.mirror_version
        return None

    def with_weights(self, weights: Mapping[str, int]) -> Route:
        return Route(
            dict(weights),
            self.match,
            self.match_version,
            self.mirror_version,
            self.mirror_percent,
            self.by_user,
        )

    def with_match(self, rules: Sequence[MatchRule], version: str | None) -> Route:
        rules_t = tuple(rules) if version else ()
        return Route(
            dict(self.weights),
            rules_t,
            version if rules_t else None,
            self.mirror_version,
            self.mirror_percent,
            self.by_user,
        )

    def with_mirror(self, version: str | None, percent: int) -> Route:
        if version is None or percent <= 0:
            return Route(dict(self.weights), self.match, self.match_version, None, 0, self.by_user)
        return Route(
            dict(self.weights), self.match, self.match_version, version, percent, self.by_user
        )

    def split(self) -> TrafficSplit:
        """This routing as the backends' shared TrafficSplit (the demo's split is exact)."""
        return TrafficSplit(
            dict(self.weights),
            self.match,
            self.match_version,
            self.mirror_version,
            self.mirror_percent,
        )

    def to_dict(self) -> dict[str, Any]:
        """The TrafficSplit JSON form."""
        return self.split().to_dict()
