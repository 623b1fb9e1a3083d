"""SVG snapshots of the overview and detail screens at 80x24 and 160x48, deterministic data.

Fixed clock (T0, UTC), fixed samples and history, and a lease held by another driver so the
console is a viewer (no driver runs). Update with ``pytest --snapshot-update`` after review.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from rich.cells import cell_len

from backends.base import Phase
from console.view.overview import columns_for
from tests.support.pilot import settle

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _prepare(env_parts: Any) -> None:
    env, _ = env_parts
    env.store.acquire_lease("courses", "bob@ops:auto:42", 1e9)


async def _wait_data(pilot: Any, size: tuple[int, int], detail: bool = False) -> None:
    app = pilot.app
    # On a loaded machine the terminal's size can reach the app after the first paint: the
    # overview then rebuilds its table for the wider column set, and a picture taken before
    # that table is measured shows header-wide columns. Start from the final size.
    assert await settle(pilot, lambda: tuple(app.size) == size)
    overview = app.screen
    assert await settle(pilot, lambda: overview.columns == columns_for(size[0]))
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
    # that can come after the pause above (or a late resize rebuilds the table), and the
    # picture would show label-wide columns. Wait until every table holds rows and each
    # column is as wide as its widest cell, twice in a row across a pause.
    async def measured() -> bool:
        tables = list(app.screen.query("DataTable"))
        return await settle(pilot, lambda: all(_measured(t) for t in tables))

    assert await measured()
    await pilot.pause(0.2)
    assert await measured()


def _measured(table: Any) -> bool:
    """The table has rows and has measured its columns for them."""
    if table.row_count == 0 or table._require_update_dimensions:
        return False
    for key, column in table.columns.items():
        widest = max(
            (cell_len(str(getattr(c, "plain", c))) for c in table.get_column(key)), default=0
        )
        if column.content_width < widest:
            return False
    return True


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
    assert snap_compare(make_app(), terminal_size=size, run_before=partial(_wait_data, size=size))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_detail_snapshot(
    snap_compare: Any, make_app: Any, env_parts: Any, size: tuple[int, int]
) -> None:
    _prepare(env_parts)

    async def run_before(pilot: Any) -> None:
        await _wait_data(pilot, size, detail=True)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
