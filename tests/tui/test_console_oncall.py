"""Pilot tests from using the console as an on-call engineer would (QA pass over tmux).

Each test names the surprise it guards against: a key that silently stopped working, text
cut off at 80 or 60 columns, a refusal worded as a failure.
"""

from __future__ import annotations

from typing import Any

from backends.base import Phase
from console.config.settings import Config
from console.tui.screens.detail import DetailScreen
from console.tui.screens.dialogs import HelpScreen
from console.tui.screens.overview import OverviewScreen
from tests.support.pilot import flash_text, ready, settle
from tests.support.records import set_phase
from widgets.key_bar import KeyBar

SIZE = (80, 24)


async def test_enter_opens_the_detail_even_when_detail_is_remapped(make_app: Any) -> None:
    # With `detail: l` in the config, plain enter on a row did nothing: the table's enter
    # carried the id "detail", and a keymap moves every binding of that id. k9s-like tools
    # keep enter working; the remapped key works as well.
    app = make_app(config=Config(keys={"detail": "l"}))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("enter")
        assert await settle(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.press("escape")
        assert await settle(pilot, lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("l")
        assert await settle(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert app.screen.service == "courses"
        await pilot.press("escape")
        assert await settle(pilot, lambda: isinstance(app.screen, OverviewScreen))
        # The bar and the help both say that enter and l open the detail.
        bar = app.screen.query_one("#keys", KeyBar)
        assert await settle(pilot, lambda: bool(bar.hints))
        detail = [h for h in bar.hints if h.ident == "detail"]
        assert len(detail) == 1 and set(detail[0].keys) == {"enter", "l"}
        assert ("enter,l", "Detail: Open the selected service", "detail") in app.help_rows()


async def test_enter_without_remap_opens_the_detail_once(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("enter")
        assert await settle(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.pause(0.1)
        # One detail screen, not two stacked (the table's and the screen's enter).
        assert sum(isinstance(s, DetailScreen) for s in app.screen_stack) == 1
        bar = app.screen_stack[1].query_one("#keys", KeyBar)
        assert [h.key_text for h in bar.hints if h.ident == "detail"] == ["enter"]


async def test_promote_of_an_ended_rollout_is_refused_in_words_not_as_a_failure(
    make_app: Any, recorder: Any, env_parts: Any
) -> None:
    # `a` after a rollback flashed "✗ promote courses failed: courses: the rollout to v2
    # already ended" (cut at 80 columns), unlike P, p and r which say "nothing to ...".
    env, _ = env_parts
    set_phase(env, Phase.ROLLED_BACK)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        assert await settle(
            pilot, lambda: app.service_state("courses").record.phase == Phase.ROLLED_BACK
        )
        await pilot.press("a")
        assert await settle(pilot, lambda: "nothing to promote" in flash_text(app))
        assert app.last_flash[1] == "warning"
        await pilot.pause(0.2)
        assert recorder.sent == []


async def test_retry_of_a_running_or_completed_rollout_says_what_retry_is_for(
    make_app: Any, recorder: Any, env_parts: Any
) -> None:
    # `R` while progressing flashed "✗ retry courses failed: courses: the rollout is
    # Progressing; retry restarts" and the rest was cut off at 80 columns.
    env, _ = env_parts
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("R")
        assert await settle(pilot, lambda: "retry" in flash_text(app))
        assert "courses is Progressing" in flash_text(app)
        assert "rolled back or aborted" in flash_text(app)
        assert len(flash_text(app)) <= 78
        set_phase(env, Phase.COMPLETED, step=4)
        assert await settle(
            pilot, lambda: app.service_state("courses").record.phase == Phase.COMPLETED
        )
        await pilot.press("R")
        assert await settle(pilot, lambda: "courses is Completed" in flash_text(app))
        await pilot.pause(0.2)
        assert recorder.sent == []


async def test_a_long_flash_wraps_to_a_second_line_instead_of_losing_its_end(
    make_app: Any,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        reason = "demo control API at http://127.0.0.1:39783 is not answering: connection refused"
        app.flash(f"promote courses failed: {reason}", "error")
        await pilot.pause(0.1)
        flash = app.screen.query_one("#flash")
        assert flash.size.height == 2
        shown = " ".join(str(line.text) for line in flash.render_lines(flash.region.reset_offset))
        assert "connection refused" in shown
        app.flash("short again")
        await pilot.pause(0.1)
        assert flash.size.height == 1


async def test_a_refused_command_is_a_warning_that_names_the_service_once(make_app: Any) -> None:
    # A ControlError is the store refusing the command now, not a failure; it used to read
    # "✗ promote courses failed: courses: ...".
    from console.driver.send import ControlError

    def refuse(env: Any, service: str, kind: str, **kw: Any) -> str:
        raise ControlError(f"{service}: the rollout is Pending; wait for it to start")

    app = make_app(sender=refuse)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("a")
        assert await settle(pilot, lambda: "refused" in flash_text(app))
        assert flash_text(app) == (
            "promote courses refused: the rollout is Pending; wait for it to start"
        )
        assert app.last_flash[1] == "warning"


async def test_header_keeps_read_only_and_staleness_at_60_columns(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    # At 60 columns the detail header read "rollout demo > courses · viewing (driver:" and
    # lost "read-only" (and would lose "stale Ns"): the driver's name now gives way.
    env, switch = env_parts
    env.store.acquire_lease("courses", "someone-long@build-host-17:console:123456", 1e9)
    app = make_app(read_only=True)
    async with app.run_test(size=(60, 20)) as pilot:
        await ready(pilot, app)
        await pilot.press("enter")
        assert await settle(pilot, lambda: isinstance(app.screen, DetailScreen))
        header = app.screen.query_one("#header")
        assert await settle(pilot, lambda: "viewing (some" in str(header.render()))
        text = str(header.render())
        assert "read-only" in text and len(text.rstrip()) <= 60
        switch.dead = True
        clock.now += 9
        assert await settle(pilot, lambda: "stale 9s" in str(header.render()), tries=60)
        text = str(header.render())
        assert "read-only" in text and "viewing" in text and len(text.rstrip()) <= 60
        # Wider, the error behind the staleness shows too.
        await pilot.resize_terminal(160, 30)
        assert await settle(pilot, lambda: "connection refused" in str(header.render()))
        switch.dead = False


def test_header_text_gives_way_in_order_detail_then_driver() -> None:
    from widgets.status_bar import header_text

    mode = "viewing (driver: bob@ops:auto:7)"
    full = header_text(200, "demo", mode, "stale 5s", "courses", read_only=True, detail="boom")
    assert str(full) == (
        " rollout  demo > courses · viewing (driver: bob@ops:auto:7) · read-only  stale 5s (boom)"
    )
    for width in (80, 60, 50):
        text = str(header_text(width, "demo", mode, "stale 5s", "courses", read_only=True))
        assert len(text) <= width and "read-only" in text and "stale 5s" in text, width
        if width >= 60:
            assert "viewing (b" in text, width
    text = str(header_text(80, "demo", mode, "stale 5s", "courses", read_only=True))
    assert "viewing (bob@ops:auto:7)" in text  # "driver: " goes before the name is cut


async def test_overview_at_60_columns_shows_whole_columns(make_app: Any) -> None:
    # At 60x20 the last column showed as a lone "r" over "6": cut, not dropped.
    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await ready(pilot, app)
        table = app.screen.query_one("#services")
        await pilot.pause(0.1)
        assert table.virtual_size.width <= table.size.width
        labels = [str(c.label) for c in table.columns.values()]
        assert labels[:4] == ["service", "phase", "step", "weights"]


async def test_overview_header_names_the_driver_of_the_selected_row_when_narrow(
    make_app: Any, env_parts: Any
) -> None:
    # At 80 columns the driver column gives way; a viewer could not tell who drives.
    env, _ = env_parts
    env.store.acquire_lease("courses", "bob@ops:auto:7", 1e9)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.pause(0.1)
        assert "courses driven by bob@ops:auto:7" in str(app.screen.query_one("#header").render())
        await pilot.press("down")
        await pilot.pause(0.1)
        assert "bob@ops" not in str(app.screen.query_one("#header").render())


def help_row(text: str, ident: str) -> str:
    """The help's row for ``ident``, joined over its wrapped lines."""
    end = text.index(f"[{ident}]")
    start = text.rfind("\n", 0, end)
    while text[start + 1 : start + 10].strip() == "":  # a continuation line: keep going up
        start = text.rfind("\n", 0, start)
    return " ".join(text[start + 1 : end].split())


async def test_help_says_which_keys_belong_to_the_other_screen(make_app: Any) -> None:
    # `? help` on the overview listed `w Window` as if it worked there (it does nothing).
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert help_row(text, "window").startswith("w Window")
        assert "(on the detail screen)" in help_row(text, "window")
        assert "screen" not in help_row(text, "sort") and help_row(text, "sort").startswith("o ")
        # Wrapped lines stay right of the keys column.
        assert all(not line or line.startswith(" ") for line in text.splitlines()[2:-2])
        await pilot.press("escape", "enter")
        assert await settle(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.press("question_mark")
        text = str(app.screen.query_one("#help-text").render())
        assert "(on the overview)" in help_row(text, "sort")
        assert "(on the" not in help_row(text, "window")


async def test_escape_in_the_filter_box_is_labelled_clear(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        bar = app.screen.query_one("#keys", KeyBar)
        await pilot.press("slash", "g", "r")
        assert await settle(pilot, lambda: "esc clear" in str(bar.render()))
        await pilot.press("escape")
        assert await settle(pilot, lambda: app.screen.filter_text == "")
        assert app.screen.query_one("#services").has_focus


async def test_palette_commands_name_the_service_they_act_on(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        helps = {a: h for _, a, h in app.palette_commands(app.screen)}
        assert "courses" in helps["app.promote"] and "courses" in helps["app.rollback"]
        assert "courses" not in helps["app.help"]


async def test_keys_typed_while_the_console_starts_do_not_land_in_the_hidden_filter(
    make_app: Any,
) -> None:
    # Typeahead over SSH: keys sent while the console started focused the filter box before
    # it was hidden, so the overview then took no keys (or showed "0 services · filter: ?").
    from console.tui.app import RolloutApp

    class TypedEarly(RolloutApp):
        def on_mount(self) -> None:  # Textual runs RolloutApp.on_mount after this one
            for key in "go":
                self.simulate_key(key)

    app = make_app()
    app.__class__ = TypedEarly  # the same app, with keys queued behind the first screen
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.pause(0.2)
        assert app.screen.query_one("#services").has_focus
        assert app.screen.filter_text == ""
        assert app.screen.sort_key == "phase"  # `o` reached the overview, as typed
        assert app.screen.query_one("#services").row_count == 3
        await pilot.press("enter")
        assert await settle(pilot, lambda: isinstance(app.screen, DetailScreen))


async def test_rollback_flash_is_one_line_the_banner_has_the_whole_reason(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    # After a rollback at 80x24 the same long reason filled the flash (2 lines), the banner
    # (2 lines) and the detail title: six of 24 lines for one sentence.
    env, _ = env_parts
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.bell = lambda: None  # type: ignore[method-assign]
        await ready(pilot, app)
        reason = (
            "error-rate 0.177 > max 0.02 on v2; latency-p95 392ms > max 200ms on v2 "
            "(1/1 failures) -> rolled back: 100% on v1"
        )
        set_phase(env, Phase.ROLLED_BACK, message=reason, updated_at=clock.now)
        assert await settle(pilot, lambda: "ROLLED BACK" in flash_text(app))
        assert flash_text(app) == "courses ROLLED BACK: error-rate 0.177 > max 0.02 on v2 …"
        await pilot.pause(0.1)
        assert app.screen.query_one("#flash").size.height == 1
        assert reason in " ".join(str(app.screen.query_one("#banner").render()).split("\n"))


async def test_a_screen_resized_while_hidden_refits_its_flash_and_banner(
    make_app: Any, env_parts: Any, clock: Any
) -> None:
    # tmux resized to 60x20 while on the detail screen; back on the overview the flash kept
    # its one-line height and cut the message after "max 0.02 on".
    env, _ = env_parts
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.bell = lambda: None  # type: ignore[method-assign]
        await ready(pilot, app)
        await pilot.press("enter")
        assert await settle(pilot, lambda: isinstance(app.screen, DetailScreen))
        reason = "error-rate 0.177 > max 0.02 on v2; latency-p95 392ms > max 200ms on v2 " * 2
        set_phase(env, Phase.ROLLED_BACK, message=reason.strip(), updated_at=clock.now)
        assert await settle(pilot, lambda: "ROLLED BACK" in flash_text(app))
        app.flash("x " * 50, "error")  # needs two lines at 60 columns and at 80
        await pilot.pause(0.2)
        await pilot.resize_terminal(60, 20)
        await pilot.pause(0.2)
        await pilot.press("escape")
        assert await settle(pilot, lambda: isinstance(app.screen, OverviewScreen))
        await pilot.pause(0.3)
        assert app.screen.query_one("#flash").size.height == 2
        assert app.screen.query_one("#banner").size.height == 3


async def test_palette_back_goes_back_and_does_not_offer_roll_back_first(make_app: Any) -> None:
    # ": back enter" on the detail screen opened "Roll back courses?": "Roll back" came
    # first in the palette with the same fuzzy score as "Back".
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("enter")
        assert await settle(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.press("colon")
        await pilot.pause(0.1)
        await pilot.press(*"back")
        await pilot.pause(0.5)
        await pilot.press("enter")
        assert await settle(pilot, lambda: isinstance(app.screen, OverviewScreen))


async def test_no_rollout_hint_names_the_start_key_and_is_absent_when_read_only(
    make_app: Any,
) -> None:
    # With --read-only the detail said "no rollout: press s to start one from a plan", and s
    # is refused there; with `start` remapped, s was the wrong key.
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("down", "enter")  # enrollments: no rollout
        assert await settle(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.pause(0.1)
        title = str(app.screen.query_one("#title").render())
        assert "no rollout" in title and "press" not in title
    app = make_app(config=Config(keys={"start": "n"}))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("down", "enter")
        assert await settle(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.pause(0.1)
        assert "no rollout: press n to start one" in str(app.screen.query_one("#title").render())
