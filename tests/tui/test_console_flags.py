"""Pilot tests of the Flags screen at 80x24 on a flag file (no demo processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backends.flagd import FlagdFile
from backends.local.demo_flags import seed_flags
from console.tui.screens.dialogs import ConfirmDialog
from console.tui.screens.flags import FlagsScreen, PercentDialog, toggle_target
from tests.support.pilot import flash_text, ready, settle

SIZE = (80, 24)


def with_flags(env_parts: Any, tmp_path: Path) -> FlagdFile:
    env, _ = env_parts
    (tmp_path / "flagdir").mkdir()
    env.flags = FlagdFile(seed_flags(tmp_path / "flagdir"))
    return env.flags


def rows(app: Any) -> list[list[str]]:
    table = app.screen.query_one("#flag-table")
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_screen_lists_flags_and_percent_sets_a_split(
    make_app: Any, env_parts: Any, tmp_path: Path
) -> None:
    flags = with_flags(env_parts, tmp_path)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("f")
        assert await settle(pilot, lambda: isinstance(app.screen, FlagsScreen) and rows(app))
        assert rows(app)[0][:4] == ["new-gradebook", "on", "on", "x-lms-beta"]
        assert rows(app)[1][2:4] == ["off", "default"]
        summary = str(app.screen.query_one("#flag-summary").render())
        assert "no per-variant metrics here" in summary  # the fake metrics carry no labels
        await pilot.press("percent_sign")
        assert await settle(pilot, lambda: isinstance(app.screen, PercentDialog))
        await pilot.press("1", "0", "1", "enter")  # out of range: the dialog stays
        assert await settle(
            pilot, lambda: "0..100" in str(app.screen.query_one("#percent-error").render())
        )
        await pilot.press("backspace", "backspace", "backspace", "2", "5", "enter")
        assert await settle(
            pilot, lambda: flags.flag("new-gradebook").fractional == {"on": 25, "off": 75}
        )
        assert await settle(
            pilot, lambda: "new-gradebook -> on for 25% of users" in flash_text(app)
        )
        assert await settle(pilot, lambda: rows(app) and rows(app)[0][3] == "x-lms-beta 25%")
        audit = app.env.store.read_audit("flags")
        assert [a.action for a in audit] == ["flag-percent"]
        assert audit[0].reason == "new-gradebook -> on for 25% of users; percent from the console"
        await pilot.press("escape")
        assert await settle(pilot, lambda: not isinstance(app.screen, FlagsScreen))


async def test_read_only_hides_and_refuses_the_changing_keys(
    make_app: Any, env_parts: Any, tmp_path: Path
) -> None:
    flags = with_flags(env_parts, tmp_path)
    before = flags.path.read_text()
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("f")
        assert await settle(pilot, lambda: isinstance(app.screen, FlagsScreen) and rows(app))
        bar = str(app.screen.query_one("#keys").render())
        assert "toggle" not in bar and "kill" not in bar
        for key in ("t", "K", "percent_sign"):
            await pilot.press(key)
            assert not isinstance(app.screen, ConfirmDialog | PercentDialog)
        assert await settle(pilot, lambda: "read-only" in flash_text(app))
    assert flags.path.read_text() == before


async def test_no_flags_configured_says_what_to_add(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("f")
        assert await settle(pilot, lambda: isinstance(app.screen, FlagsScreen))
        assert await settle(
            pilot,
            lambda: (
                "flags: {kind: flagd, file: PATH}"
                in str(app.screen.query_one("#flag-summary").render())
            ),
        )


def test_toggle_target() -> None:
    from backends.flagd import model
    from backends.local.demo_flags import SEED

    doc = model.new_document("f", SEED)
    assert toggle_target(doc.flag("course-recommendations")) == "on"  # off -> on
    assert toggle_target(doc.flag("new-gradebook")) == "on"  # only the beta cohort has it
    doc = model.set_fractional(doc, "new-gradebook", {"on": 10, "off": 90})
    assert toggle_target(doc.flag("new-gradebook")) is None  # exposed: t turns it off
    doc = model.set_enabled(doc, "course-recommendations", False)
    assert toggle_target(doc.flag("course-recommendations")) == "on"
    assert json.loads(model.dumps(doc))["flags"]["course-recommendations"]["state"] == "DISABLED"
