"""Fixtures for the Prometheus backend tests: a real Prometheus, started per module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backends.local.prometheus_runner import (
    PrometheusHandle,
    PrometheusNotInstalled,
    find_binary,
    start_prometheus,
)


def prometheus_or_skip() -> str:
    try:
        return find_binary()
    except PrometheusNotInstalled as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def start_prom(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., PrometheusHandle]]:
    """``start_prom(targets, workdir=None, **kw)`` starts a Prometheus (its data in ``workdir``,
    which may hold backfilled blocks) that is stopped when the module ends."""
    prometheus_or_skip()
    handles: list[PrometheusHandle] = []

    def start(targets: list[str], workdir: Path | None = None, **kw: object) -> PrometheusHandle:
        workdir = workdir or tmp_path_factory.mktemp("prometheus")
        handle = start_prometheus(targets, workdir, "1s", **kw)  # type: ignore[arg-type]
        handles.append(handle)
        return handle

    try:
        yield start
    finally:
        for h in handles:
            h.stop()
