"""``rollout validate`` as a user runs it: a real subprocess, real files, exit codes and output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
BROKEN = sorted((ROOT / "examples" / "broken").glob("*.yaml"))

# What each deliberately broken file must report: (line, field) in order.
EXPECTED = {
    "bad-values.yaml": [
        (15, "steps[0].setWeight"),
        (16, "steps[1].pause"),
        (17, "steps[2].pause"),
        (19, "analysis.onFailure"),
        (21, "analysis.metrics[0].max"),
        (22, "analysis.metrics[1].max"),
        (24, "match[0].header.x-lms-beta"),
        (25, "mirror"),
        (27, "notify.webhooks[0]"),
    ],
    "custom-metric.yaml": [
        (12, "analysis.metrics[0].name"),
        (13, "analysis.metrics[1].query"),
        (14, "analysis.metrics[2]"),
        (15, "analysis.metrics[3].query"),
        (16, "analysis.metrics[4].min"),
    ],
    "missing-required.yaml": [(5, "service"), (5, "candidate"), (5, "steps")],
    "not-a-plan.yaml": [(2, "")],
    "syntax-error.yaml": [(7, "")],
    "typos.yaml": [
        (12, "steps[1].setweight"),
        (16, "analysis.failure_limit"),
        (17, "analysis.metric"),
        (19, "notfy"),
    ],
    "wrong-strategy.yaml": [(9, "steps"), (11, "analysis"), (13, "maxSurge"), (14, "autoPromote")],
}


def rollout(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("rollout")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "console.cli"]
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [*cmd, "validate", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


def parse_errors(stderr: str, path: Path) -> list[tuple[int, str]]:
    """``FILE:LINE: FIELD: message`` lines -> [(line, field)] (field '' for file-level)."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith(f"{path}:") or (line.endswith(")") and "invalid plan" in line):
            continue
        _, lineno, rest = line.split(":", 2)
        head, _, tail = rest.strip().partition(": ")
        field = head if tail and " " not in head else ""
        out.append((int(lineno), field))
    return out


def test_examples_are_valid_and_summarized() -> None:
    assert len(EXAMPLES) >= 3
    # Paths relative to the checkout (rollout runs there): the summary names the file, and
    # its width must not depend on where the checkout lives.
    r = rollout(*(p.relative_to(ROOT) for p in EXAMPLES))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # no errors, no warnings
    for service, strategy in [
        ("courses", "canary"),
        ("enrollments", "bluegreen"),
        ("grades", "rolling"),
    ]:
        assert f"{service}: {strategy} from v1 to v2" in r.stdout
    assert "on failure: roll back to v1" in r.stdout
    for block in r.stdout.split("\n\n"):
        lines = block.splitlines()
        assert len(lines) <= 24 and max(map(len, lines)) <= 80, block


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_broken_files_exit_2_with_file_line_field(path: Path) -> None:
    r = rollout(path.relative_to(ROOT))
    rel = path.relative_to(ROOT)
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert parse_errors(r.stderr, rel) == EXPECTED[path.name]
    n = len(EXPECTED[path.name])
    assert r.stderr.splitlines()[-1] == f"{rel}: invalid plan ({n} error{'s' * (n != 1)})"


def test_every_broken_file_is_covered() -> None:
    assert sorted(p.name for p in BROKEN) == sorted(EXPECTED)


def test_each_error_line_points_at_its_field() -> None:
    # The reported line holds the key the field path ends in, or the list item it names;
    # a missing required key points at the start of the plan.
    for path in BROKEN:
        lines = path.read_text().splitlines()
        for lineno, field in EXPECTED[path.name]:
            text = lines[lineno - 1]
            if path.name == "missing-required.yaml":
                assert lineno == next(i for i, t in enumerate(lines, 1) if not t.startswith("#"))
            elif field.endswith("]"):
                # a block item ("- ...") or a flow list ("key: [...]")
                assert text.lstrip().startswith("- ") or "[" in text, (path.name, lineno, field)
            elif field:
                assert field.rsplit(".", 1)[-1].split("[")[0] in text, (path.name, lineno, field)


def test_missing_file_directory_and_mixed(tmp_path: Path) -> None:
    r = rollout(tmp_path / "nope.yaml")
    assert (r.returncode, r.stderr.splitlines()[0]) == (
        2,
        f"{tmp_path / 'nope.yaml'}: no such file",
    )
    r = rollout(tmp_path)
    assert r.returncode == 2
    assert f"{tmp_path}: is a directory" in r.stderr
    # One bad file among good ones: the good ones are still summarized, the exit is 2.
    r = rollout(EXAMPLES[0], tmp_path / "nope.yaml", EXAMPLES[1])
    assert r.returncode == 2
    assert r.stdout.count(" from v1 to v2") == 2
    assert "Traceback" not in r.stderr


def test_warnings_go_to_stderr_and_exit_0(tmp_path: Path) -> None:
    p = tmp_path / "warn.yaml"
    p.write_text("service: courses\ncandidate: v2\nsteps:\n  - setWeight: 50\n  - setWeight: 10\n")
    r = rollout(p)
    assert r.returncode == 0
    assert "courses: canary from stable" in r.stdout
    assert f"{p}:5: steps[1].setWeight: warning: weight goes down from 50% to 10%" in r.stderr


def test_binary_file_is_rejected_cleanly(tmp_path: Path) -> None:
    p = tmp_path / "junk.yaml"
    p.write_bytes(bytes(range(256)) * 4)
    r = rollout(p)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith(f"{p}:")
