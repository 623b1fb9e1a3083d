"""``fleet``: Debian's HAProxy over four demo instances (courses v1-1, v1-2, v2-1, v2-2),
one per test module, stopped (every process) when the module ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.haproxy.fleet import Fleet, start_fleet


@pytest.fixture(scope="module")
def fleet_servers() -> dict[str, int]:
    """Server name -> configured weight; override per module."""
    return {"v1-1": 1, "v1-2": 1, "v2-1": 1, "v2-2": 1}


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory, fleet_servers: dict[str, int]
) -> Iterator[Fleet]:
    f = start_fleet(tmp_path_factory.mktemp("haproxy"), fleet_servers)
    try:
        yield f
    finally:
        f.stop()
