"""Contract tests against a REAL cluster: run only when KUBECONFIG is set (skipped otherwise).

    KUBECONFIG=~/.kube/config ROLLOUT_TEST_NAMESPACE=rollout-test pytest tests/kubernetes -k contract

They create short-lived objects named ``rollout-contract-<random>`` in the namespace (which
must exist) and delete them afterwards. The same behaviour is tested against the emulator
everywhere else; these check that the emulator did not flatter us.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from backends.base import ConflictError, Phase, RolloutRecord, Strategy

pytestmark = pytest.mark.skipif(
    not os.environ.get("KUBECONFIG"), reason="no KUBECONFIG: no real cluster to test against"
)
NS = os.environ.get("ROLLOUT_TEST_NAMESPACE", "default")


@pytest.fixture
def real() -> Iterator[tuple[Any, Any, str]]:
    from backends.kubernetes import from_config

    cfg = {"kind": "kubernetes", "namespace": NS, "kubeconfig": os.environ["KUBECONFIG"]}
    traffic, store = from_config(cfg, "contract")
    service = f"rollout-contract-{secrets.token_hex(3)}"
    try:
        yield traffic, store, service
    finally:
        traffic.close()
        store.close()
        _cleanup(traffic.api.client, service)


def _cleanup(api_client: Any, service: str) -> None:
    from kubernetes import client

    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    coord = client.CoordinationV1Api(api_client)
    for fn, name in [
        (core.delete_namespaced_config_map, f"rollout-{service}"),
        (core.delete_namespaced_config_map, f"rollout-{service}-audit"),
        (core.delete_namespaced_config_map, f"rollout-{service}-commands"),
        (coord.delete_namespaced_lease, f"rollout-{service}"),
        (apps.delete_namespaced_deployment, f"{service}-v1"),
        (core.delete_namespaced_service, service),
    ]:
        try:
            fn(name, NS)
        except Exception:
            pass  # not created by this test


def test_contract_store_cas_and_lease(real):
    _, store, service = real
    rec = RolloutRecord(service, Strategy.CANARY, "v1", "v2", Phase.PROGRESSING, {})
    saved = store.save(rec, 0)
    assert store.load(service) == saved
    with pytest.raises(ConflictError):
        store.save(rec, 0)
    assert store.acquire_lease(service, "contract-a", 10)
    assert not store.acquire_lease(service, "contract-b", 10)
    lease = store.lease(service)
    assert lease is not None and lease.holder == "contract-a"
    store.release(service, "contract-a")
    assert store.lease(service) is None


def test_contract_deployment_health_and_selector_switch(real):
    traffic, _, service = real
    from kubernetes import client

    labels = {"app": service, "version": "v1"}
    apps = client.AppsV1Api(traffic.api.client)
    apps.create_namespaced_deployment(
        NS,
        {
            "metadata": {"name": f"{service}-v1", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}]},
                },
            },
        },
    )
    client.CoreV1Api(traffic.api.client).create_namespaced_service(
        NS,
        {
            "metadata": {"name": service},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        h = traffic.health(service).get("v1")
        if h is not None and h.ready == 1:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"pod not ready in 120 s: {traffic.health(service)}")
    assert traffic.mode(service) == "selector"
    assert traffic.get_split(service).weights == {"v1": 100}
    traffic.set_split(service, {"v1": 100})  # one selector patch, accepted by the server
