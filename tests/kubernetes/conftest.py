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
