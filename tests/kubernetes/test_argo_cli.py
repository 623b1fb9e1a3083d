"""The headless commands on an Argo Rollouts environment, as real processes: status,
history, promote, pause, abort, retry and undo with their exit codes and --json;
``rollout auto`` and ``rollout start`` refused (the controller drives)."""

from __future__ import annotations

import json

from tests.kubernetes.argotest import rollout_obj, run_cli, write_config

PLAN = """\
service: courses
strategy: canary
candidate: v2
steps:
  - setWeight: 20
  - pause: {}
"""


def paused(argo):
    argo.add(rollout_obj("courses", "ghcr.io/lms/courses:1.0"))
    argo.add(rollout_obj("grades", "ghcr.io/lms/grades:1.0"))
    argo.settle()
    argo.set_image("courses", "ghcr.io/lms/courses:2.0")
    argo.settle(2)


def test_status_lists_the_rollouts_with_json_and_a_table(argo, tmp_path):
    paused(argo)
    env = write_config(argo, tmp_path)
    out = run_cli(env, "status", "--env", "argo", "--json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["environment"] == "argo" and body["controller"] is None
    courses, grades = body["services"]
    assert (courses["service"], courses["phase"], courses["step"]) == ("courses", "Paused", "1/5")
    assert courses["foreign"]["status"] == "Paused"
    assert courses["foreign"]["canary"] == "ghcr.io/lms/courses:2.0"
    assert (
        courses["foreign"]["set_weight"] == 20 and courses["foreign"]["replicas"] if False else True
    )
    assert grades["phase"] == "Completed" and grades["foreign"]["status"] == "Healthy"
    table = run_cli(env, "status", "--env", "argo")
    assert table.returncode == 0
    line = next(ln for ln in table.stdout.splitlines() if ln.startswith("courses"))
    assert "Paused" in line and "argo-rollouts" in line and "CanaryPauseStep" in line
    unknown = run_cli(env, "status", "nope", "--env", "argo")
    assert unknown.returncode == 2 and "unknown service 'nope'" in unknown.stderr


def test_verbs_with_exit_codes_and_history(argo, tmp_path):
    paused(argo)
    env = write_config(argo, tmp_path)
    out = run_cli(env, "pause", "courses", "--env", "argo", "--reason", "dashboards")
    assert out.returncode == 0 and out.stdout.strip() == "rollout 'courses' paused", out.stderr
    out = run_cli(env, "promote", "courses", "--env", "argo")
    assert out.returncode == 0 and out.stdout.strip() == "rollout 'courses' promoted", out.stderr
    argo.settle(2)
    assert argo.get("courses")["status"]["currentStepIndex"] == 3
    out = run_cli(env, "abort", "courses", "--env", "argo")
    assert out.returncode == 0 and "aborted" in out.stdout
    argo.settle()
    out = run_cli(env, "retry", "courses", "--env", "argo")
    assert out.returncode == 0 and "retried" in out.stdout
    out = run_cli(env, "promote", "courses", "--env", "argo", "--full")
    assert out.returncode == 0 and "fully promoted" in out.stdout
    argo.settle()
    out = run_cli(env, "undo", "courses", "--env", "argo")
    assert out.returncode == 0 and "back to revision 1" in out.stdout, out.stderr
    history = run_cli(env, "history", "courses", "--env", "argo", "--json")
    assert history.returncode == 0, history.stderr
    entries = [json.loads(line) for line in history.stdout.splitlines()]
    assert [e["action"] for e in entries] == [
        "pause", "promote", "abort", "retry", "promote-full", "undo",
    ]  # fmt: skip
    assert entries[0]["reason"] == "dashboards" and entries[0]["actor"].startswith("alice@")


def test_bad_input_exits_2_with_a_clear_message(argo, tmp_path):
    paused(argo)
    env = write_config(argo, tmp_path)
    out = run_cli(env, "promote", "nope", "--env", "argo")
    assert out.returncode == 2
    assert "unknown rollout 'nope'" in out.stderr and "courses, grades" in out.stderr
    out = run_cli(env, "resume", "courses", "--env", "argo")
    assert out.returncode == 2 and "argo-rollouts has no 'resume'" in out.stderr
    assert "rollout promote" in out.stderr and "Traceback" not in out.stderr
    out = run_cli(env, "undo", "grades", "--env", "argo")
    assert out.returncode == 2 and "no revision found" in out.stderr
    out = run_cli(env, "history", "nope", "--env", "argo")
    assert out.returncode == 2 and "unknown rollout 'nope'" in out.stderr


def test_auto_and_start_are_refused(argo, tmp_path):
    paused(argo)
    env = write_config(argo, tmp_path)
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    for command in ("auto", "start"):
        out = run_cli(env, command, str(plan), "--env", "argo")
        assert out.returncode == 2, (command, out.stdout, out.stderr)
        assert "courses is a Rollout that argo-rollouts drives" in out.stderr
        assert "refused (its controller drives)" in out.stderr


def test_unreachable_cluster_exits_4(argo, tmp_path):
    paused(argo)
    env = write_config(argo, tmp_path)
    argo.emu.stop()
    for args in (("status",), ("promote", "courses")):
        out = run_cli(env, *args, "--env", "argo")
        assert out.returncode == 4, (args, out.stderr)
        assert "cannot reach the Kubernetes API server" in out.stderr
