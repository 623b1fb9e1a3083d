"""End to end at 80x24: the console on an emulated cluster whose Rollouts Argo Rollouts
drives (the API emulator with Argo's CRDs and the simulated controller, in this process;
the real ``rollout`` CLI in tmux). Two Rollouts wait at a pause step; ``a`` on the first
promotes it and its step advances on screen while the other stays where it was."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kubernetes.argotest import ArgoCluster, rollout_obj, start_argo, write_config
from tests.support.waits import wait_for
from tests.tui.test_tmux_e2e import Tmux

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[Tmux, ArgoCluster]]:
    gen = start_argo(tmp_path)
    argo = next(gen)
    for name in ("courses", "grades"):
        argo.add(rollout_obj(name, f"ghcr.io/lms/{name}:1.0"))
        argo.settle()
        argo.set_image(name, f"ghcr.io/lms/{name}:2.0")
    argo.settle(2)  # both at their first pause step (1/5)
    argo.sim.start()  # from here the controller reconciles on its own
    env = write_config(argo, tmp_path)
    rollout = Path(sys.executable).parent / "rollout"
    keep = ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "ROLLOUT_DEMO_DIR", "USER")
    env_line = " ".join([*(f"{k}={env[k]}" for k in keep), "TERM=xterm-256color"])
    tmux = Tmux(f"rollout-argo-{uuid.uuid4().hex[:8]}")
    tmux.run(
        "new-session", "-d", "-s", tmux.name, "-x", "80", "-y", "24",
        f"env {env_line} {rollout} --env argo",
    )  # fmt: skip
    try:
        yield tmux, argo
    finally:
        if tmux.alive():
            tmux.run("kill-session", "-t", tmux.name)
        gen.close()


def row(screen: str, name: str) -> str:
    return next((ln for ln in screen.splitlines() if f" {name} " in f" {ln} "), "")


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
