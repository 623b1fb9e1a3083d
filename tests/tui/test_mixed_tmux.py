"""End to end at 80x24: the console on an emulated cluster where Argo Rollouts drives two
Rollouts and Flagger one Canary (``controller: [argo-rollouts, flagger]``; the emulator with
both controllers' CRDs and simulations and the gate in this process, the real ``rollout``
CLI in tmux). The Canary waits for confirm-rollout; ``a`` on its row promotes it through
the gate, and its step advances on screen until Flagger has promoted it, while both
Rollouts stay at their pause step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kubernetes.argotest import paused_at_first_step, start_argo, write_config
from tests.kubernetes.fakecluster import flagger_crd
from tests.kubernetes.fakecluster.flaggersim import FlaggerSim
from tests.kubernetes.flaggertest import new_revision, phase, reconcile_until, seed
from tests.kubernetes.kubetest import NS
from tests.support.tmux import Tmux, cluster_env_line, needs_tmux, rollout_cli, row
from tests.support.waits import wait_for

pytestmark = [pytest.mark.slow, needs_tmux]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[Tmux, Any, FlaggerSim]]:
    from backends.kubernetes import gate_server

    gen = start_argo(tmp_path)
    argo = next(gen)
    paused_at_first_step(argo)  # courses and grades, both at 1/5
    flagger_crd.install(argo.emu)
    cluster = argo.cluster_cfg(controller=["argo-rollouts", "flagger"])
    gate = gate_server(cluster, "mixed", listen="127.0.0.1", port=0).start()
    seed(argo, gate.address, "search")
    # no pods run in this emulator: say the Deployment's replicas are ready (no alert mark)
    for name in ("search", "search-primary"):
        dep = argo.emu.get("apps", "deployments", NS, name)
        if dep is not None:
            dep["status"] = {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2}
            argo.emu.put("apps", "deployments", dep, NS)
    sim = FlaggerSim(argo.emu, NS, period=2.0)  # slow enough to see each step on screen
    reconcile_until(sim, lambda: phase(argo, "search") == "Initialized", "initialized")
    new_revision(argo, "search", "ghcr.io/example/lms-search:1.1.0")
    reconcile_until(sim, lambda: phase(argo, "search") == "Waiting", "waiting")
    argo.sim.start()  # from here both controllers reconcile on their own
    sim.start()
    env = write_config(argo, tmp_path, controller=["argo-rollouts", "flagger"])
    command = f"env {cluster_env_line(env)} {rollout_cli()} --env argo"
    tmux = Tmux.start("rollout-mixed", 80, 24, command=command)
    try:
        yield tmux, argo, sim
    finally:
        tmux.kill()
        sim.stop()
        gate.close()
        gen.close()


# At 80 columns the phase column may be cut to its first letters: match on those.
PAUSED, WAITING, PROGRESSING, SUCCEEDED = "Pause", "Wai", "Prog", "Succ"


def test_promote_a_canary_from_the_keyboard(console) -> None:
    tmux, argo, sim = console

    def all_three(s: str) -> bool:
        rollouts = all(PAUSED in row(s, n) and "1/5" in row(s, n) for n in ("courses", "grades"))
        return rollouts and WAITING in row(s, "search") and "0/7" in row(s, "search")

    tmux.wait(all_three, 90, "two Rollouts at 1/5 and the Canary waiting")
    tmux.keys("Down", "Down")  # the third row: search
    tmux.keys("a")  # promote: the gate opens confirm-rollout, -traffic-increase, -promotion

    def advancing(s: str) -> bool:
        line = row(s, "search")
        return PROGRESSING in line and any(f" {k}/7" in line for k in range(1, 6))

    tmux.wait(advancing, 90, "the Canary's step advancing")
    screen = tmux.wait(lambda s: SUCCEEDED in row(s, "search"), 90, "the Canary promoted")
    for name in ("courses", "grades"):
        assert "1/5" in row(screen, name) and PAUSED in row(screen, name)

    def audited() -> bool:
        return any(
            e["reason"] == "RolloutConsole"
            and e["action"] == "promote"
            and e["involvedObject"]["name"] == "search"
            for e in argo.emu.list("", "events", NS)
        )

    wait_for(audited, timeout=60, what="the Event recording the promote")
    assert any(c.type == "confirm-promotion" and c.code == 200 for c in sim.calls)
    tmux.keys("q")
