"""Pick a plan file to start a rollout: a list of plans, the highlighted one summarized.

A plan that does not validate shows its errors (file, line, field) here instead of
starting anything; the dialog stays open so another file can be picked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


def find_plans(dirs: list[Path]) -> list[Path]:
    """YAML files in the plan directories, sorted by directory order then name."""
    found: list[Path] = []
    for d in dirs:
        if d.is_dir():
            found.extend(sorted(p for p in d.iterdir() if p.suffix in (".yaml", ".yml")))
    return found


def advice_text(plan: Any, rps: float | None) -> str:
    """What ``rollout validate --rps`` says of a canary's steps, at the service's live request
    rate; empty for other strategies or when the rate is not known."""
    from backends.base import Strategy
    from console.analysis.advice import advise, render

    if rps is None or rps <= 0 or plan.strategy is not Strategy.CANARY or not plan.steps:
        return ""
    try:
        lines = render(advise(plan, rps))
    except ValueError:
        return ""
    return f"\nat {rps:.0f} req/s now (the sequential test per step):\n" + "\n".join(lines)


def _load(path: Path) -> tuple[Any | None, str]:
    """(plan, summary) or (None, error text). Imported lazily: plan parsing is not UI code."""
    from console.plan.load import PlanError, load_plan

    try:
        plan = load_plan(path)
    except PlanError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"{path}: cannot read: {exc}"
    try:
        from console.plan.load import summarize

        return plan, summarize(plan)
    except Exception:
        return plan, f"{plan.strategy} {plan.service} -> {plan.candidate}"


class PlanPicker(ModalScreen[Any]):
    """Returns the loaded ``Plan``, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker_cancel", tooltip="Start nothing")]
    # A plan that does not validate: highlighted, then picked anyway (styles in app.tcss).
    COMPONENT_CLASSES = {"plan-picker--invalid", "plan-picker--refused"}

    def __init__(
        self, dirs: list[Path], rate_of: Callable[[str], float | None] | None = None
    ) -> None:
        super().__init__(classes="dialog")
        self._dirs = dirs
        self._plans = find_plans(dirs)
        # The live request rate of a service (all versions), for the per-step advice.
        self._rate_of = rate_of

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box", classes="dialog-box"):
            yield Static(Text("Start a rollout from a plan", style="bold"))
            if self._plans:
                yield OptionList(
                    *[Option(str(p.name), id=str(i)) for i, p in enumerate(self._plans)],
                    id="plans",
                )
            else:
                where = " or ".join(str(d) for d in self._dirs)
                yield Static(f"no plan files (*.yaml) in {where}", id="plans-empty")
            with VerticalScroll(id="plan-summary-box"):
                yield Static("", id="plan-summary")
            yield Static(Text("enter = start    esc = cancel", style="dim"))

    def on_mount(self) -> None:
        if self._plans:
            self.query_one("#plans", OptionList).focus()
            self._describe(0)

    def _describe(self, index: int) -> None:
        plan, text = _load(self._plans[index])
        if plan is not None and self._rate_of is not None:
            text += advice_text(plan, self._rate_of(plan.service))
        style = "" if plan is not None else self._style("plan-picker--invalid")
        self.query_one("#plan-summary", Static).update(
            Text(f"{self._plans[index]}\n{text}", style=style)
        )

    @on(OptionList.OptionHighlighted, "#plans")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._describe(event.option_index)

    @on(OptionList.OptionSelected, "#plans")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        plan, text = _load(self._plans[event.option_index])
        if plan is None:
            self.query_one("#plan-summary", Static).update(
                Text(
                    f"{self._plans[event.option_index]}\n{text}",
                    style=self._style("plan-picker--refused"),
                )
            )
            self.app.bell()
            return
        self.dismiss(plan)

    def _style(self, component: str) -> Style:
        return self.get_component_rich_style(component, partial=True)

    def action_cancel(self) -> None:
        self.dismiss(None)
