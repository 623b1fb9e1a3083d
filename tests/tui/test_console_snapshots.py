"""SVG snapshots of the overview and detail screens at 80x24 and 160x48, deterministic data.

Fixed clock (T0, UTC), fixed samples and history, and a lease held by another driver so the
console is a viewer (no driver runs). Update with ``pytest --snapshot-update`` after review.
"""

from __future__ import annotations

from typing import Any

import pytest

from backends.base import Phase
from tests.support.pilot import settle

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _prepare(env_parts: Any) -> None:
    env, _ = env_parts
    env.store.acquire_lease("courses", "bob@ops:auto:42", 1e9)


async def _wait_data(pilot: Any, detail: bool = False) -> None:
    app = pilot.app
    assert await settle(pilot, lambda: app.snapshot is not None and app.snapshot.services)
    if detail:
        await pilot.press("enter")
        assert await settle(
            pilot, lambda: len(app.buffer.series("courses", "v2", "p99", 900, app.clock())[0]) > 100
        )
    app.flash("? for help, : for commands")
    app.repaint()
    await pilot.pause(0.3)
    # A DataTable measures its columns when its message pump goes idle; on a loaded machine
    # that can come after the pause above, and the picture would show label-wide columns.
    tables = list(app.screen.query("DataTable"))
    assert await settle(pilot, lambda: not any(t._require_update_dimensions for t in tables))
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_overview_snapshot(
    snap_compare: Any, make_app: Any, env_parts: Any, size: tuple[int, int]
) -> None:
    _prepare(env_parts)
    env, _ = env_parts
    from tests.support.records import canary_record

    env.store.save(
        canary_record(
            "grades",
            phase=Phase.ROLLED_BACK,
            message="error-rate 0.31 > max 0.05 on v2 (2/2 failures) -> rolled back",
        ),
        0,
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=_wait_data)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_detail_snapshot(
    snap_compare: Any, make_app: Any, env_parts: Any, size: tuple[int, int]
) -> None:
    _prepare(env_parts)

    async def run_before(pilot: Any) -> None:
        await _wait_data(pilot, detail=True)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
