"""End to end at 80x24: the console on an emulated cluster whose Rollouts Argo Rollouts
drives (the API emulator with Argo's CRDs and the simulated controller, in this process;
the real ``rollout`` CLI in tmux). Two Rollouts wait at a pause step; ``a`` on the first
promotes it and its step advances on screen while the other stays where it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kubernetes.argotest import ArgoCluster, paused_at_first_step, start_argo, write_config
from tests.support.tmux import Tmux, cluster_env_line, needs_tmux, rollout_cli, row
from tests.support.waits import wait_for

pytestmark = [pytest.mark.slow, needs_tmux]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[Tmux, ArgoCluster]]:
    gen = start_argo(tmp_path)
    argo = next(gen)
    paused_at_first_step(argo)  # courses and grades, both at 1/5
    argo.sim.start()  # from here the controller reconciles on its own
    env = write_config(argo, tmp_path)
    command = f"env {cluster_env_line(env)} {rollout_cli()} --env argo"
    tmux = Tmux.start("rollout-argo", 80, 24, command=command)
    try:
        yield tmux, argo
    finally:
        tmux.kill()
        gen.close()


def test_promote_from_the_keyboard_advances_the_step(console) -> None:
    tmux, argo = console

    def both_paused(s: str) -> bool:
        return all("Paused" in row(s, n) and "1/5" in row(s, n) for n in ("courses", "grades"))

    screen = tmux.wait(both_paused, 90, "both Rollouts paused at step 1/5")
    assert "set 20" in row(screen, "courses")
    tmux.keys("a")  # promote the selected row: the first, courses

    def advanced(s: str) -> bool:
        line = row(s, "courses")
        return any(f"{k}/5" in line for k in (3, 4))

    screen = tmux.wait(advanced, 90, "courses past its pause step")
    assert "1/5" in row(screen, "grades") and "Paused" in row(screen, "grades")
    status = argo.get("courses")["status"]
    assert status["currentStepIndex"] >= 3

    def audited() -> bool:  # the Event follows the patch (the client may still be importing)
        return any(
            e["reason"] == "RolloutConsole" and e["action"] == "promote"
            for e in argo.emu.list("", "events", "lms")
        )

    wait_for(audited, timeout=60, what="the Event recording the promote")
    tmux.keys("q")
