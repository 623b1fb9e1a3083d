"""deploy/rbac.yaml is exactly enough: every strategy works under it, and every rule is used."""

from __future__ import annotations

import yaml

from backends.base import (
    AuditEntry,
    Command,
    CommandKind,
    MatchRule,
    Phase,
    RolloutRecord,
    Strategy,
)
from tests.kubernetes.kubetest import DEPLOY, KINDS, NS, connect, manifests
from tests.support.waits import wait_for


def seed(emu, file: str, service: str) -> None:
    """Apply an example with its service renamed (several layouts side by side)."""
    text = (DEPLOY / "examples" / file).read_text().replace("courses", service)
    for doc in yaml.safe_load_all(text):
        if doc and doc["kind"] in KINDS:
            group, plural = KINDS[doc["kind"]]
            emu.put(group, plural, doc, NS)


def granted(role) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_every_strategy_runs_under_the_role_and_uses_all_of_it(cluster):
    role = next(d for d in manifests(DEPLOY / "rbac.yaml") if d["kind"] == "Role")
    # plus the optional ClusterRole that reads the Gateway API release (for `percent`)
    optional = next(
        d for d in manifests(DEPLOY / "rbac-gateway-version.yaml") if d["kind"] == "ClusterRole"
    )
    role = {"rules": role["rules"] + optional["rules"]}
    emu = cluster.emu
    seed(emu, "courses-canary.yaml", "courses")
    seed(emu, "courses-bluegreen.yaml", "grades")
    seed(emu, "courses-rolling.yaml", "enrollments")
    emu.use_role(role)
    start = len(emu.calls())
    traffic, store = connect(cluster)
    try:
        # canary: weights, beta route, mirror (with one conflict: re-read and retry)
        wait_for(lambda: traffic.health("courses")["v2"].ready == 3, what="courses v2")
        emu.fail_next("update", "httproutes", name="courses")
        traffic.set_split("courses", {"v1": 90, "v2": 10})
        traffic.set_match("courses", [MatchRule(headers={"x-lms-beta": "true"})], "v2")
        traffic.set_mirror("courses", "v2", 5)
        traffic.deploy("courses", "v3", 1)  # a new version gets its Deployment and Service
        # blue/green: preview follows the candidate, one selector patch switches
        traffic.deploy("grades", "v2", 2)
        wait_for(lambda: traffic.health("grades")["v2"].ready == 2, what="grades v2")
        traffic.set_split("grades", {"v1": 0, "v2": 100})
        traffic.retire("grades", "v1")
        # the Deployment's own rolling update, pause/resume, undo
        wait_for(lambda: traffic.rollout_status("enrollments")["ready"] == 4, what="enrollments")
        traffic.rolling_update("enrollments", "v2")
        traffic.pause("enrollments")
        traffic.resume("enrollments")
        wait_for(lambda: traffic.rollout_status("enrollments")["revision"] == 2, what="rev 2")
        traffic.rollback("enrollments")
        # state: record, audit, commands, lease
        rec = RolloutRecord("courses", Strategy.CANARY, "v1", "v2", Phase.PROGRESSING, {})
        store.save(store.save(rec, 0), 1)
        assert store.load("courses") is not None and store.services() == ["courses"]
        store.append_audit(AuditEntry(1.0, "courses", "engine", "set-split", "test"))
        store.post_command(Command(CommandKind.PAUSE, "courses"))
        wait_for(lambda: store.take_commands("courses"), what="command")
        assert store.acquire_lease("courses", "a", 10)
        store.clock = lambda: 2e9  # far later: the renewal must write
        assert store.renew("courses", "a", 10)
        store.release("courses", "a")
    finally:
        traffic.close()
        store.close()
    calls = emu.calls()[start:]
    used = {(r.group, r.plural, r.verb) for r in calls}
    # nothing was refused, and nothing the Role grants went unused
    assert used <= granted(role), used - granted(role)
    assert granted(role) - used == set()
