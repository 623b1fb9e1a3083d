"""The pure parts of the HAProxy backend: weights from percents and back, the Runtime API's
answers parsed, addresses and batches."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.base import Forbidden, NotFound
from backends.haproxy import from_config
from backends.haproxy.runtime import MAX_LINE, batch_lines, parse_address, refusal
from backends.haproxy.stats import join, parse_servers_state, parse_stat
from backends.haproxy.weights import (
    MAX_WEIGHT,
    VersionRule,
    largest_remainder,
    server_weights,
    split_of,
)

STAT = """\
# pxname,svname,status,weight,type,check_status,last_chk,check_desc,lastchg,addr
gw,FRONTEND,OPEN,,0,,,,,
courses,v1-vm01,UP,10,2,L7OK,,Layer7 check passed,12,10.0.0.1:80
courses,v2-vm02,DOWN,10,2,L4CON,Connection refused,Layer4 connection problem,3,10.0.0.2:80
courses,v2-vm03,DRAIN,10,2,,,,40,10.0.0.3:80
courses,BACKEND,UP,10,1,,,,,
"""
STATE = """\
1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight
3 courses 1 v1-vm01 10.0.0.1 2 0 10 10
3 courses 2 v2-vm02 10.0.0.2 0 0 10 10
3 courses 3 v2-vm03 10.0.0.3 2 8 7 10
"""


def test_answers_are_joined_per_server() -> None:
    servers = {s.name: s for s in join(parse_stat(STAT), parse_servers_state(STATE))}
    assert set(servers) == {"v1-vm01", "v2-vm02", "v2-vm03"}
    down, drained = servers["v2-vm02"], servers["v2-vm03"]
    assert not down.routable and down.problem() == "v2-vm02 DOWN: L4CON Connection refused (3s ago)"
    assert drained.routable and drained.drained and drained.effective_weight == 0
    assert drained.initial_weight == 10 and drained.user_weight == 7


def test_version_rule_default_and_custom() -> None:
    assert VersionRule().version("v1-vm03") == "v1"
    assert VersionRule().version("backup") is None
    assert VersionRule(r"app_(?P<version>v\d+)_\d+").version("app_v2_3") == "v2"
    with pytest.raises(ValueError, match="group"):
        VersionRule("v1.*")


def test_weights_spread_by_configured_weight_and_read_back() -> None:
    fleet = {"v1": [("a", 1), ("b", 3)], "v2": [("c", 1)]}
    weights = server_weights({"v1": 90, "v2": 10}, fleet)
    assert max(weights.values()) <= MAX_WEIGHT
    assert abs(weights["b"] / weights["a"] - 3) < 0.05
    assert split_of({v: [(s, weights[s]) for s, _ in ss] for v, ss in fleet.items()}) == {
        "v1": 90,
        "v2": 10,
    }
    assert server_weights({"v1": 100, "v2": 0}, fleet).keys() == {"a", "b"}
    with pytest.raises(ValueError, match="v3"):
        server_weights({"v3": 100}, fleet)


@given(
    st.integers(0, 100),
    st.lists(st.integers(1, 256), min_size=1, max_size=6),
    st.lists(st.integers(1, 256), min_size=1, max_size=6),
)
def test_any_percent_reads_back_exactly(p: int, w1: list[int], w2: list[int]) -> None:
    fleet = {
        "v1": [(f"v1-{i}", w) for i, w in enumerate(w1)],
        "v2": [(f"v2-{i}", w) for i, w in enumerate(w2)],
    }
    weights = server_weights({"v1": 100 - p, "v2": p}, fleet)
    assert all(0 <= w <= MAX_WEIGHT for w in weights.values())
    got = split_of({v: [(s, weights.get(s, 0)) for s, _ in ss] for v, ss in fleet.items()})
    assert got == {"v1": 100 - p, "v2": p}


def test_largest_remainder_sums_to_100() -> None:
    assert largest_remainder({"a": 1, "b": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}
    assert largest_remainder({"a": 0, "b": 0}) == {"a": 0, "b": 0}


def test_addresses() -> None:
    assert str(parse_address("/run/haproxy/admin.sock")) == "/run/haproxy/admin.sock"
    assert parse_address("unix@/tmp/a.sock").path == "/tmp/a.sock"
    assert (parse_address("127.0.0.1:9999").host, parse_address("ipv4@h:1").port) == (
        "127.0.0.1",
        1,
    )
    assert parse_address("admin.sock").path == "admin.sock"
    for bad in ("", "host:0", "host:x"):
        with pytest.raises(ValueError, match="Runtime API address"):
            parse_address(bad)


def test_batches_keep_order_and_stay_under_the_line_limit() -> None:
    cmds = [f"set server courses/v1-{i} weight 10" for i in range(1000)]
    lines = batch_lines(cmds)
    assert all(len(line) < MAX_LINE for line in lines)
    assert [c for line in lines for c in line.split("; ")] == cmds
    with pytest.raises(ValueError):
        batch_lines(["show stat; show info"])


def test_refusals_map_to_the_contract_errors() -> None:
    assert isinstance(refusal("/s", "set server a/b weight 1", "Permission denied\n"), Forbidden)
    assert isinstance(refusal("/s", "set server a/b weight 1", "No such server.\n"), NotFound)
    assert "level admin" in str(refusal("/s", "x", "Permission denied"))


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"cluster\.runtime"):
        from_config({"kind": "haproxy"}, "ha")
    with pytest.raises(ValueError, match=r"cluster\.backends"):
        from_config({"kind": "haproxy", "runtime": "/s", "backends": ["x"]}, "ha")
    with pytest.raises(ValueError, match=r"cluster\.runtimes"):
        from_config({"kind": "haproxy", "runtimes": "/s"}, "ha")
    with pytest.raises(ValueError, match="versionPattern"):
        from_config({"kind": "haproxy", "runtime": "/s", "versionPattern": "v.*"}, "ha")
    traffic = from_config(
        {"kind": "haproxy", "runtime": "h:1", "backends": {"courses": "be"}}, "ha"
    )
    assert traffic.backend_of == {"courses": "be"} and traffic.name == "haproxy ha"


def test_an_haproxy_environment_asks_metrics_for_the_mapped_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.config.environments import BackendNames, open_environment
    from console.config.settings import load_config

    (tmp_path / "rollout").mkdir()
    (tmp_path / "rollout" / "config.yaml").write_text(
        "environments:\n  ha:\n"
        "    cluster: {kind: haproxy, runtime: /nowhere.sock, backends: {courses: be_courses},"
        f" stateDir: {tmp_path / 'state'}}}\n"
        "    metrics: {kind: prometheus, url: 'http://127.0.0.1:1', provider: haproxy}\n"
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    env = open_environment("ha", load_config())
    assert isinstance(env.metrics, BackendNames)
    asked: list[str] = []
    env.metrics.inner = type(
        "Inner", (), {"sample": lambda self, s, v, w: asked.append(s) or {}, "supports": 1}
    )()
    env.metrics.sample("courses", ["v1"], 30)
    env.metrics.sample("grades", ["v1"], 30)
    assert asked == ["be_courses", "grades"] and env.metrics.supports == 1
