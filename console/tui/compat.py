"""The console's two uses of Textual internals, in one place so an upgrade has one file to check.

Each function says what it needs, why no public API does it in Textual 8, and what public API
would replace it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

from textual.app import App
from textual.notifications import Notification
from textual.screen import Screen


def hide_bindings(app: App[Any] | Screen[Any], ids: Collection[str]) -> None:
    """Hide the app's (or a screen's) bindings with these ids from the key bar, help and palette, while their
    keys still reach the actions (which then refuse and say why: a silent key is worse).

    Private: ``App._bindings``. ``check_action`` returning False hides a binding but also
    drops its key; a public way to mark a binding ``show=False`` after start-up (or a
    ``check_action`` answer meaning "hidden but live") would replace this.
    """
    bmap = app._bindings.key_to_bindings
    for key, bindings in bmap.items():
        bmap[key] = [dataclasses.replace(b, show=False) if b.id in ids else b for b in bindings]


def dismiss_notification(app: App[Any], note: Notification) -> None:
    """Take one notification (toast) down before its timeout; nothing if it is gone already.

    Private: ``App._unnotify`` and ``App._notifications``, used only when both exist, so a
    Textual without them leaves the toast to time out instead of failing. ``clear_notifications``
    takes down every toast; a public ``App.unnotify(notification)`` would replace this.
    """
    unnotify = getattr(app, "_unnotify", None)
    if unnotify is not None and note in getattr(app, "_notifications", ()):
        unnotify(note)
