"""Options given before the subcommand (`rollout --env X status`) reach the subcommand."""

from __future__ import annotations

import pytest

from console.cli import build_parser


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["--env", "staging", "status"], "staging"),
        (["status", "--env", "staging"], "staging"),
        (["--env", "staging", "auto", "plan.yaml"], "staging"),
        (["--env", "staging", "promote", "courses"], "staging"),
        (["status"], None),
        ([], None),
    ],
)
def test_env_before_or_after_the_subcommand(argv: list[str], env: str | None) -> None:
    # The subparser's own default used to overwrite the global --env with None, so
    # `rollout --env nope status` silently showed the demo.
    assert build_parser().parse_args(argv).env == env


@pytest.mark.parametrize(
    ("argv", "read_only"),
    [(["--read-only", "demo"], True), (["demo", "--read-only"], True), (["demo"], False)],
)
def test_read_only_before_or_after_demo(argv: list[str], read_only: bool) -> None:
    assert build_parser().parse_args(argv).read_only is read_only


def test_unknown_global_env_is_bad_input(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from console.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setenv("ROLLOUT_DEMO_DIR", str(tmp_path))
    assert main(["--env", "nope", "status"]) == 2
    assert "unknown environment 'nope'" in capsys.readouterr().err
