"""A wrong flag after a subcommand shows that subcommand's usage; each --help says what it does."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.cli import main


def test_unknown_flag_names_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["auto", "--bogus", "plan.yaml"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.startswith("usage: rollout auto ")
    assert "rollout auto: error: unrecognized arguments: --bogus" in err


def test_unknown_flag_without_subcommand_keeps_the_top_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--bogus"])
    assert exc.value.code == 2
    assert "rollout: error: unrecognized arguments: --bogus" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("promote", "leave the current pause or step"),
        ("abort", "roll back now"),
        ("history", "the audit log"),
        ("status", "show rollouts"),
    ],
)
def test_subcommand_help_says_what_it_does(
    command: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert says in out and "%%" not in out
    if command != "status":
        assert "the service, as listed by `rollout status`" in out


def test_demo_fault_help_lists_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "fields: errors, latency, slow_start, crash, unready" in out


@pytest.mark.parametrize("flag", ["--timeout", "--since"])
def test_negative_duration_is_named_not_a_missing_argument(
    flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("ROLLOUT_DEMO_DIR", str(tmp_path / "demo"))
    plan = tmp_path / "plan.yaml"
    plan.write_text("service: courses\ncandidate: v2\nsteps: [{setWeight: 10}]\n")
    command = "auto" if flag == "--timeout" else "analyze"
    code = main([command, str(plan), flag, "-5m"])
    err = capsys.readouterr().err
    assert code == 2
    assert "'-5m' is negative" in err
