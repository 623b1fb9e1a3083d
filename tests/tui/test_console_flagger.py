"""The console's pause key on a Flagger Canary: a Waiting (paused) Canary is resumed, one
that runs is paused; a controller without a resume (Argo) is pointed to promote instead."""

from __future__ import annotations

from typing import Any

import pytest

from backends.base import ForeignRollout
from backends.kubernetes import flagger_parse
from tests.kubernetes.flaggertest import example
from tests.support.pilot import ready, settle

SIZE = (80, 24)


class FakeForeign:
    """A ForeignController listing one Canary (parsed from deploy/flagger/canary.yaml)."""

    def __init__(self, rollout: ForeignRollout, verbs: frozenset[str]) -> None:
        self.name = "flagger"
        self.verbs = verbs
        self._rollout = rollout

    def rollouts(self) -> list[ForeignRollout]:
        return [self._rollout]

    def rollout(self, name: str) -> ForeignRollout:
        return self._rollout

    def act(self, name: str, verb: str, *, user: str, reason: str = "") -> str:
        raise AssertionError("the recorder stands in for send_command")

    def history(self, name: str, limit: int | None = None) -> list[Any]:
        return []


def canary(phase: str) -> ForeignRollout:
    obj = example("Canary")
    obj["metadata"]["name"] = "alpha"  # sorts first: the selected row
    obj["status"] = {"phase": phase, "canaryWeight": 10, "failedChecks": 0, "iterations": 0}
    return flagger_parse.to_foreign(flagger_parse.canary(obj))


@pytest.mark.parametrize(
    ("phase", "verbs", "sent"),
    [
        ("Waiting", frozenset({"promote", "resume", "pause", "abort"}), "resume"),
        ("Progressing", frozenset({"promote", "resume", "pause", "abort"}), "pause"),
    ],
)
async def test_pause_key_on_a_canary(make_app, env_parts, recorder, phase, verbs, sent):
    env, _ = env_parts
    env.foreign = FakeForeign(canary(phase), verbs)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        table = app.screen.query_one("#services")
        assert [str(c) for c in table.get_row("alpha")][:2] == ["alpha", phase]
        await pilot.press("p")
        assert await settle(pilot, lambda: recorder.sent)
        assert recorder.sent == [("alpha", sent)]
