"""The ``stores`` fixture: each ``StateStore`` implementation over a fresh, shared state.

``file`` is ``FileStateStore`` in a temporary directory; ``configmap`` is the Kubernetes
backend's ``ConfigMapStore`` connected to the API emulator (tests/kubernetes/fakecluster)
through a kubeconfig, as a user's environment entry would. Every store a test opens reads
its time from one injected ``Clock``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backends.local.store import FileStateStore
from tests.kubernetes.kubetest import connect, start_cluster
from tests.support.clock import Clock


@dataclass
class Stores:
    """Stores over one shared state: each ``open()`` is another console's view of it."""

    kind: str
    clock: Clock
    open: Callable[[], Any]


@pytest.fixture(params=["file", "configmap"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    clock = Clock()
    if request.param == "file":
        yield Stores("file", clock, lambda: FileStateStore(tmp_path / "state", clock=clock))
        return
    opened: list[Any] = []
    with contextlib.contextmanager(start_cluster)(tmp_path) as cluster:

        def open_store() -> Any:
            traffic, store = connect(cluster)
            opened.extend((traffic, store))
            store.clock = clock
            return store

        try:
            yield Stores("configmap", clock, open_store)
        finally:
            for x in opened:
                x.close()
