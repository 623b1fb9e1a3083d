"""From a plan's percents to server weights and back. Pure.

A service's versions are told apart by server name (``VersionRule``). ``server_weights``
turns ``{version: percent}`` into one weight per server so that each version's share of the
backend's total weight is its percent, spread over that version's servers in proportion to
their configured weights; ``split_of`` reads the percents back from the weights in force,
with the same rounding, so a split set is read back exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

MAX_WEIGHT = 256  # HAProxy's largest server weight
DEFAULT_PATTERN = r"([^-]+)-.+"  # v1-vm03 -> v1


class VersionRule:
    """Which version a server belongs to: the pattern's ``version`` group (or its first
    group) when it matches the whole name; servers that do not match belong to none."""

    def __init__(self, pattern: str | None = None) -> None:
        source = pattern or DEFAULT_PATTERN
        try:
            self.regex = re.compile(source)
        except re.error as exc:
            raise ValueError(f"versionPattern: {source!r} is not a regex: {exc}") from None
        if self.regex.groups < 1:
            raise ValueError(
                f"versionPattern: {source!r} needs a group capturing the version, e.g. "
                r"'([^-]+)-.+' or '(?P<version>v[0-9]+)_.*'"
            )
        self.pattern = source

    def version(self, server: str) -> str | None:
        m = self.regex.fullmatch(server)
        if m is None:
            return None
        named = m.groupdict().get("version")
        return named if named is not None else m.group(1)


def largest_remainder(shares: Mapping[str, float]) -> dict[str, int]:
    """Integer percents summing to 100 from non-negative shares (all 0: all 0)."""
    total = sum(shares.values())
    if total <= 0:
        return {k: 0 for k in shares}
    raw = {k: 100 * v / total for k, v in shares.items()}
    out = {k: int(r) for k, r in raw.items()}
    left = 100 - sum(out.values())
    for k in sorted(raw, key=lambda k: (-(raw[k] - out[k]), k))[:left]:
        out[k] += 1
    return out


def split_of(fleet: Mapping[str, Sequence[tuple[str, int]]]) -> dict[str, int]:
    """``{version: [(server, weight in force)]}`` -> ``{version: percent}``."""
    return largest_remainder({v: float(sum(w for _, w in servers)) for v, servers in fleet.items()})


def server_weights(
    percents: Mapping[str, int], fleet: Mapping[str, Sequence[tuple[str, int]]]
) -> dict[str, int]:
    """Weights for the servers of versions that get traffic (``{server: weight}``); the
    servers of versions at 0 % are left out (the caller drains them).

    ``fleet`` maps each version to its servers and their configured weights. Raises
    ValueError when a version to be given traffic has no server with a configured weight.
    """
    wanted = {v: p for v, p in percents.items() if p > 0}
    for v in wanted:
        if sum(w for _, w in fleet.get(v, ())) <= 0:
            raise ValueError(f"version {v} has no server with a weight to give it traffic")
    if not wanted:
        return {}
    # The largest total weight T that keeps every server at or under MAX_WEIGHT, then smaller
    # totals until the weights read back as exactly the percents asked for.
    limit = min(
        MAX_WEIGHT * 100 * sum(w for _, w in fleet[v]) / (p * max(w for _, w in fleet[v]))
        for v, p in wanted.items()
    )
    target = {v: wanted.get(v, 0) for v in fleet}
    best: dict[str, int] = {}
    best_error = float("inf")
    top = int(limit)
    for total in range(top, max(0, top // 4), -1):
        weights = _spread(wanted, fleet, total)
        got = split_of(
            {v: [(s, weights.get(s, 0)) for s, _ in servers] for v, servers in fleet.items()}
        )
        if got == target:
            return weights
        error = sum(abs(got[v] - target[v]) for v in target)
        if error < best_error:
            best, best_error = weights, error
    return best


def _spread(
    wanted: Mapping[str, int], fleet: Mapping[str, Sequence[tuple[str, int]]], total: int
) -> dict[str, int]:
    out: dict[str, int] = {}
    for v, p in wanted.items():
        configured = sum(w for _, w in fleet[v])
        for server, w in fleet[v]:
            out[server] = min(MAX_WEIGHT, round(total * p / 100 * w / configured))
    return out
