"""The key bar: one line of `key label` pairs for the screen's active bindings.

It replaces Textual's Footer, which at 80 columns cut the line after about six keys (and its
compact style left a stale cell). Here the least important keys are dropped first, and
`? help` always stays, last, so the full list is one key away at any width. The keys shown
come from the screen's live bindings, so a remapped key (config ``keys:``) shows as remapped
and a hidden binding (``--read-only``, or a ``check_action`` that returns False) is absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.keys import key_to_character
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget

from console.view.text import key_text

HELP = "help"
PALETTE = "palette"
PALETTE_ACTION = "command_palette"
_GAP = "  "
_LEAD = " "

# Short words for a narrow terminal; a binding without one shows its description in lower case.
SHORT_LABELS: Mapping[str, str] = {
    "promote_full": "promote-full",
    "pause": "pause",
    "rollback": "rollback",
    "inject_fault": "fault",
    "clear_fault": "clear-fault",
    PALETTE: "palette",
}


@dataclass(frozen=True)
class KeyHint:
    """One action in the bar: its id, the key(s) that trigger it now, a short label."""

    ident: str
    keys: tuple[str, ...]
    label: str
    enabled: bool = True

    @property
    def key_text(self) -> str:
        return ",".join(self.keys)

    @property
    def width(self) -> int:
        return cell_len(self.key_text) + 1 + cell_len(self.label)


def typed_into(widget: Widget, key: str) -> bool:
    """True if ``widget`` (an Input with focus) takes ``key`` as text, so its binding is dead.

    Textual drops such bindings itself, but not after a keymap remap (``promote: g``) nor
    for ``/`` (it finds no character for "slash"); the bar must not offer them.
    """
    char = key_to_character(key)
    if char is None and len(key_text(key)) == 1:
        char = key_text(key)
    return widget.check_consume_key(key, char)


def collect_hints(
    active: Iterable[tuple[Binding, bool]],
    labels: Mapping[str, str] = SHORT_LABELS,
    aliases: Mapping[str, str] | None = None,
) -> list[KeyHint]:
    """Shown bindings (plus the command palette) grouped by id, keys in binding order.

    ``active`` is (binding, enabled) in the screen's order; a binding with ``show=False`` is
    left out (that is how ``--read-only`` hides the keys that change things). ``aliases``
    maps an id (or an id-less binding's action) to the id it is shown with.
    """
    aliases = aliases or {}
    keys: dict[str, list[str]] = {}
    first: dict[str, tuple[str, bool]] = {}
    for binding, enabled in active:
        if binding.action.removeprefix("app.") == PALETTE_ACTION:
            ident = PALETTE
        elif binding.show and binding.description:
            ident = binding.id or binding.action
            ident = aliases.get(ident, ident)
        else:
            continue
        label = labels.get(ident) or binding.description.lower()
        first.setdefault(ident, (label, enabled))
        shown = key_text(binding.key)
        if shown not in keys.setdefault(ident, []):
            keys[ident].append(shown)
    return [KeyHint(i, tuple(keys[i]), *first[i]) for i in first]


def rank(hints: Sequence[KeyHint], order: Sequence[str]) -> list[KeyHint]:
    """Most important first: ids in ``order``, then the rest as they came."""
    place = {ident: n for n, ident in enumerate(order)}
    indexed = sorted(enumerate(hints), key=lambda p: (place.get(p[1].ident, len(place)), p[0]))
    return [h for _, h in indexed]


def line_width(hints: Sequence[KeyHint]) -> int:
    """Columns the hints take on one line (leading space, two spaces between)."""
    if not hints:
        return 0
    return len(_LEAD) + sum(h.width for h in hints) + len(_GAP) * (len(hints) - 1)


def fit(ranked: Sequence[KeyHint], width: int) -> list[KeyHint]:
    """The longest most-important prefix that fits ``width``, with help always kept, last.

    A prefix (not "whatever else fits") so a narrower terminal only ever loses the least
    important keys, never a key in the middle of the list.
    """
    help_ = [h for h in ranked if h.ident == HELP]
    others = [h for h in ranked if h.ident != HELP]
    kept: list[KeyHint] = []
    for hint in others:
        if line_width([*kept, hint, *help_]) > width:
            break
        kept.append(hint)
    return kept + help_


def render_line(
    hints: Sequence[KeyHint], key_style: Style | str = "bold", label_style: Style | str = ""
) -> Text:
    """The bar's text: `key label` pairs; a disabled action is dimmed, not hidden."""
    key_s = Style.parse(key_style) if isinstance(key_style, str) else key_style
    label_s = Style.parse(label_style) if isinstance(label_style, str) else label_style
    dim = Style(dim=True)
    out = Text(_LEAD, no_wrap=True, overflow="crop", end="")
    for n, hint in enumerate(hints):
        if n:
            out.append(_GAP)
        out.append(hint.key_text, style=key_s if hint.enabled else key_s + dim)
        out.append(" " + hint.label, style=label_s if hint.enabled else label_s + dim)
    return out


class KeyBar(Widget, can_focus=False):
    """The screen's keys on one line, refreshed only on a bindings change or a resize."""

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $panel;
    }
    KeyBar > .key-bar--key {
        color: $accent;
        text-style: bold;
    }
    """
    COMPONENT_CLASSES = {"key-bar--key"}

    # The bar repaints when these change, not when the screen repaints its live data.
    hints: reactive[tuple[KeyHint, ...]] = reactive(())

    def __init__(
        self,
        order: Sequence[str] = (),
        *,
        labels: Mapping[str, str] = SHORT_LABELS,
        aliases: Mapping[str, str] | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.order = tuple(order)
        self.labels = labels
        self.aliases = dict(aliases or {})

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        # Published on every focus change too; the reactive repaints only when hints differ.
        if screen is not self.screen:
            return
        focused = screen.focused
        active = [
            (ab.binding, ab.enabled)
            for ab in screen.active_bindings.values()
            if focused is None or ab.node is focused or not typed_into(focused, ab.binding.key)
        ]
        self.hints = tuple(rank(collect_hints(active, self.labels, self.aliases), self.order))

    def shown(self) -> list[KeyHint]:
        """The hints that fit the bar's current width."""
        return fit(self.hints, self.size.width)

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key", partial=True)
        return render_line(self.shown(), key_style=key_style)
