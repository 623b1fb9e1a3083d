"""What ``rollout start`` checks before anything changes, as ``rollout auto`` does: the plan
file, the environment, and ``preflight`` (the service, the demo candidate, the routing).

Each check raises ``Refused`` with the exit code (2 bad input, 4 a backend could not be
reached) and the message the command prints.
"""

from __future__ import annotations

from backends.base import BackendError, Environment
from console.commands.exits import EXIT_BACKEND, EXIT_BAD_INPUT
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
    """The environment to run ``plan`` in, once ``preflight`` found it can (the service, the
    demo candidate, the routing the plan needs)."""
    from console.config.environments import open_environment
    from console.driver.preflight import preflight

    service = plan.service
    try:
        env = open_environment(env_name)
    except ConfigError as exc:
        raise Refused(EXIT_BAD_INPUT, str(exc), service) from None
    except BackendError as exc:
        where = environment_name(env_name)
        raise Refused(EXIT_BACKEND, f"cannot reach environment '{where}': {exc}", service) from None
    refusal = preflight(env, plan)
    if refusal is not None:
        hint = cluster_hint() if env.traffic is None else ""
        raise Refused(refusal.code, refusal.message + hint, service)
    return env
