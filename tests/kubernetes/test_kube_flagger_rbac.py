"""deploy/flagger/rbac.yaml is exactly enough for `rollout` on Flagger Canaries: the gate
answering the simulated Flagger, and status, history, resume, promote, pause and abort, run
a Canary to promotion and another to its rollback under only that Role; nothing is
refused, and every rule the Role grants is used."""

from __future__ import annotations

import json
from typing import Any

from console.cli import main
from console.commands.exits import EXIT_OK
from console.config.environments import open_gate
from tests.kubernetes.fakecluster.flagger_crd import GROUP
from tests.kubernetes.flaggertest import (
    ENV,
    new_revision,
    phase,
    reconcile_until,
    seed,
)
from tests.kubernetes.kubetest import DEPLOY, manifests
from tests.kubernetes.test_kube_rbac import granted

ROLE = DEPLOY / "flagger" / "rbac.yaml"


def role() -> dict[str, Any]:
    return next(d for d in manifests(ROLE) if d["kind"] == "Role")


def test_promote_and_rollback_under_the_role_use_all_of_it(flagger, capsys):
    c, sim = flagger.cluster, flagger.sim
    emu = c.emu
    r = role()
    assert r["metadata"]["namespace"] == "lms"
    server = open_gate(ENV, listen="127.0.0.1", port=0, log=lambda _: None).start()
    try:
        seed(c, server.address, "search")
        seed(c, server.address, "grades")
        reconcile_until(
            sim,
            lambda: phase(c, "search") == phase(c, "grades") == "Initialized",
            "initialized",
        )
        new_revision(c, "search", "ghcr.io/example/lms-search:1.1.0")
        new_revision(c, "grades", "ghcr.io/example/lms-grades:2.0.0")
        reconcile_until(
            sim, lambda: phase(c, "search") == phase(c, "grades") == "Waiting", "waiting"
        )
        emu.use_role(r)  # from here on, only what the Role grants
        mark = len(emu.calls())

        def cli(*argv: str) -> str:
            code = main([*argv, "--env", ENV])
            out = capsys.readouterr()
            assert code == EXIT_OK, out.err
            return out.out

        rows = json.loads(cli("status", "--json"))["services"]
        assert [r["service"] for r in rows] == ["grades", "search"]
        cli("promote", "search")
        reconcile_until(sim, lambda: phase(c, "search") == "Succeeded", "promoted")
        cli("resume", "grades")
        reconcile_until(sim, lambda: phase(c, "grades") == "Progressing", "progressing")
        cli("pause", "grades")
        cli("abort", "grades", "--reason", "errors")
        reconcile_until(sim, lambda: phase(c, "grades") == "Failed", "rolled back")
        history = [json.loads(x) for x in cli("history", "grades", "--json").splitlines()]
        assert [e["action"] for e in history if e["actor"] != "rollout-gate"][-3:] == [
            "resume",
            "pause",
            "abort",
        ]
        assert server.get("/healthz")[0] == 200
    finally:
        server.close()
    calls = emu.calls()[mark:]
    # the simulated Flagger writes through the emulator's own API, not over HTTP: every
    # logged request is ours
    used = {(x.group, x.plural, x.verb) for x in calls}
    assert used <= granted(r), used - granted(r)
    assert granted(r) - used == set()
    assert all(x.plural != "canaries" or x.verb in ("get", "list") for x in calls)
    assert not [x for x in calls if x.group == GROUP and x.verb in ("patch", "update")]
