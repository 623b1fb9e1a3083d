"""Several foreign controllers in one environment (``controller: [argo-rollouts, flagger]``):
one ``ForeignController`` that lists the rollouts of all of them and sends each verb to the
controller that lists that name. Pure routing: each controller does its own I/O."""

from __future__ import annotations

from collections.abc import Sequence

from backends.base import AuditEntry, ForeignController, ForeignRollout, NotFound, Unsupported


class ForeignControllers:
    """``ForeignController`` over several; a name two controllers list is the first one's."""

    def __init__(self, controllers: Sequence[ForeignController]) -> None:
        self.controllers = tuple(controllers)
        self.name = "+".join(c.name for c in self.controllers)
        self.verbs = frozenset().union(*(c.verbs for c in self.controllers))

    def verbs_for(self, controller: str) -> frozenset[str]:
        """The verbs of the controller called ``controller`` (a rollout's ``controller``)."""
        for c in self.controllers:
            if c.name == controller:
                return c.verbs
        return frozenset()

    def rollouts(self) -> list[ForeignRollout]:
        seen: set[str] = set()
        out = []
        for c in self.controllers:
            for r in c.rollouts():
                if r.name not in seen:
                    seen.add(r.name)
                    out.append(r)
        return sorted(out, key=lambda r: r.name)

    def _owner(self, name: str) -> tuple[ForeignController, ForeignRollout]:
        for c in self.controllers:
            try:
                return c, c.rollout(name)
            except NotFound:
                continue
        raise NotFound(f"no rollout '{name}' in {self.name}")

    def rollout(self, name: str) -> ForeignRollout:
        return self._owner(name)[1]

    def act(self, name: str, verb: str, *, user: str, reason: str = "") -> str:
        owner, _ = self._owner(name)
        if verb not in owner.verbs:
            raise Unsupported(
                f"{owner.name} has no '{verb}'; it takes: {', '.join(sorted(owner.verbs))}"
            )
        return owner.act(name, verb, user=user, reason=reason)

    def history(self, name: str, limit: int | None = None) -> list[AuditEntry]:
        return self._owner(name)[0].history(name, limit)
