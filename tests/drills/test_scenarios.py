"""Scenario files, scoring and reports: pure, no demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from console.drills import catalog
from console.drills.load import ScenarioError, load_scenario, parse_scenario
from console.drills.report import ActionTaken, Report, render, render_list
from console.drills.scoring import Second, failed_until, score, verdict
from console.drills.timeline import due, parse_respond

GOOD = """\
name: my-drill
goal: Roll back the bad candidate.
plan:
  service: courses
  candidate: v2
  steps: [{setWeight: 20}, {pause: 5m}]
timeline:
  - {at: 12s, fault: {version: v2, errors: 0.2}}
  - {at: 4s, load: {rps: 300}}
expect: {action: abort, within: 10s}
automatic: {action: rollback, after: 6s}
limit: 40s
debrief: Look at v2's error rate.
"""


def test_every_builtin_scenario_loads() -> None:
    names = catalog.builtin_names()
    assert len(names) >= 8
    for name in names:
        s = catalog.builtin(name)
        assert s.name == name
        assert s.timeline and s.limit <= 60 and s.debrief
        assert s.incident + s.expect.within < s.limit


def test_a_good_scenario_and_its_defaults() -> None:
    s = parse_scenario(GOOD, "my.yaml")
    assert s.service == "courses"
    assert [e.at for e in s.timeline] == [4.0, 12.0]  # sorted by time
    assert s.incident == 4.0  # the first entry, unless `incident:` says otherwise
    assert s.expect.action == "rollback"  # abort and rollback are one verb
    assert "rollback" not in s.expect.wrong and "promote" in s.expect.wrong
    assert s.timeline[1].data == {"service": "courses", "version": "v2", "errors": 0.2}
    assert "setWeight: 20" in s.plan_yaml


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (GOOD.replace("errors: 0.2", "errors: 2"), 8, "timeline[0].fault.errors", "out of range"),
        (GOOD.replace("fault: {version", "faults: {version"), 8, "timeline[0].faults", "fault"),
        (GOOD.replace("action: abort", "action: rollbak"), 10, "expect.action", "rollback"),
        (GOOD.replace("setWeight: 20", "setWeight: 200"), 6, "plan.steps[0].setWeight", ""),
        (GOOD.replace("limit: 40s", "limit: 10s"), 8, "timeline[0].at", "before limit"),
        (GOOD.replace("debrief: Look at v2's error rate.\n", ""), 1, "debrief", "required"),
        (GOOD + "colour: red\n", 14, "colour", "unknown key"),
        (GOOD.replace("{rps: 300}", "{rps: lots}"), 9, "timeline[1].load.rps", "number"),
    ],
)
def test_malformed_scenarios_name_file_line_and_field(
    text: str, line: int, field: str, words: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "team.yaml")
    errors = info.value.errors
    assert any(e.line == line and e.field == field for e in errors), [str(e) for e in errors]
    assert any(words in e.message for e in errors if e.field == field)
    assert str(info.value).startswith(f"team.yaml:{errors[0].line}: ")


def test_not_yaml_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml:.*not valid YAML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioError, match="a scenario is a mapping"):
        parse_scenario("- 1\n", "list.yaml")


def _scenario():
    return parse_scenario(GOOD, "my.yaml")


def test_verdicts() -> None:
    s = _scenario()  # incident 4s, rollback within 10s
    assert verdict(s, [ActionTaken(9, "rollback")])[0] == "correct"
    assert verdict(s, [ActionTaken(15, "rollback")])[0] == "late"
    assert verdict(s, [])[0] == "late"
    assert verdict(s, [ActionTaken(6, "promote"), ActionTaken(8, "rollback")])[0] == "wrong"
    # a wrong verb after the right one does not undo it
    assert verdict(s, [ActionTaken(8, "rollback"), ActionTaken(9, "promote")])[0] == "correct"


def test_failed_counts_and_projection() -> None:
    series = [Second(float(t), 2.0) for t in range(1, 21)]  # 2 failures a second, 20 s
    assert failed_until(series, 4, 10, 20) == 12  # seconds 5..10
    assert failed_until(series, 4, 30, 20) == 32 + 20  # 16 recorded, then 10 s at 2/s


def test_score_late_fails_more_than_correct() -> None:
    s = _scenario()
    series = [Second(float(t), 3.0) for t in range(1, 41)]
    common = {"started_at": 1e9, "operator": "me@here", "mode": "headless"}
    good = score(s, [ActionTaken(9, "rollback")], series, ended_at=9, first_notice=7, **common)
    late = score(s, [ActionTaken(20, "rollback")], series, ended_at=20, first_notice=18, **common)
    none = score(s, [], series, ended_at=40, first_notice=None, **common)
    assert (good.verdict, late.verdict, none.verdict) == ("correct", "late", "late")
    assert good.failed < late.failed < none.failed
    assert good.right_action == 5 and good.first_notice == 3
    assert good.automatic_failed == 18  # 6 s after the incident at 3/s
    text = render(good)
    assert "CORRECT" in text and "Look at v2's error rate." in text
    back = Report.from_dict(json.loads(json.dumps(good.to_dict())))
    assert back == good
    assert "correct" in render_list([good, late])


def test_timeline_and_respond() -> None:
    s = _scenario()
    assert due(s.timeline, 0, 5) == [s.timeline[0]]
    assert due(s.timeline, 1, 5) == []
    assert due(s.timeline, 1, 12) == [s.timeline[1]]
    assert parse_respond("rollback@12") == ("rollback", 12.0)
    assert parse_respond("flag-off@1.5s") == ("flag-off", 1.5)
    for bad in ("rollback", "dance@3", "pause@soon"):
        with pytest.raises(ValueError, match="--respond"):
            parse_respond(bad)


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("ROLLOUT_DEMO_DIR", str(tmp_path / "demo"))
    return tmp_path


def test_cli_list_and_empty_report(dirs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drill", "--list"]) == 0
    out = capsys.readouterr().out
    assert "bad-canary" in out and "fleet-wide" in out
    assert main(["drill", "--report"]) == 0
    assert "no drills recorded yet" in capsys.readouterr().out


def test_cli_report_lists_saved_drills(dirs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = _scenario()
    r = score(s, [ActionTaken(9, "rollback")], [], ended_at=9, first_notice=None,
              started_at=1e9, operator="amy@box", mode="interactive")  # fmt: skip
    log = catalog.save_report(dirs / "state" / "rollout", r)
    with log.open("a") as f:
        f.write("not json\n")
    assert main(["drill", "--report"]) == 0
    captured = capsys.readouterr()
    assert "my-drill" in captured.out and "amy" in captured.out and "correct" in captured.out
    assert "1 line(s)" in captured.err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["drill", "no-such"], "no scenario named 'no-such'"),
        (["drill"], "name a scenario"),
        (["drill", "bad-canary", "--respond", "rollback@3"], "add --headless"),
        (["drill", "bad-canary", "--headless", "--respond", "dance@3"], "ACTION@SECONDS"),
    ],
)
def test_cli_bad_input_exits_2(
    dirs: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    assert main(argv) == 2
    assert words in capsys.readouterr().err


def test_cli_malformed_file_exits_2_with_line_and_field(
    dirs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = dirs / "team.yaml"
    path.write_text(GOOD.replace("errors: 0.2", "errors: -1"))
    assert main(["drill", "--file", str(path), "--headless"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:8: timeline[0].fault.errors:" in err


def test_the_example_in_the_docs_is_a_valid_scenario() -> None:
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "drills.md").read_text()
    found = re.search(r"```yaml\n(name: monday-peak.*?)```", doc, re.S)
    assert found is not None
    s = parse_scenario(found.group(1), "monday-peak.yaml")
    assert (s.incident, s.expect.action, s.slow) == (10.0, "rollback", 0.4)
