"""PromQL text helpers: string-literal and regex escaping, template placeholders.

Pure functions, no I/O. Every value that comes from a plan or a config file and ends up in a
query goes through ``quote`` (or ``regex_quote`` inside a regex matcher), so a service called
``a"b`` cannot break out of its label matcher.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Characters RE2 treats specially; label_replace and =~ use RE2 syntax.
_RE2_SPECIAL = set(r"\.+*?()|[]{}^$")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_]+)\s*\}\}")


def escape(value: str) -> str:
    """Escape ``value`` for the inside of a double-quoted PromQL string literal."""
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        else:
            out.append(ch)
    return "".join(out)


def quote(value: str) -> str:
    """``value`` as a complete double-quoted PromQL string literal."""
    return f'"{escape(value)}"'


def regex_escape(value: str) -> str:
    """Escape ``value`` so that RE2 matches it literally (before string-literal escaping)."""
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in value)


def placeholders(template: str) -> set[str]:
    """The ``{{name}}`` placeholders used in a template."""
    return {m.group(1) for m in _PLACEHOLDER.finditer(template)}


def render(template: str, values: Mapping[str, str], *, raw: frozenset[str] = frozenset()) -> str:
    """Replace ``{{name}}`` placeholders. Values are escaped for a string literal, except the
    names in ``raw`` (the window, which is a duration and not a string).

    A placeholder without a value raises ``KeyError`` naming it.
    """

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            raise KeyError(name)
        return values[name] if name in raw else escape(values[name])

    return _PLACEHOLDER.sub(sub, template)
