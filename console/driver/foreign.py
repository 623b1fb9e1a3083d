"""Rollouts another controller drives (Argo Rollouts, Flagger): which ones, and their verbs.

The one rule for who owns a service (docs/internals.md, "Foreign controllers"): a service
the environment's foreign controller lists is shown and driven through that controller
unless the environment's own store has a rollout record for it; a record wins, because then
a ``rollout`` driver runs that service and the foreign object is only its workload. An
environment whose cluster says ``controller: argo-rollouts`` opens no store at all, so every
Rollout there is the controller's.

Verbs go to ``ForeignController.act`` (the controller's own API), never to the command
inbox; ``rollout auto`` and ``rollout start`` are refused (``drive_refusal``).
"""

from __future__ import annotations

from backends.base import (
    BackendError,
    ConflictError,
    Environment,
    ForeignRollout,
    NotFound,
    Unsupported,
)
from console.driver.loop import whoami

# The console's command words -> the foreign verb (FOREIGN_VERBS in backends/base.py).
VERB_WORDS = {
    "promote": "promote",
    "promote-full": "promote-full",
    "pause": "pause",
    "resume": "resume",
    "abort": "abort",
    "retry": "retry",
    "undo": "undo",
}


class ForeignRefused(Exception):
    """The foreign controller cannot take this verb (no API for it, or not now); exit 2."""


def _recorded(env: Environment, name: str) -> bool:
    """Whether the environment's own store has a rollout record for ``name``."""
    if env.store is None:
        return False
    try:
        return name in env.store.services()
    except BackendError:
        return False


def foreign_rollouts(env: Environment) -> dict[str, ForeignRollout]:
    """The foreign rollouts the console shows, by name (those with no record of ours).
    Raises BackendError when the controller's objects cannot be read."""
    if env.foreign is None:
        return {}
    listed = env.foreign.rollouts()
    if not listed:
        return {}
    own = set(env.store.services()) if env.store is not None else set()
    return {r.name: r for r in listed if r.name not in own}


def lookup(env: Environment, service: str) -> ForeignRollout | None:
    """The foreign rollout named ``service``, or None when it is not one (or a record of ours
    shadows it). Raises BackendError when the controller cannot be read."""
    if env.foreign is None:
        return None
    try:
        found = env.foreign.rollout(service)
    except NotFound:
        return None
    return None if _recorded(env, service) else found


def act(env: Environment, service: str, verb: str, *, reason: str = "", user: str = "") -> str:
    """Send ``verb`` to the controller that drives ``service``; its one-line answer.

    Raises ForeignRefused (the controller has no such verb, or refuses it now), NotFound
    (not a foreign rollout), BackendError."""
    foreign = env.foreign
    if foreign is None or lookup(env, service) is None:
        raise NotFound(f"{service} is not a rollout of a foreign controller in '{env.name}'")
    word = VERB_WORDS.get(verb, verb)
    if word not in foreign.verbs:
        raise ForeignRefused(unsupported_text(foreign.name, word, foreign.verbs))
    os_user, host = whoami()
    who = user if "@" in user else f"{user or os_user}@{host}"
    try:
        return foreign.act(service, word, user=who, reason=reason)
    except (Unsupported, ConflictError) as exc:  # no such API, or not now (nothing to undo)
        raise ForeignRefused(str(exc)) from None


def unsupported_text(controller: str, verb: str, verbs: frozenset[str]) -> str:
    """Why a verb is refused: ``argo-rollouts has no 'resume'; it takes: promote, ...``."""
    hint = ""
    if verb == "resume" and "promote" in verbs:
        hint = " (`rollout promote` unpauses, as the controller's own promote does)"
    return f"{controller} has no '{verb}'{hint}; it takes: {', '.join(sorted(verbs))}"


def drive_refusal(env: Environment, service: str) -> str | None:
    """Why ``rollout auto``/``start`` (and the console's start) may not drive ``service``
    here, or None when they may."""
    if env.foreign is None:
        return None
    try:
        found = lookup(env, service)
    except BackendError:
        found = None
    if found is None and env.store is not None:
        return None
    if found is None:
        return (
            f"environment '{env.name}' is driven by {env.foreign.name}: `rollout auto` and "
            "`rollout start` cannot drive rollouts there (their controller drives); change "
            "the controller's own object to roll out"
        )
    return (
        f"{service} is a {found.kind} that {found.controller} drives: `rollout auto` and "
        f"`rollout start` are refused (its controller drives); use `rollout "
        f"promote|pause|abort|retry {service} --env {env.name}` or the console's keys"
    )
