"""kubectl's --kubeconfig, --context and -n/--namespace over the config file's environment,
and KUBECONFIG as kubectl reads it, against the emulator: two contexts point at it with
different namespaces, each namespace holding a different rollout record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from backends.base import Phase, RolloutRecord, Strategy
from console.cli import main
from console.commands.exits import EXIT_BAD_INPUT, EXIT_OK
from console.config import environments, kubeflags
from tests.kubernetes.kubetest import NS, Cluster

OTHER = "shop"


def two_contexts(cluster: Cluster) -> dict[str, Any]:
    """A kubeconfig with context ``a`` (namespace lms) and ``b`` (namespace shop)."""
    doc = cluster.emu.kubeconfig(NS, "a")
    doc["contexts"].append(
        {"name": "b", "context": {"cluster": "emu", "user": "emu", "namespace": OTHER}}
    )
    return doc


def seed(cluster: Cluster, path: Path, context: str, service: str) -> None:
    from backends.kubernetes import from_config

    traffic, store = from_config(
        {"kind": "kubernetes", "kubeconfig": str(path), "context": context}, "seed"
    )
    try:
        store.save(
            RolloutRecord(service, Strategy.CANARY, "v1", "v2", Phase.PAUSED, {}, message="gate"),
            0,
        )
    finally:
        traffic.close()
        store.close()


@pytest.fixture
def setup(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Config ``prod`` (context a, no namespace) and records: courses in lms, search in shop."""
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(two_contexts(cluster)))
    seed(cluster, path, "a", "courses")
    seed(cluster, path, "b", "search")
    cfg = tmp_path / "cfg" / "rollout" / "config.yaml"
    cfg.parent.mkdir(parents=True)
    prod = {"cluster": {"kind": "kubernetes", "kubeconfig": str(path), "context": "a"}}
    cfg.write_text(yaml.safe_dump({"environments": {"prod": prod, "metrics-only": None}}))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("ROLLOUT_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    # The commands leave their environment open (the process ends); here the watches would
    # outlive the emulator, so each one opened is closed at teardown.
    opened: list[Any] = []
    real = environments.open_environment

    def spy(*args: Any, **kwargs: Any) -> Any:
        env = real(*args, **kwargs)
        opened.append(env)
        return env

    monkeypatch.setattr(environments, "open_environment", spy)
    try:
        yield path
    finally:
        kubeflags.use(kubeflags.KubeFlags())  # the flags of the last main() stay set otherwise
        for env in opened:
            for part in (env.traffic, env.store):
                if part is not None:
                    part.close()


def status(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(["status", "--json", *argv])
    out = capsys.readouterr()
    body = json.loads(out.out) if code == EXIT_OK else None
    return code, body, out.err


def services(body: dict[str, Any]) -> list[str]:
    return [row["service"] for row in body["services"]]


def test_flags_override_the_environment_without_editing_the_config(setup, capsys):
    code, body, err = status(capsys, "--env", "prod")
    assert code == EXIT_OK, err
    assert services(body) == ["courses"]
    code, body, err = status(capsys, "--env", "prod", "-n", OTHER)
    assert code == EXIT_OK, err
    assert services(body) == ["search"]
    # the context's own namespace, once --context picks it
    code, body, err = status(capsys, "--env", "prod", "--context", "b")
    assert code == EXIT_OK, err
    assert services(body) == ["search"]
    # given before the subcommand, as with --env
    assert main(["--env", "prod", "--context", "b", "-n", NS, "status", "--json"]) == EXIT_OK
    assert services(json.loads(capsys.readouterr().out)) == ["courses"]
    # the history command too
    assert main(["history", "search", "--env", "prod", "--namespace", OTHER, "--json"]) == EXIT_OK


def test_an_environment_without_a_cluster_gets_one(setup, capsys):
    code, body, err = status(
        capsys, "--env", "metrics-only", "--kubeconfig", str(setup), "-n", OTHER
    )
    assert code == EXIT_OK, err
    assert body["environment"] == "metrics-only" and services(body) == ["search"]
    # without the flags it still has no cluster, as before
    assert main(["status", "--env", "metrics-only"]) == EXIT_BAD_INPUT
    assert "has no cluster" in capsys.readouterr().err


def test_kubeconfig_lists_several_files_as_kubectl_does(
    setup, cluster, tmp_path, monkeypatch, capsys
):
    doc = two_contexts(cluster)
    first, second = dict(doc), dict(doc)
    first["contexts"] = [c for c in doc["contexts"] if c["name"] == "b"]
    first["current-context"] = "b"
    second["contexts"] = [c for c in doc["contexts"] if c["name"] == "a"]
    second["current-context"] = "a"
    (tmp_path / "one").write_text(yaml.safe_dump(first))
    (tmp_path / "two").write_text(yaml.safe_dump(second))
    # a missing file in the list is skipped; the first current-context set wins
    listed = f"{tmp_path / 'missing'}:{tmp_path / 'one'}:{tmp_path / 'two'}"
    monkeypatch.setenv("KUBECONFIG", listed)
    # no --env and no configured default: the flags alone make the environment
    (tmp_path / "cfg" / "rollout" / "config.yaml").write_text("")
    code, body, err = status(capsys, "-n", OTHER)
    assert code == EXIT_OK, err
    assert body["environment"] == "kubernetes" and services(body) == ["search"]
    code, body, err = status(capsys, "--context", "a")
    assert code == EXIT_OK, err
    assert services(body) == ["courses"]  # context a from the second file, its namespace


def test_unknown_context_and_unreadable_kubeconfig_are_bad_input(setup, tmp_path, capsys):
    code, _, err = status(capsys, "--env", "prod", "--context", "nope")
    assert code == EXIT_BAD_INPUT
    assert "context 'nope' is not in" in err and "known contexts: a, b" in err
    assert "Traceback" not in err
    code, _, err = status(capsys, "--env", "prod", "--kubeconfig", str(tmp_path / "absent"))
    assert code == EXIT_BAD_INPUT
    assert f"cannot read kubeconfig {tmp_path / 'absent'} (no such file)" in err
    garbage = tmp_path / "garbage"
    garbage.write_text("clusters: [unclosed\n")
    code, _, err = status(capsys, "--kubeconfig", str(garbage))
    assert code == EXIT_BAD_INPUT and f"cannot read kubeconfig {garbage}" in err
    # the embedded demo has no kubeconfig to pick from
    code, _, err = status(capsys, "--env", "demo", "--context", "a")
    assert code == EXIT_BAD_INPUT and "embedded demo" in err
    # verbs report the same way
    assert main(["pause", "courses", "--env", "prod", "--context", "nope"]) == EXIT_BAD_INPUT
    assert "context 'nope'" in capsys.readouterr().err
