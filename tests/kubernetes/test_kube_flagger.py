"""Flagger Canaries through the console's commands and the gate webhooks, against the
emulator (Flagger's published Canary CRD) and the simulated Flagger calling the gate over
HTTP: a Canary held, promoted and rolled back by `rollout resume|promote|pause|abort`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest

from console.cli import main
from console.commands.exits import EXIT_BAD_INPUT, EXIT_OK
from tests.kubernetes.flaggertest import (
    ENV,
    FlaggerSetup,
    new_revision,
    phase,
    reconcile_until,
    seed,
    status,
)
from tests.kubernetes.kubetest import NS, ROOT


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--env", ENV])
    out = capsys.readouterr()
    return code, out.out, out.err


def status_row(capsys, name: str) -> dict[str, Any]:
    code, out, err = cli(capsys, "status", name, "--json")
    assert code == EXIT_OK, err
    (row,) = json.loads(out)["services"]
    return row


def primary_image(flagger: FlaggerSetup, name: str) -> str:
    dep = flagger.cluster.emu.get("apps", "deployments", NS, f"{name}-primary")
    assert dep is not None
    return dep["spec"]["template"]["spec"]["containers"][0]["image"]


def test_canary_promoted_and_rolled_back_through_the_gate(flagger, gate, capsys):
    c, sim = flagger.cluster, flagger.sim
    seed(c, gate.address)
    reconcile_until(sim, lambda: phase(c, "search") == "Initialized", "initialized")
    assert primary_image(flagger, "search").endswith(":1.0.0")

    # A new revision waits for confirm-rollout: closed until an operator says go.
    new_revision(c, "search", "ghcr.io/example/lms-search:1.1.0")
    reconcile_until(sim, lambda: phase(c, "search") == "Waiting", "waiting")
    sim.step()
    assert phase(c, "search") == "Waiting"
    row = status_row(capsys, "search")
    assert row["phase"] == "Paused" and row["driver"] == "flagger"
    assert row["foreign"]["status"] == "Waiting"
    assert row["foreign"]["pause_reasons"] == ["waiting for confirm-rollout"]

    # resume: the analysis starts and the weight steps up to maxWeight, then holds for
    # confirm-promotion
    code, out, err = cli(capsys, "resume", "search", "--reason", "looks fine")
    assert code == EXIT_OK, err
    assert "rollout open, traffic open, promotion closed" in out
    reconcile_until(sim, lambda: phase(c, "search") == "WaitingPromotion", "promotion gate")
    assert status(c, "search")["canaryWeight"] == 50
    row = status_row(capsys, "search")
    assert row["foreign"]["set_weight"] == 50 and row["phase"] == "Paused"
    assert row["foreign"]["failed_checks"] == 0 and row["foreign"]["threshold"] == 5

    # promote: confirm-promotion opens; Flagger promotes, the primary gets the new image
    code, out, err = cli(capsys, "promote", "search")
    assert code == EXIT_OK, err
    reconcile_until(sim, lambda: phase(c, "search") == "Succeeded", "succeeded")
    assert primary_image(flagger, "search").endswith(":1.1.0")
    assert status_row(capsys, "search")["phase"] == "Completed"

    # The one-time approvals were used up: the next revision waits for its own.
    new_revision(c, "search", "ghcr.io/example/lms-search:1.2.0")
    reconcile_until(sim, lambda: phase(c, "search") == "Waiting", "waiting again")
    assert cli(capsys, "resume", "search")[0] == EXIT_OK
    reconcile_until(sim, lambda: status(c, "search").get("canaryWeight") == 20, "weight 20")

    # pause: confirm-traffic-increase closes; Flagger holds the weight where it is
    assert cli(capsys, "pause", "search")[0] == EXIT_OK
    for _ in range(3):
        sim.step()
    assert status(c, "search")["canaryWeight"] == 20
    assert phase(c, "search") == "Progressing"
    row = status_row(capsys, "search")  # Flagger says Progressing; the console knows better
    assert row["phase"] == "Paused" and row["foreign"]["status"] == "Progressing"
    assert row["foreign"]["pause_reasons"] == ["confirm-traffic-increase closed (paused)"]

    # abort: the rollback webhook answers 200 and Flagger fails the canary
    code, out, err = cli(capsys, "abort", "search", "--reason", "latency")
    assert code == EXIT_OK, err
    assert "rollback requested" in out
    reconcile_until(sim, lambda: phase(c, "search") == "Failed", "rolled back")
    assert status(c, "search")["canaryWeight"] == 0
    assert primary_image(flagger, "search").endswith(":1.1.0")  # the primary was kept
    row = status_row(capsys, "search")
    assert row["phase"] == "RolledBack" and row["foreign"]["aborted"]

    # The request was used up too: a later revision is not rolled back by it.
    code, out, err = cli(capsys, "status", "search", "--json")
    gates = json.loads(urllib.request.urlopen(f"{gate.address}/gates", timeout=5).read())
    assert gates["canaries"]["search"]["rollback"] is False

    # Every call carried Flagger's payload, and got 200 (open) or 403 (closed).
    first = sim.calls[0]
    assert first.type == "confirm-rollout" and first.code == 403
    assert set(first.payload) == {"name", "namespace", "phase", "checksum"}
    assert first.payload["name"] == "search" and first.payload["namespace"] == NS
    assert {call.code for call in sim.calls} == {200, 403}
    assert {log["gate"] for log in gate.logged} == {
        "confirm-rollout",
        "confirm-traffic-increase",
        "confirm-promotion",
        "rollback",
    }

    # The audit: each verb with who and why, and each approval the gate used up.
    code, out, err = cli(capsys, "history", "search", "--json")
    assert code == EXIT_OK, err
    entries = [json.loads(line) for line in out.splitlines()]
    ours = [e["action"] for e in entries if e["action"] in ("resume", "promote", "pause", "abort")]
    assert ours == ["resume", "promote", "resume", "pause", "abort"]
    assert any(e["action"] == "gate-rollback" and e["actor"] == "rollout-gate" for e in entries)
    aborted = next(e for e in entries if e["action"] == "abort")
    assert aborted["reason"].startswith("latency") and "@" in aborted["actor"]


def test_verbs_flagger_has_no_gate_for_are_refused(flagger, gate, capsys):
    c, sim = flagger.cluster, flagger.sim
    seed(c, gate.address)
    reconcile_until(sim, lambda: phase(c, "search") == "Initialized", "initialized")
    # retry, undo, promote --full: no such thing in Flagger
    for argv in (("retry", "search"), ("undo", "search"), ("promote", "search", "--full")):
        code, _, err = cli(capsys, *argv)
        assert code == EXIT_BAD_INPUT, (argv, err)
        assert "flagger" in err and "Traceback" not in err
    # abort outside a rollout: Flagger would not ask, and a stale request would fail the next
    code, _, err = cli(capsys, "abort", "search")
    assert code == EXIT_BAD_INPUT and "Initialized" in err
    # an unknown canary
    code, _, err = cli(capsys, "promote", "nope")
    assert code == EXIT_BAD_INPUT and "search" in err


def test_rollout_auto_and_start_are_refused(flagger, gate, capsys, tmp_path):
    seed(flagger.cluster, gate.address)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "service: search\nstrategy: canary\nstable: v1\ncandidate: v2\nsteps:\n  - setWeight: 50\n"
    )
    for command in ("auto", "start"):
        code, _, err = cli(capsys, command, str(plan))
        assert code == EXIT_BAD_INPUT, err
        assert "controller drives" in err or "driven by flagger" in err


def test_gate_without_hooks_is_refused(flagger, gate, capsys):
    c, sim = flagger.cluster, flagger.sim
    seed(c, gate.address, name="grades", webhooks=[])
    reconcile_until(sim, lambda: phase(c, "grades") == "Initialized", "initialized")
    code, _, err = cli(capsys, "promote", "grades")
    assert code == EXIT_BAD_INPUT and "rollout gate" in err


def test_gate_endpoints_answer_what_flagger_expects(flagger, gate):
    def post(path: str, body: Any) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{gate.address}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    payload = {"name": "search", "namespace": NS, "phase": "Progressing", "checksum": "x"}
    assert post("/gate/confirm-traffic-increase", payload)[0] == 200  # open by default
    assert post("/gate/confirm-promotion", payload)[0] == 403
    assert post("/gate/rollback", payload)[0] == 403
    assert post("/gate/rollback", {**payload, "namespace": "other"})[0] == 403
    assert post("/gate/event", payload)[0] == 404
    code, body = post("/gate/rollback", {"phase": "Progressing"})
    assert code == 400 and "name and namespace" in body["error"]
    with urllib.request.urlopen(f"{gate.address}/healthz", timeout=5) as resp:
        assert resp.status == 200


def test_rollout_gate_command_serves_and_stops_on_sigterm(flagger, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # XDG_* from the fixture: the config
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "gate", "--env", ENV, "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())  # blocks until it listens (or fails)
        assert line["kind"] == "listening" and line["namespace"] == NS
        body = json.dumps({"name": "search", "namespace": NS, "phase": "Waiting"}).encode()
        request = urllib.request.Request(
            f"{line['address']}/gate/confirm-rollout", data=body, method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as closed:
            urllib.request.urlopen(request, timeout=10)
        assert closed.value.code == 403
        logged = json.loads(proc.stdout.readline())
        assert logged["gate"] == "confirm-rollout" and logged["code"] == 403
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == EXIT_OK
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_rollout_gate_needs_a_kubernetes_environment(flagger, capsys):
    assert main(["gate", "--env", "demo"]) == EXIT_BAD_INPUT
    assert "no Kubernetes cluster" in capsys.readouterr().err
    assert main(["gate", "--env", ENV, "--context", "nope"]) == EXIT_BAD_INPUT
    assert "context 'nope'" in capsys.readouterr().err
