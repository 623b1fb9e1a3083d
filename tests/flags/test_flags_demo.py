"""Feature flags against the real demo: services evaluate the flagd file through OpenFeature.

- toggling a flag changes the answers of requests sent a second later, and no request fails;
- a fractional split at 20 % gives about 20 % of distinct users the variant (binomial
  bounds), and a user always the same variant whichever instance answers;
- a malformed flag file is refused with file and field, and the services keep the last
  good flags;
- the gateway labels per-variant metrics (bounded) and the demo's metrics answer per variant.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from backends.base import FlagFileError
from backends.flagd import FlagdFile
from backends.local.demo_flags import SEED, flags_path
from tests.support.waits import wait_for, wait_until

pytestmark = pytest.mark.slow

RPS = 100


@pytest.fixture(scope="module")
def demo_options() -> dict[str, Any]:
    return {"rps": RPS, "instances": 2, "seed": 11}


@pytest.fixture
def flags(demo_env: Any) -> Iterator[FlagdFile]:
    """The demo's flag file, put back to the seed after each test."""
    backend = FlagdFile(flags_path(demo_env.state_dir))
    yield backend
    path = flags_path(demo_env.state_dir)
    path.write_text(json.dumps({"flags": SEED}))


def variants_of(resp: httpx.Response) -> dict[str, str]:
    """``x-lms-flags: a=on, b=off`` -> {"a": "on", "b": "off"}."""
    out = {}
    for part in resp.headers.get("x-lms-flags", "").split(","):
        k, _, v = part.strip().partition("=")
        if k:
            out[k] = v
    return out


def variant(client: httpx.Client, url: str, user: str, flag: str, **headers: str) -> str:
    resp = client.get(url, headers={"x-lms-user": user, **headers})
    assert resp.status_code == 200, resp.text
    return variants_of(resp)[flag]


def assignment(client: httpx.Client, base: str, users: int) -> dict[str, str]:
    """new-gradebook's variant for each of ``users`` distinct users (8 requests at a time)."""

    def one(i: int) -> tuple[str, str]:
        return f"user-{i}", variant(client, f"{base}/grades/s{i}", f"user-{i}", "new-gradebook")

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(pool.map(one, range(users)))


def test_answers_name_their_flags_and_the_seed_serves_the_beta_cohort(demo_env: Any) -> None:
    with httpx.Client() as c:
        grades = c.get(f"{demo_env.gateway_url}/grades/s1", headers={"x-lms-user": "u1"})
        assert variants_of(grades) == {"new-gradebook": "off"}
        assert "gradebook" not in grades.json()
        beta = c.get(
            f"{demo_env.gateway_url}/grades/s1",
            headers={"x-lms-user": "u1", "x-lms-beta": "true"},
        )
        assert variants_of(beta) == {"new-gradebook": "on"}
        assert beta.json()["gradebook"]["engine"] == "new"
        courses = c.get(f"{demo_env.gateway_url}/courses/3", headers={"x-lms-user": "u1"})
        assert variants_of(courses) == {"course-recommendations": "off"}
        enrollments = c.get(f"{demo_env.gateway_url}/enrollments?user=u1")
        assert "x-lms-flags" not in enrollments.headers  # it evaluates no flag


def test_toggle_changes_answers_within_a_second_and_never_fails(
    demo_env: Any, flags: FlagdFile
) -> None:
    url = f"{demo_env.gateway_url}/courses/3"
    seen: list[tuple[float, int, str]] = []  # (monotonic time sent, status, variant)
    stop = threading.Event()
    before = demo_env.control.load_stats()

    def probe() -> None:
        with httpx.Client() as c:
            for i in range(20_000):  # bounded; stopped long before
                if stop.is_set():
                    return
                sent = time.monotonic()
                try:
                    r = c.get(url, headers={"x-lms-user": f"u{i % 500}"}, timeout=10)
                except httpx.HTTPError as exc:
                    seen.append((sent, 0, type(exc).__name__))
                    continue
                seen.append((sent, r.status_code, variants_of(r).get("course-recommendations", "")))

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    try:
        wait_until(lambda: len(seen) > 20, 20, "the probe's first answers")
        switches: list[tuple[float, str]] = []
        for target in ("on", "off", "on"):
            flags.set_default("course-recommendations", target)
            switches.append((time.monotonic(), target))
            # The next switch only once this one has shown, so each gets its second.
            wait_until(
                lambda t=target: any(v == t for s, _, v in seen if s > switches[-1][0]),
                15,
                f"answers with course-recommendations={target}",
            )
            time.sleep(1.5)  # requests sent after the 1 s bound, for the check below
    finally:
        stop.set()
        worker.join(timeout=15)
    assert all(code == 200 for _, code, _ in seen), [x for x in seen if x[1] != 200][:5]
    for i, (at, target) in enumerate(switches):
        until = switches[i + 1][0] if i + 1 < len(switches) else math.inf
        late = [v for s, _, v in seen if at + 1.0 <= s < until]
        assert late, f"no request sent a second after switching to {target}"
        assert set(late) == {target}, (target, sorted(set(late)))
    # The demo's own load generator saw no failure either, while flags moved.
    wait_until(lambda: demo_env.control.load_stats()["in_flight"] < 50, 10, "in-flight requests")
    after = demo_env.control.load_stats()
    assert after["failed"] == before["failed"], after["last_error"]


def test_fractional_split_is_sticky_per_user_within_binomial_bounds(
    demo_env: Any, flags: FlagdFile
) -> None:
    flags.set_fractional("new-gradebook", {"on": 20, "off": 80})
    users = 400
    with httpx.Client(limits=httpx.Limits(max_connections=8)) as c:
        # Every instance has the split once two passes (answered round-robin by different
        # instances) agree user by user and someone gets "on" (nobody did before).
        previous: dict[str, str] = {}

        def settled() -> dict[str, str] | None:
            nonlocal previous
            now = assignment(c, demo_env.gateway_url, 100)
            same = now == previous and "on" in now.values()
            previous = now
            return now if same else None

        wait_for(settled, 60, "every instance serving the 20 % split")
        first = assignment(c, demo_env.gateway_url, users)
        second = assignment(c, demo_env.gateway_url, users)
    assert first == second  # the same user, the same variant, whichever instance answers
    on = sum(1 for v in first.values() if v == "on")
    mean, sd = users * 0.2, math.sqrt(users * 0.2 * 0.8)
    assert mean - 4 * sd <= on <= mean + 4 * sd, f"{on} of {users} users got 'on'"
    # The per-variant metrics see both variants.
    samples = wait_for(
        lambda: (
            s
            if (s := demo_env.env.metrics.flag_sample("new-gradebook", ["on", "off"], 60))[
                "on"
            ].requests
            else None
        ),
        20,
        "per-variant samples",
    )
    assert samples["off"].requests and samples["on"].p95 is not None
    text = httpx.get(f"{demo_env.gateway_url}/metrics").text
    assert (
        'lms_flag_request_duration_seconds_count{service="grades",flag="new-gradebook",variant="on"'
        in text
    )


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("{not json", ""),
        (
            {"flags": {"new-gradebook": {**SEED["new-gradebook"], "defaultVariant": "maybe"}}},
            "flags.new-gradebook.defaultVariant",
        ),
        (
            {
                "flags": {
                    "new-gradebook": {
                        **SEED["new-gradebook"],
                        "defaultVariant": "on",
                        "targeting": {"fractional": [["on", 30], ["off", 30]]},
                    }
                }
            },
            "flags.new-gradebook.targeting.fractional",
        ),
    ],
)
def test_malformed_file_is_refused_and_services_keep_the_last_good_flags(
    demo_env: Any, flags: FlagdFile, content: Any, field: str
) -> None:
    url = f"{demo_env.gateway_url}/grades/s1"
    flags.set_default("new-gradebook", "on")
    with httpx.Client() as c:
        wait_until(
            lambda: all(variant(c, url, "u1", "new-gradebook") == "on" for _ in range(8)),
            15,
            "new-gradebook on everywhere",
        )
        path = flags_path(demo_env.state_dir)
        log = Path(demo_env.state_dir) / "demo.log"
        log_before = log.read_text(errors="replace")
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(FlagFileError) as info:
            flags.flags()
        assert info.value.where == str(path) and info.value.field == field
        # Each instance (two per version) logs the refusal, naming file and field...
        wait_until(
            lambda: log.read_text(errors="replace").count(f"flags: {path}", len(log_before)) >= 4,
            15,
            "the instances refusing the file in the demo log",
        )
        # ...and keeps serving the last good flags.
        answers = [variant(c, url, f"u{i}", "new-gradebook") for i in range(40)]
        assert set(answers) == {"on"}
        refused = log.read_text(errors="replace")[len(log_before) :]
        assert f"{path}: {field}:" in refused if field else "not valid JSON" in refused
