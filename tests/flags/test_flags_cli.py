"""``rollout flags``: list, set, percent, off; exit codes 0, 2 and 4; every change audited.

The demo's flags are a file in its state directory, so these run on a seeded state
directory with no demo processes (``open_flags`` reads the recorded store for the audit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backends.local.demo_flags import flags_path, seed_flags
from console.cli import main


@pytest.fixture
def demo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "demo"
    monkeypatch.setenv("ROLLOUT_DEMO_DIR", str(state))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    state.mkdir()
    seed_flags(state)
    return state


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def listed(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, _ = run(capsys, "flags", "--json")
    assert code == 0
    return {f["key"]: f for f in json.loads(out)["flags"]}


def test_list_set_percent_off_and_the_audit(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "flags")
    assert code == 0
    assert "new-gradebook" in out and "x-lms-beta=true -> on; others -> off" in out
    code, out, _ = run(capsys, "flags", "set", "course-recommendations", "on", "--reason", "launch")
    assert code == 0 and "course-recommendations: everyone -> on" in out
    assert listed(capsys)["course-recommendations"]["default_variant"] == "on"
    code, out, _ = run(capsys, "flags", "set", "new-gradebook", "on", "--percent", "20")
    assert code == 0 and "20% on / 80% off by user" in out
    assert listed(capsys)["new-gradebook"]["fractional"] == {"on": 20, "off": 80}
    code, out, _ = run(capsys, "flags", "off", "new-gradebook")
    assert code == 0 and "new-gradebook: everyone -> off" in out
    code, out, _ = run(capsys, "flags", "off", "--all", "--reason", "incident 42")
    assert code == 0
    flags = listed(capsys)
    assert all(f["default_variant"] == "off" and not f["targeting"] for f in flags.values())
    code, out, _ = run(capsys, "history", "flags", "--json")
    assert code == 0
    entries = [json.loads(line) for line in out.splitlines()]
    assert [e["action"] for e in entries] == [
        "flag-set",
        "flag-percent",
        "flag-off",
        "flag-kill-all",
    ]
    assert (
        entries[0]["reason"].endswith("; launch")
        and entries[0]["data"]["flag"] == "course-recommendations"
    )
    assert entries[1]["data"]["after"][0]["fractional"] == {"on": 20, "off": 80}
    assert "incident 42" in entries[3]["reason"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ("flags", "set", "nope", "on"),
            "unknown flag 'nope'; known: new-gradebook, course-recommendations",
        ),
        (
            ("flags", "set", "new-gradebook", "maybe"),
            "has no variant 'maybe'; its variants: on, off",
        ),
        (("flags", "off", "nope"), "unknown flag 'nope'; known: "),
        (("flags", "set", "new-gradebook", "on", "--percent", "101"), "--percent must be 0..100"),
        (("flags", "off"), "name one FLAG, or --all"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(
    demo_dir: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], says: str
) -> None:
    before = flags_path(demo_dir).read_text()
    code, _, err = run(capsys, *argv)
    assert code == 2 and says in err, err
    assert flags_path(demo_dir).read_text() == before


def test_malformed_file_exits_2_naming_file_and_field(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = flags_path(demo_dir)
    raw = json.loads(path.read_text())
    raw["flags"]["new-gradebook"]["targeting"] = {"fractional": [["on", 20], ["off", 70]]}
    path.write_text(json.dumps(raw))
    for argv in (("flags",), ("flags", "off", "new-gradebook")):
        code, _, err = run(capsys, *argv)
        assert code == 2
        assert f"{path}: flags.new-gradebook.targeting.fractional: percentages sum to 90" in err


def test_unreachable_flag_source_exits_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config" / "rollout"
    config.mkdir(parents=True)
    missing = tmp_path / "gone" / "flags.json"
    (config / "config.yaml").write_text(
        f"environments:\n  staging:\n    flags: {{kind: flagd, file: {missing}}}\n"
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("ROLLOUT_DEMO_DIR", str(tmp_path / "no-demo"))
    code, _, err = run(capsys, "flags", "--env", "staging")
    assert code == 4 and f"no flag file at {missing}" in err
    code, _, err = run(capsys, "flags", "set", "new-gradebook", "on", "--env", "staging")
    assert code == 4
    # The demo with no flag file yet (never started) is unreachable too.
    code, _, err = run(capsys, "flags")
    assert code == 4 and "no flag file" in err
    # An environment without flags is a configuration to fix: 2, naming the key to add.
    (config / "config.yaml").write_text(
        "environments:\n  prod:\n    metrics: {kind: prometheus, url: http://127.0.0.1:1}\n"
    )
    code, _, err = run(capsys, "flags", "--env", "prod")
    assert code == 2 and "environments.prod.flags: {kind: flagd, file: PATH}" in err
