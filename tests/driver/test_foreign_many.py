"""Several foreign controllers in one environment: listed together, each verb and history
to the controller that lists the name, verbs it lacks refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from backends.base import AuditEntry, ForeignRollout, NotFound, Phase, Strategy, Unsupported
from console.driver.foreign_many import ForeignControllers


class Fake:
    def __init__(self, name: str, names: list[str], verbs: set[str]) -> None:
        self.name, self.verbs, self.names = name, frozenset(verbs), names
        self.acted: list[tuple[str, str]] = []

    def _r(self, n: str) -> ForeignRollout:
        return ForeignRollout(self.name, "X", n, Phase.PAUSED, "Paused", Strategy.CANARY)

    def rollouts(self) -> list[ForeignRollout]:
        return [self._r(n) for n in self.names]

    def rollout(self, name: str) -> ForeignRollout:
        if name not in self.names:
            raise NotFound(name)
        return self._r(name)

    def act(self, name: str, verb: str, *, user: str, reason: str = "") -> str:
        self.acted.append((name, verb))
        return f"{self.name} {verb} {name}"

    def history(self, name: str, limit: int | None = None) -> list[AuditEntry]:
        return [AuditEntry(1.0, name, self.name, "x", "")]


def test_routing() -> None:
    argo = Fake("argo-rollouts", ["courses", "grades"], {"promote", "undo", "pause"})
    flagger = Fake("flagger", ["search", "grades"], {"promote", "resume", "pause"})
    both: Any = ForeignControllers([argo, flagger])
    assert both.name == "argo-rollouts+flagger"
    assert both.verbs == {"promote", "undo", "pause", "resume"}
    assert both.verbs_for("flagger") == {"promote", "resume", "pause"}
    # a name both list is the first controller's
    assert [(r.name, r.controller) for r in both.rollouts()] == [
        ("courses", "argo-rollouts"),
        ("grades", "argo-rollouts"),
        ("search", "flagger"),
    ]
    assert both.act("search", "resume", user="me@h") == "flagger resume search"
    assert both.act("courses", "undo", user="me@h") == "argo-rollouts undo courses"
    with pytest.raises(Unsupported, match="argo-rollouts has no 'resume'"):
        both.act("courses", "resume", user="me@h")
    with pytest.raises(Unsupported, match="flagger has no 'undo'"):
        both.act("search", "undo", user="me@h")
    assert both.history("search")[0].actor == "flagger"
    with pytest.raises(NotFound):
        both.rollout("nope")
