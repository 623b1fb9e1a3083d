"""The console's keys as the user sees them: names, remapped keys, and the help and palette rows.

Bindings themselves live on the app and the screens (``BINDINGS`` with ids, remappable
through ``keys:`` in config.yaml); this module says which of them change things, how a key is
written, and which keys the console answers to now (``--read-only``, the demo's fault keys).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from textual.binding import Binding

from console.view.text import key_text

# Actions that change a rollout or the environment: hidden and refused with --read-only.
DANGEROUS = frozenset(
    {
        "promote",
        "promote_full",
        "pause",
        "rollback",
        "retry",
        "undo",
        "start",
        "inject_fault",
        "clear_fault",
        "drive_here",
        # The Flags screen's changes.
        "flag_toggle",
        "flag_percent",
        "flag_kill_all",
    }
)
# Actions only the embedded demo answers to (it has a fault injector).
DEMO_ONLY = frozenset({"inject_fault", "clear_fault"})
# Keys that keep working whatever the config remaps the id to: `enter` on a row always
# opens its detail (the table's own binding, see ServiceTable), as in k9s.
FIXED_KEYS = {"detail": "enter"}

Row = tuple[str, str, str]


def key_label(keys: str) -> str:
    """How a binding's keys are written: ``"question_mark,h"`` -> ``"?,h"``."""
    return ",".join(key_text(k.strip()) for k in keys.split(","))


def bindings_of(cls: type[Any]) -> list[Binding]:
    """The ``Binding`` objects a class declares (not the bare tuples)."""
    return [b for b in cls.BINDINGS if isinstance(b, Binding)]


class ConsoleKeys:
    """Every binding of the console with the keys it has now and whether it is offered.

    ``bindings`` are the app's then the screens', in the order the help lists them;
    ``keymap`` is config.yaml's ``keys:``; ``demo()`` says whether the environment has the
    demo's fault injector (read each time: it is the environment's, not fixed at start).
    """

    def __init__(
        self,
        bindings: Sequence[Binding],
        keymap: Mapping[str, str],
        *,
        read_only: bool,
        demo: Callable[[], bool],
    ) -> None:
        self.bindings = list(bindings)
        self.keymap = keymap
        self.read_only = read_only
        self.demo = demo

    def ids(self) -> set[str | None]:
        return {b.id for b in self.bindings}

    def key_for(self, binding: Binding) -> str:
        """The key(s) that trigger ``binding`` now, remapped, written as a user types them."""
        key = self.keymap.get(binding.id or "") or binding.key
        fixed = FIXED_KEYS.get(binding.id or "")
        if fixed and fixed not in [k.strip() for k in key.split(",")]:
            key = f"{fixed},{key}"
        return key_label(key)

    def key_of(self, ident: str, default: str) -> str:
        """The key(s) of the binding with id ``ident`` now; ``default`` if there is none."""
        found = [b for b in self.bindings if b.id == ident]
        return self.key_for(found[0]) if found else default

    def available(self, ident: str | None) -> bool:
        """Whether the action is offered here: not a changing one with --read-only, not a
        fault key outside the demo."""
        if ident in DEMO_ONLY and not self.demo():
            return False
        return not (self.read_only and ident in DANGEROUS)

    def help_rows(self, elsewhere: Mapping[str, str]) -> list[Row]:
        """(key, what it does, binding id) for every key offered now. ``elsewhere`` maps the
        id of a key that works on another screen to that screen's name, said in the row."""
        rows = [(":", "command palette: every action by name", "palette")]
        for b in self.bindings:
            if self.available(b.id):
                desc = f"{b.description}: {b.tooltip}"
                if b.id is not None and b.id in elsewhere:
                    desc += f" (on the {elsewhere[b.id]})"
                rows.append((self.key_for(b), desc, b.id or ""))
        return rows

    def palette_rows(self, actions: Sequence[tuple[Binding, str]], target: str | None) -> list[Row]:
        """(title, action, help) for the command palette, from (binding, action to run).
        The palette hides the selected row, so a changing action names ``target``."""
        on = f" ({target})" if target else ""
        return [
            (
                f"{b.description} ({self.key_for(b)})",
                action,
                b.tooltip + (on if b.id in DANGEROUS or b.id == "detail" else ""),
            )
            for b, action in actions
            if self.available(b.id)
        ]
