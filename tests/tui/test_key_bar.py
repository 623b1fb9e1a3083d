"""The key bar: which keys fit a width (pure), and what the console shows at 80x24 (pilot)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from console.config.settings import Config
from console.tui.app import DANGEROUS, RolloutApp
from console.tui.screens.detail import KEY_ORDER as DETAIL_ORDER
from console.tui.screens.detail import DetailScreen
from console.tui.screens.overview import KEY_ORDER as OVERVIEW_ORDER
from tests.support.pilot import settle
from widgets.key_bar import HELP, KeyBar, KeyHint, collect_hints, fit, line_width, rank


def _app_bindings(*, read_only: bool = False, keys: dict[str, str] | None = None) -> list[Any]:
    """The console's own bindings as the bar gets them: remapped, read-only hidden."""
    out = []
    for b in RolloutApp.BINDINGS:
        assert not isinstance(b, tuple)
        if keys and b.id in keys:
            b = b.with_key(keys[b.id])
        if read_only and b.id in DANGEROUS:
            b = dataclasses.replace(b, show=False)  # as RolloutApp hides them
        out.append((b, True))
    return out


def _shown(width: int, **kw: Any) -> list[str]:
    hints = rank(collect_hints(_app_bindings(**kw)), DETAIL_ORDER)
    kept = fit(hints, width)
    assert line_width(kept) <= width or [h.ident for h in kept] == [HELP]
    return [f"{h.key_text} {h.label}" for h in kept]


def test_at_160_columns_every_shown_key_fits_with_help_last() -> None:
    shown = _shown(160)
    assert shown[:6] == [
        "a promote",
        "P promote-full",
        "p pause",
        "r rollback",
        "R retry",
        "esc back",
    ]
    assert shown[-1] == "? help"
    # Every binding the key bar is meant to show (D, drive here, is named by the
    # unguarded banner instead).
    assert len(shown) == len([b for b in RolloutApp.BINDINGS if b.show])


def test_at_80_columns_the_least_important_keys_go_first() -> None:
    shown = _shown(80)
    assert shown == [
        "a promote",
        "P promote-full",
        "p pause",
        "r rollback",
        "R retry",
        "esc back",
        "? help",
    ]


def test_at_40_columns_help_still_shows() -> None:
    assert _shown(40) == ["a promote", "P promote-full", "? help"]
    assert _shown(8) == ["? help"]  # too narrow for anything else
    assert _shown(3) == ["? help"]  # the widget crops; help is never dropped


def test_remapped_key_is_the_one_shown() -> None:
    shown = _shown(80, keys={"promote": "g", "rollback": "ctrl+r"})
    assert shown[0] == "g promote" and "ctrl+r rollback" in shown
    assert not any(s.startswith("a ") for s in shown)


def test_read_only_hides_the_keys_that_change_things() -> None:
    shown = _shown(160, read_only=True)
    assert not {"a promote", "P promote-full", "p pause", "r rollback", "R retry"} & set(shown)
    assert shown[0] == "esc back" and shown[-1] == "? help"


def test_several_keys_for_one_action_show_together() -> None:
    # A remap to "f,F" reaches the bar as one binding per key; the bar joins them again.
    fault = next(b for b, _ in _app_bindings() if b.id == "inject_fault")
    hints = collect_hints([(fault.with_key("f"), True), (fault.with_key("F"), True)])
    assert [(h.ident, h.key_text, h.label) for h in hints] == [("inject_fault", "f,F", "fault")]


def test_a_disabled_action_stays_in_the_bar() -> None:
    hints = collect_hints([(b, b.id != "retry") for b, _ in _app_bindings()])
    assert [h.enabled for h in hints if h.ident == "retry"] == [False]


def test_rank_puts_unknown_ids_after_the_ordered_ones_in_their_own_order() -> None:
    hints = [KeyHint(i, (i[0],), i) for i in ["zeta", "quit", "alpha", "detail"]]
    assert [h.ident for h in rank(hints, OVERVIEW_ORDER)] == ["detail", "quit", "zeta", "alpha"]


# ---------------------------------------------------------------------------- pilot, 80x24


async def _open_detail(pilot: Any, app: Any) -> KeyBar:
    assert await settle(pilot, lambda: app.snapshot is not None and app.snapshot.services)
    await pilot.press("enter")
    assert await settle(pilot, lambda: isinstance(app.screen, DetailScreen))
    await pilot.pause()
    return app.screen.query_one("#keys", KeyBar)


async def test_detail_bar_at_80x24_shows_promote_and_help(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        bar = await _open_detail(pilot, app)
        line = str(bar.render())
        assert line.rstrip().endswith("? help") and len(line) <= 80
        assert line.startswith(" a promote  P promote-full  p pause  r rollback")
        # The bar sits on the last row, alone: nothing overlaps it.
        assert bar.region.y == 23 and bar.region.width == 80
        # Live data repaints the screen each second; Textual does not ask the bar for its
        # line again for that (it would if the bar were refreshed).
        drawn: list[str] = []
        render = bar.render

        def counted() -> Any:
            drawn.append(str(render()))
            return render()

        monkeypatch.setattr(bar, "render", counted)
        for _ in range(3):
            app.repaint()
            await pilot.pause(0.05)
        assert drawn == []
        # A resize does redraw it (so the silence above is not a spy that never fires).
        await pilot.resize_terminal(100, 24)
        assert await settle(pilot, lambda: bool(drawn))


async def test_remapped_and_read_only_keys_in_the_live_bar(make_app: Any) -> None:
    app = make_app(config=Config(keys={"promote": "g"}))
    async with app.run_test(size=(80, 24)) as pilot:
        bar = await _open_detail(pilot, app)
        shown = [(h.key_text, h.label) for h in bar.shown()]
        assert shown[0] == ("g", "promote") and ("a", "promote") not in shown
        await pilot.press("g")
        assert await settle(pilot, lambda: "promote posted" in app.last_flash[0])

    app = make_app(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.screen.query_one("#keys", KeyBar)
        assert await settle(pilot, lambda: bool(bar.hints))
        idents = [h.ident for h in bar.shown()]
        assert idents[:2] == ["detail", "filter"] and idents[-1] == HELP
        assert not {"start", "promote", "pause", "rollback"} & set(idents)


async def test_bar_follows_focus_into_the_filter_and_back(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.screen.query_one("#keys", KeyBar)
        assert await settle(pilot, lambda: bool(bar.hints))
        assert str(bar.render()).startswith(" enter detail  s start  / filter  : palette")
        await pilot.press("slash")
        # While typing, letters are text: only keys that still work are offered.
        assert await settle(
            pilot, lambda: [h.ident for h in bar.hints] == ["submit", "clear_filter"]
        )
        assert str(bar.render()).strip() == "enter keep filter  esc clear filter"
        await pilot.press("escape")
        assert await settle(pilot, lambda: bar.shown()[-1].ident == HELP)


async def test_bar_follows_check_action_and_the_terminal_width(
    make_app: Any, env_parts: Any
) -> None:
    env, _ = env_parts
    control = env.extras.pop("control")  # not the demo: check_action hides the fault keys
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        bar = await _open_detail(pilot, app)
        assert "inject_fault" not in {h.ident for h in bar.hints}
        env.extras["control"] = control
        app.refresh_bindings()  # what an app does when an action's availability changes
        assert await settle(pilot, lambda: "inject_fault" in {h.ident for h in bar.hints})
        assert "inject_fault" not in {h.ident for h in bar.shown()}  # no room at 80 columns
        await pilot.resize_terminal(160, 30)
        assert await settle(pilot, lambda: bar.size.width == 160)
        assert "x fault" in str(bar.render()) and str(bar.render()).rstrip().endswith("? help")
