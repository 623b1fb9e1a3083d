"""deploy/ manifests against the kubernetes client's models and the Gateway API fields."""

from __future__ import annotations

from typing import Any

import pytest

from backends.base import MatchRule
from tests.kubernetes.fakecluster.gateway_schema import (
    GATEWAY,
    HTTPROUTE,
    check_backend_refs,
    validate,
)
from tests.kubernetes.kubetest import DEPLOY, NS, apply, manifests
from tests.support.waits import wait_for

FILES = sorted(DEPLOY.rglob("*.yaml"))
GW = "gateway.networking.k8s.io"


def model_problems(doc: dict[str, Any]) -> list[str]:
    """Build the client's model for ``doc``; fields it does not know are problems."""
    from kubernetes import client

    cls = getattr(client, f"{doc['apiVersion'].split('/')[-1].capitalize()}{doc['kind']}")
    model = cls.from_dict(doc)  # raises on wrong types
    back = client.ApiClient().sanitize_for_serialization(model)
    return unknown(doc, back, "")


def unknown(orig: Any, back: Any, path: str) -> list[str]:
    if isinstance(orig, dict):
        if not isinstance(back, dict):
            return [f"{path}: not an object in the model"]
        out = []
        for k, v in orig.items():
            if k not in back:
                out.append(f"{path}.{k}: unknown field")
            else:
                out += unknown(v, back[k], f"{path}.{k}")
        return out
    if isinstance(orig, list):
        return [
            p
            for i, (a, b) in enumerate(zip(orig, back, strict=False))
            for p in unknown(a, b, f"{path}[{i}]")
        ]
    return []


def test_deploy_files_exist():
    names = {p.relative_to(DEPLOY).as_posix() for p in FILES}
    assert {
        "rbac.yaml",
        "examples/courses-canary.yaml",
        "examples/courses-bluegreen.yaml",
        "examples/courses-rolling.yaml",
    } <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_manifest_is_valid(path):
    docs = manifests(path)
    assert docs
    for doc in docs:
        where = f"{path.name}: {doc['kind']} {doc['metadata']['name']}"
        if doc["apiVersion"].startswith(GW):
            schema = HTTPROUTE if doc["kind"] == "HTTPRoute" else GATEWAY
            problems = validate(doc, schema) + check_backend_refs(doc)
        elif doc["apiVersion"].startswith("flagger.app/"):  # Flagger's published CRD schemas
            from tests.kubernetes.fakecluster.flagger_crd import object_problems

            problems = object_problems(doc)
        else:
            problems = model_problems(doc)
        assert problems == [], f"{where}: {problems}"


def test_model_check_catches_typos():
    doc = manifests(DEPLOY / "examples/courses-rolling.yaml")[0]
    doc["spec"]["replicaz"] = 3
    assert model_problems(doc) == [".spec.replicaz: unknown field"]
    route = next(
        d for d in manifests(DEPLOY / "examples/courses-canary.yaml") if d["kind"] == "HTTPRoute"
    )
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = -1
    route["spec"]["rules"][0]["backendRef"] = []
    assert validate(route, HTTPROUTE) == [
        ".spec.rules[0].backendRef: unknown field",
        ".spec.rules[0].backendRefs[0].weight: -1 outside 0..1000000",
    ]


def test_role_binds_the_service_account():
    docs = {d["kind"]: d for d in manifests(DEPLOY / "rbac.yaml")}
    binding = docs["RoleBinding"]
    assert binding["roleRef"]["name"] == docs["Role"]["metadata"]["name"]
    assert binding["subjects"][0]["name"] == docs["ServiceAccount"]["metadata"]["name"]
    for rule in docs["Role"]["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]


@pytest.mark.parametrize("bundle", ["v1.3.0", "v1.2.1"])
def test_routes_the_backend_writes_match_the_schema(cluster, bundle):
    from tests.kubernetes.kubetest import connect

    cluster.emu.put(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        {"metadata": {"name": f"httproutes.{GW}", "annotations": {f"{GW}/bundle-version": bundle}}},
    )
    apply(cluster.emu, DEPLOY / "examples/courses-canary.yaml")
    traffic, store = connect(cluster)
    try:
        wait_for(lambda: traffic.health("courses")["v2"].ready == 3, what="v2 ready")
        traffic.set_split("courses", {"v1": 95, "v2": 5})
        traffic.set_match(
            "courses", [MatchRule(headers={"x-lms-beta": "true"}, cookies={"beta": "1"})], "v2"
        )
        traffic.set_mirror("courses", "v2", 10)
        route = cluster.emu.get(GW, "httproutes", NS, "courses")
        assert validate(route, HTTPROUTE) + check_backend_refs(route) == []
        m = route["spec"]["rules"][-1]["filters"][0]["requestMirror"]
        assert ("percent" in m) == (bundle == "v1.3.0") and ("fraction" in m) == (
            bundle != "v1.3.0"
        )
        cookie = route["spec"]["rules"][0]["matches"][0]["headers"][1]
        assert cookie == {
            "type": "RegularExpression",
            "name": "cookie",
            "value": r"(^|;\s*)beta=1(;|$)",
        }
        got = traffic.get_split("courses")
        assert got.match == (MatchRule(headers={"x-lms-beta": "true"}, cookies={"beta": "1"}),)
    finally:
        traffic.close()
        store.close()
