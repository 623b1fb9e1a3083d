"""Pilot tests: every key and palette command does the right thing, at 80x24."""

from __future__ import annotations

import getpass
from typing import Any

from backends.base import Phase
from console.config.settings import Config
from console.tui.screens.detail import DetailScreen
from console.tui.screens.dialogs import ConfirmDialog, HelpScreen
from console.tui.screens.overview import OverviewScreen
from console.tui.screens.plan_picker import PlanPicker
from tests.support.pilot import flash_text, ready, settle
from tests.support.records import canary_record

SIZE = (80, 24)


async def test_overview_lists_every_service_with_its_rollout(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        table = app.screen.query_one("#services")
        assert table.row_count == 3
        row = table.get_row("courses")
        assert [str(c) for c in row] == [
            "courses",
            "! Progressing",
            "2/5",
            "v1 100 v2 0",
            "99.7%",
            "120ms",
            "5/6",
        ]  # 80 columns: strategy and driver give way
        assert [str(c) for c in table.get_row("grades")][:3] == ["grades", "! Idle", "-"]


async def test_wide_overview_shows_strategy_and_driver(make_app: Any, env_parts: Any) -> None:
    env, _ = env_parts
    env.store.acquire_lease("courses", "bob@ops:auto:7", 1e9)
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot, app)
        row = [str(c) for c in app.screen.query_one("#services").get_row("courses")]
        assert row[2] == "canary" and row[-1] == "bob@ops:auto:7"


async def test_promote_key_sends_promote_for_the_selected_service(
    make_app: Any, recorder: Any
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("a")
        assert await settle(pilot, lambda: recorder.sent)
        assert recorder.sent == [("courses", "promote")]
        assert await settle(pilot, lambda: "promote posted for courses" in flash_text(app))
        # The command adds this host itself: a user of "root@vm" was audited as "root@vm@vm".
        assert recorder.users == [getpass.getuser()]


async def test_promote_fully_asks_first_and_can_be_cancelled(make_app: Any, recorder: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("P")
        assert isinstance(app.screen, ConfirmDialog)
        body = str(app.screen.query_one("#confirm-body").render())
        assert "100%" in body and "v2" in body
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        await pilot.pause(0.2)
        assert recorder.sent == []
        assert "cancelled" in flash_text(app)
        await pilot.press("P", "y")
        assert await settle(pilot, lambda: recorder.sent)
        assert recorder.sent == [("courses", "promote-full")]


async def test_rollback_asks_first_and_n_cancels(make_app: Any, recorder: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmDialog)
        assert "v1" in str(app.screen.query_one("#confirm-body").render())
        await pilot.press("n")
        await pilot.pause(0.2)
        assert recorder.sent == []
        await pilot.press("r", "y")
        assert await settle(pilot, lambda: recorder.sent)
        assert recorder.sent == [("courses", "abort")]


async def test_rollback_and_promote_fully_of_an_ended_rollout_open_no_dialog(
    make_app: Any, recorder: Any, env_parts: Any
) -> None:
    # On a Completed rollout `r` asked "All traffic goes back to v1 now?" (v1 may be retired
    # by then) and sent an abort the engine ignores.
    env, _ = env_parts
    rec = env.store.load("courses")
    env.store.save(canary_record(phase=Phase.COMPLETED, step=4), rec.revision)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        assert await settle(
            pilot, lambda: app.service_state("courses").record.phase == Phase.COMPLETED
        )
        for key, what in (("r", "roll back"), ("P", "promote")):
            await pilot.press(key)
            assert await settle(
                pilot, lambda what=what: f"Completed: nothing to {what}" in flash_text(app)
            )
            assert isinstance(app.screen, OverviewScreen)
        assert recorder.sent == []


async def test_pause_toggles_between_pause_and_resume(
    make_app: Any, recorder: Any, env_parts: Any
) -> None:
    env, _ = env_parts
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("p")
        assert await settle(pilot, lambda: len(recorder.sent) == 1)
        rec = env.store.load("courses")
        env.store.save(canary_record(phase=Phase.PAUSED), rec.revision)
        assert await settle(
            pilot, lambda: app.service_state("courses").record.phase == Phase.PAUSED
        )
        await pilot.press("p")
        assert await settle(pilot, lambda: len(recorder.sent) == 2)
        assert recorder.sent == [("courses", "pause"), ("courses", "resume")]


async def test_pause_key_at_a_manual_gate_points_to_promote(
    make_app: Any, recorder: Any, env_parts: Any
) -> None:
    # At a manual gate the engine ignores resume; `p` used to post it anyway and flash
    # "resume posted", and nothing happened.
    env, _ = env_parts
    rec = env.store.load("courses")
    gate = canary_record(phase=Phase.PAUSED, step=3, engine={"pause": {"kind": "gate"}})
    env.store.save(gate, rec.revision)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        assert await settle(
            pilot, lambda: app.service_state("courses").record.phase == Phase.PAUSED
        )
        await pilot.press("p")
        assert await settle(pilot, lambda: "manual gate: a promotes it" in flash_text(app))
        assert recorder.sent == []


async def test_retry_sends_retry(make_app: Any, recorder: Any, env_parts: Any) -> None:
    env, _ = env_parts
    rec = env.store.load("courses")
    env.store.save(canary_record(phase=Phase.ROLLED_BACK), rec.revision)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("R")
        assert await settle(pilot, lambda: recorder.sent)
        assert recorder.sent == [("courses", "retry")]


async def test_a_service_without_rollout_refuses_promote_with_a_reason(
    make_app: Any, recorder: Any
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("down", "a")  # enrollments: no record
        await pilot.pause(0.2)
        assert recorder.sent == []
        assert "enrollments has no rollout" in flash_text(app)


async def test_enter_opens_detail_and_esc_goes_back(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.service == "courses"
        assert app.detail_service == "courses"
        await pilot.press("w")
        assert app.screen.window == 300.0
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        assert app.detail_service is None


async def test_detail_says_when_the_split_is_only_approximate(
    make_app: Any, env_parts: Any
) -> None:
    env, _ = env_parts
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("enter")
        title = app.screen.query_one("#title")
        assert "approximate" not in str(title.render())
        env.traffic.approximate = True
        assert await settle(pilot, lambda: "approximate" in str(title.render()))


async def test_keys_in_detail_act_on_its_service(make_app: Any, recorder: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("down", "down", "enter")  # grades, then make it have a rollout
        assert app.screen.service == "grades"
        await pilot.press("a")
        await pilot.pause(0.2)
        assert "grades has no rollout" in flash_text(app)
        await pilot.press("escape", "up", "up", "enter", "a")
        assert await settle(pilot, lambda: recorder.sent)
        assert recorder.sent == [("courses", "promote")]


async def test_filter_narrows_rows_and_esc_clears_it(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("slash", "g", "r", "a")  # typed into the filter, not promote
        table = app.screen.query_one("#services")
        assert table.row_count == 1
        assert app.screen.selected_service() == "grades"
        await pilot.press("enter")  # keep the filter, back to the table
        assert app.screen.filter_text == "gra"
        await pilot.press("escape")
        assert table.row_count == 3


async def test_sort_cycles_columns(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("o")
        assert app.screen.sort_key == "phase"
        rows = [app.screen.query_one("#services").get_row_at(i)[0] for i in range(3)]
        assert rows == ["enrollments", "grades", "courses"]  # Idle < Progressing


async def test_help_lists_every_key(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        for ident in (
            "promote",
            "promote_full",
            "pause",
            "rollback",
            "retry",
            "start",
            "inject_fault",
            "clear_fault",
            "help",
            "back",
            "quit",
            "detail",
            "filter",
            "sort",
            "window",
            "palette",
        ):
            assert f"[{ident}]" in text, ident
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_quit_key_exits(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("q")
        await pilot.pause(0.1)
    assert app.return_code == 0


async def test_fault_keys_call_the_demo_control_on_the_candidate(
    make_app: Any, env_parts: Any
) -> None:
    env, _ = env_parts
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("x")
        assert await settle(pilot, lambda: env.extras["control"].calls)
        await pilot.press("X")
        assert await settle(pilot, lambda: len(env.extras["control"].calls) == 3)
        # X clears every version: after the rollout ends, the faulty one may serve everyone.
        assert env.extras["control"].calls == [
            ("inject", "courses", "v2"),
            ("clear", "courses", "v1"),
            ("clear", "courses", "v2"),
        ]
        assert "fault cleared on courses v1, v2" in flash_text(app)


async def test_fault_keys_are_absent_outside_the_demo(make_app: Any, env_parts: Any) -> None:
    env, _ = env_parts
    control = env.extras.pop("control")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("x")
        await pilot.pause(0.2)
        assert control.calls == []
        assert all("inject_fault" not in r[2] for r in app.help_rows())


async def test_read_only_refuses_dangerous_keys_and_says_why(
    make_app: Any, recorder: Any, env_parts: Any
) -> None:
    env, _ = env_parts
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        footer_ids = {ab.binding.id for ab in app.active_bindings.values() if ab.binding.show}
        assert not footer_ids & {"promote", "promote_full", "pause", "rollback", "retry", "start"}
        for key in ["a", "P", "p", "r", "R", "s", "x", "X"]:
            app.flash("")
            await pilot.press(key)
            await pilot.pause(0.05)
            assert isinstance(app.screen, OverviewScreen), key  # no dialog, no picker
            assert "read-only" in flash_text(app), key
        await pilot.pause(0.2)
        assert recorder.sent == [] and env.extras["control"].calls == []


async def test_read_only_palette_and_help_omit_dangerous_actions(make_app: Any) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        titles = [t for t, _, _ in app.palette_commands(app.screen)]
        assert not any(t.startswith(("Promote", "Roll back", "Retry", "Start")) for t in titles)
        assert any(t.startswith("Help") for t in titles)
        assert "read-only" in str(app.screen.query_one("#header").render())


async def test_keys_are_remappable_from_the_config(make_app: Any, recorder: Any) -> None:
    app = make_app(config=Config(keys={"promote": "g", "bogus_action": "z"}))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        assert "unknown action id(s) bogus_action" in flash_text(app)
        await pilot.press("a")
        await pilot.pause(0.2)
        assert recorder.sent == []
        await pilot.press("g")
        assert await settle(pilot, lambda: recorder.sent)
        assert recorder.sent == [("courses", "promote")]
        assert ("g", "Promote: Leave the current step or pause", "promote") in app.help_rows()


async def test_palette_runs_actions_by_name(make_app: Any, recorder: Any, env_parts: Any) -> None:
    env, _ = env_parts
    rec = env.store.load("courses")
    env.store.save(canary_record(phase=Phase.ROLLED_BACK), rec.revision)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("colon")
        await pilot.pause(0.1)
        await pilot.press(*"retry")
        await pilot.pause(0.3)
        await pilot.press("enter")
        assert await settle(pilot, lambda: recorder.sent)
        assert recorder.sent == [("courses", "retry")]


async def test_palette_exposes_every_action(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        actions = {a for _, a, _ in app.palette_commands(app.screen)}
        assert {
            "app.promote",
            "app.promote_full",
            "app.pause",
            "app.rollback",
            "app.retry",
            "app.start",
            "app.inject_fault",
            "app.clear_fault",
            "app.help",
            "app.go_back",
            "app.quit",
            "screen.open_detail",
            "screen.filter",
            "screen.sort",
        } <= actions
        await pilot.press("colon")
        await pilot.pause(0.1)
        await pilot.press(*"sort")
        await pilot.pause(0.3)
        await pilot.press("enter")
        assert await settle(
            pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.sort_key == "phase"
        )


async def test_start_picks_a_plan_and_drives_it(make_app: Any, tmp_path: Any) -> None:
    plans = tmp_path / "plans"
    plans.mkdir(exist_ok=True)
    (plans / "a-broken.yaml").write_text("service: grades\nstrategy: canary\n")
    (plans / "b-grades.yaml").write_text(
        "service: grades\nstrategy: canary\ncandidate: v2\nsteps:\n  - setWeight: 50\n"
    )
    drivers: dict[str, Any] = {}

    def factory(service: str) -> Any:
        from tests.tui.tui_helpers import NullDriver

        drivers[service] = NullDriver(service)
        return drivers[service]

    app = make_app(driver_factory=factory)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("s")
        assert isinstance(app.screen, PlanPicker)
        summary = str(app.screen.query_one("#plan-summary").render())
        assert "candidate" in summary  # the broken plan's error names the missing field
        await pilot.press("enter")  # the broken one: stays open, nothing starts
        await pilot.pause(0.1)
        assert isinstance(app.screen, PlanPicker) and not drivers
        await pilot.press("down", "enter")
        assert await settle(pilot, lambda: "grades" in app.drivers)
        assert drivers["grades"].begun[0].service == "grades"
        assert await settle(pilot, lambda: drivers["grades"].ticks >= 1)
        assert await settle(
            pilot, lambda: "driving grades" in str(app.screen.query_one("#header").render())
        )


async def test_start_of_a_rollout_driven_elsewhere_says_it_watches(
    make_app: Any, tmp_path: Any
) -> None:
    # `s` on a plan that `rollout auto` already drives joins as a viewer; the flash said
    # "started canary of grades", as if this console had started it.
    plans = tmp_path / "plans"
    plans.mkdir(exist_ok=True)
    (plans / "grades.yaml").write_text(
        "service: grades\nstrategy: canary\ncandidate: v2\nsteps:\n  - setWeight: 50\n"
    )
    from tests.tui.tui_helpers import NullDriver

    class Viewer(NullDriver):
        def begin(self, plan: Any) -> Any:
            rec = super().begin(plan)
            self.driving = False  # another process holds the lease
            return rec

    app = make_app(driver_factory=Viewer)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("s")
        assert isinstance(app.screen, PlanPicker)
        await pilot.press("enter")
        assert await settle(pilot, lambda: "watching (driven elsewhere)" in flash_text(app))
        assert "started" not in flash_text(app)


async def test_a_refused_start_names_the_plan_file_not_its_directory(
    make_app: Any, tmp_path: Any
) -> None:
    # The one-line flash was filled by the plan's full path; the reason fell off the end.
    plans = tmp_path / "plans"
    plans.mkdir(exist_ok=True)
    path = plans / "grades.yaml"
    path.write_text("service: grades\nstrategy: canary\ncandidate: v2\nsteps:\n  - setWeight: 50\n")
    from tests.tui.tui_helpers import NullDriver

    class Refuses(NullDriver):
        def begin(self, plan: Any) -> Any:
            raise RuntimeError(f"{plan.source}: v2 already serves 100% of grades")

    app = make_app(driver_factory=Refuses)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("s", "enter")
        want = "cannot start grades: grades.yaml: v2 already serves 100% of grades"
        assert await settle(pilot, lambda: want in flash_text(app))
        assert str(plans) not in flash_text(app)


async def test_start_can_be_cancelled(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("s", "escape")
        assert isinstance(app.screen, OverviewScreen)
        assert app.drivers == {} and flash_text(app) == "start cancelled"


async def test_no_color_is_respected(make_app: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        assert app.no_color  # Textual then renders in monochrome
        # State is never carried by colour alone: the rolled-back/short-of-ready mark is text.
        assert "!" in str(app.screen.query_one("#services").get_row("courses")[1])


async def test_plan_picker_advises_on_each_step_at_the_live_request_rate(
    make_app: Any, tmp_path: Any
) -> None:
    plans = tmp_path / "plans"
    plans.mkdir(exist_ok=True)
    (plans / "courses.yaml").write_text(
        "service: courses\nstrategy: canary\ncandidate: v2\nsteps:\n"
        "  - setWeight: 10\n  - pause: 30s\n  - setWeight: 100\n"
    )
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        rps = app.request_rate("courses")
        assert rps is not None and rps > 0  # the fakes' v1 and v2 together
        await pilot.press("s")
        assert isinstance(app.screen, PlanPicker)
        summary = str(app.screen.query_one("#plan-summary").render())
        assert f"at {rps:.0f} req/s now" in summary
        assert "setWeight 10" in summary or "10%" in summary  # the step it advises on


async def test_undo_key_on_our_own_rollout_points_to_rollback(make_app: Any, recorder: Any) -> None:
    # Undo is a foreign controller's verb; ours roll back with r, and nothing is sent.
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("U")
        assert await settle(pilot, lambda: "undo is for rollouts" in flash_text(app))
        assert "r rolls back courses" in flash_text(app)
        assert not isinstance(app.screen, ConfirmDialog)
        assert recorder.sent == []
