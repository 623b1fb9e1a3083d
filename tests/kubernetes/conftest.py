"""Fixtures: an API emulator on 127.0.0.1, the simulated controllers, and the real backend.

``cluster`` gives a running emulator (with Gateway API) plus ``KubeSim``; ``kube`` connects
``backends.kubernetes.from_config`` to it through a kubeconfig file, exactly as a user's
environment entry would. Everything is stopped in teardown. Helpers are in kubetest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kubernetes.kubetest import Cluster, connect, start_cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    yield from start_cluster(tmp_path)


@pytest.fixture
def cluster_nogw(tmp_path: Path) -> Iterator[Cluster]:
    yield from start_cluster(tmp_path, gateway_api=False)


@pytest.fixture
def kube(cluster: Cluster) -> Iterator[tuple[Any, Any]]:
    traffic, store = connect(cluster)
    try:
        yield traffic, store
    finally:
        traffic.close()
        store.close()


@pytest.fixture
def argo(tmp_path: Path):
    """An emulator with Argo Rollouts' CRDs and its simulated controller (argotest.py);
    the controller reconciles only when a test calls ``argo.settle()``."""
    from tests.kubernetes.argotest import start_argo

    yield from start_argo(tmp_path)


@pytest.fixture
def flagger(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Flagger's CRDs on ``cluster``, the simulated Flagger (stepped by the test) and a config
    file whose environment says ``controller: flagger`` (flaggertest.py); the kubectl flags
    are reset afterwards."""
    from console.config import kubeflags
    from tests.kubernetes.flaggertest import setup

    yield from setup(cluster, tmp_path, monkeypatch)
    kubeflags.use(kubeflags.KubeFlags())


@pytest.fixture
def gate(flagger: Any) -> Iterator[Any]:
    """The gate for the ``flagger`` environment on 127.0.0.1 (a free port); what it logs is
    kept in ``gate.logged``."""
    from console.config.environments import open_gate
    from tests.kubernetes.flaggertest import ENV

    calls: list[dict[str, Any]] = []
    server = open_gate(ENV, listen="127.0.0.1", port=0, log=calls.append).start()
    server.logged = calls
    try:
        yield server
    finally:
        server.close()
