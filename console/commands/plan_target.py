"""What ``rollout auto`` and ``rollout start`` check before anything changes: the plan file,
the environment, the service in it and (in the demo) the candidate version.

Each check raises ``Refused`` with the exit code (2 bad input, 4 a backend could not be
reached) and the message the command prints.
"""

from __future__ import annotations

from backends.base import BackendError, Environment
from console.cli import EXIT_BACKEND, EXIT_BAD_INPUT
from console.config.settings import ConfigError, cluster_hint, environment_name
from console.plan.model import Plan


class Refused(Exception):
    """The command cannot go on: ``code`` is its exit code, ``str()`` the message."""

    def __init__(self, code: int, message: str, service: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.service = service


def read_plan(path: str) -> Plan:
    """The validated plan at ``path``."""
    from console.plan.load import PlanError, load_plan

    try:
        return load_plan(path)
    except PlanError as exc:
        raise Refused(EXIT_BAD_INPUT, str(exc)) from None
    except OSError as exc:
        raise Refused(EXIT_BAD_INPUT, f"{path}: cannot read: {exc.strerror or exc}") from None


def open_target(plan: Plan, path: str, env_name: str | None) -> Environment:
    """The environment to run ``plan`` in, once its service (and demo candidate) is known."""
    from console.config.environments import open_environment

    service = plan.service
    try:
        env = open_environment(env_name)
    except ConfigError as exc:
        raise Refused(EXIT_BAD_INPUT, str(exc), service) from None
    except BackendError as exc:
        where = environment_name(env_name)
        raise Refused(EXIT_BACKEND, f"cannot reach environment '{where}': {exc}", service) from None
    if env.traffic is None or env.store is None:
        msg = (
            f"environment '{env.name}' has no traffic backend; it cannot run rollouts"
            + cluster_hint()
        )
        raise Refused(EXIT_BAD_INPUT, msg, service)
    try:
        known = env.traffic.services()
    except BackendError as exc:
        raise Refused(EXIT_BACKEND, f"{env.name}: cannot list services: {exc}", service) from None
    if service not in known:
        msg = (
            f"{plan.source or path}: service '{service}' not found in environment "
            f"'{env.name}'; known: {', '.join(sorted(known)) or 'none'}"
        )
        raise Refused(EXIT_BAD_INPUT, msg, service)
    if env.name == "demo":
        # The demo's versions are fixed processes: a typo would otherwise wait on health
        # until the timeout. (On Kubernetes the candidate is an image to deploy.)
        try:
            versions = env.traffic.versions(service)
        except BackendError as exc:
            raise Refused(
                EXIT_BACKEND, f"{env.name}: cannot list versions: {exc}", service
            ) from None
        if plan.candidate not in versions:
            msg = (
                f"{plan.source or path}: candidate '{plan.candidate}' is not a version "
                f"of {service} in the demo; known: {', '.join(versions)}"
            )
            raise Refused(EXIT_BAD_INPUT, msg, service)
    return env
