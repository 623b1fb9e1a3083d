"""Checks before a rollout starts: does the environment have the service, the candidate and
the routing the plan needs? Used by ``auto``, ``start`` and ``validate --env`` so that a plan
the backend cannot carry is refused with the reason, instead of failing half-way through.
"""

from __future__ import annotations

from dataclasses import dataclass

from backends.base import (
    BackendError,
    Environment,
    NotFound,
    Routing,
    RoutingInfo,
    Strategy,
    UserRouting,
)
from console.driver.flags import no_flags
from console.plan.model import Plan, SetWeightStep

# Exit codes of the commands that call this (console/commands/exits.py has the full list).
BAD_INPUT = 2
BACKEND = 4


@dataclass(frozen=True)
class Refusal:
    code: int  # BAD_INPUT for the plan or environment, BACKEND when it could not be asked
    message: str


def routing_problems(plan: Plan, routing: Routing) -> list[str]:
    """What ``plan`` needs that ``routing`` cannot do, one sentence each (empty: it fits)."""
    needs: list[str] = []
    if plan.match and not routing.match:
        needs.append("header/cookie match routes (match:)")
    if plan.mirror and not routing.mirror:
        needs.append(f"mirroring (mirror: {plan.mirror})")
    if plan.strategy is Strategy.BLUEGREEN and not routing.switch:
        needs.append("switching all traffic between two pools (blue/green)")
    if plan.strategy is Strategy.ROLLING and not routing.weighted:
        needs.append("splits in proportion to ready instances (rolling)")
    if plan.strategy is Strategy.ROLLING and routing.weighted and not routing.rolling:
        needs.append("starting and stopping instances (rolling)")
    if plan.strategy is Strategy.CANARY and not routing.weighted:
        partial = sorted(
            {s.weight for s in plan.steps if isinstance(s, SetWeightStep) and 0 < s.weight < 100}
        )
        if partial:
            shown = ", ".join(f"{w}%" for w in partial)
            needs.append(f"weighted splits (setWeight {shown})")
    if not needs:
        return []
    why = f": {routing.reason}" if routing.reason else ""
    return [f"the plan needs {n}, which this environment cannot do{why}" for n in needs]


def preflight(env: Environment, plan: Plan) -> Refusal | None:
    """None when ``env`` can run ``plan``; else why not, with the exit code to use."""
    where = plan.source or plan.service
    from console.driver.foreign import drive_refusal

    theirs = drive_refusal(env, plan.service)  # Argo Rollouts drives it: not ours to run
    if theirs is not None:
        return Refusal(BAD_INPUT, theirs)
    if env.traffic is None or env.store is None:
        return Refusal(
            BAD_INPUT, f"environment '{env.name}' has no traffic backend; it cannot run rollouts"
        )
    try:
        known = env.traffic.services()
    except BackendError as exc:
        return Refusal(BACKEND, f"{env.name}: cannot list services: {exc}")
    if plan.service not in known:
        return Refusal(
            BAD_INPUT,
            f"{where}: service '{plan.service}' not found in environment '{env.name}'; "
            f"known: {', '.join(sorted(known)) or 'none'}",
        )
    if plan.flag is not None:
        return flag_preflight(env, plan)
    if plan.experiment is not None and not isinstance(env.traffic, UserRouting):
        return Refusal(
            BAD_INPUT,
            f"{where}: an experiment between versions needs a traffic backend that splits by "
            f"user (sticky arms), which {env.traffic.name} cannot do; put the change behind "
            "a flag and give the experiment flag: ...",
        )
    if plan.experiment is not None and "control" in env.extras:
        arms = [a.name for a in plan.experiment.arms]
        return _missing_version(env, plan, arms, "arm {} is not a version of {} in the demo")
    if "control" in env.extras:  # the embedded demo, under any environment name
        # The demo's versions are fixed processes: a typo would otherwise wait on health
        # until the timeout. (On Kubernetes the candidate is an image to deploy.)
        problem = "candidate '{}' is not a version of {} in the demo"
        refused = _missing_version(env, plan, [plan.candidate], problem)
        if refused is not None:
            return refused
    if isinstance(env.traffic, RoutingInfo):
        try:
            routing = env.traffic.routing(plan.service)
        except BackendError as exc:
            return Refusal(BACKEND, f"{env.name}: cannot read how {plan.service} is routed: {exc}")
        problems = routing_problems(plan, routing)
        if problems:
            return Refusal(BAD_INPUT, f"{where}: " + "; ".join(problems))
        if routing.fixed_fleet:  # no deployer: the candidate's servers must be there
            problem = f"candidate '{{}}' has no servers in {{}}'s fixed fleet on {env.traffic.name}"
            return _missing_version(env, plan, [plan.candidate], problem)
    return None


def _missing_version(
    env: Environment, plan: Plan, wanted: list[str], problem: str
) -> Refusal | None:
    """A refusal naming the first of ``wanted`` that is not a version of the plan's service
    (``problem`` formatted with it and the service) and the versions there are; None when all
    are there."""
    assert env.traffic is not None
    try:
        versions = env.traffic.versions(plan.service)
    except BackendError as exc:
        return Refusal(BACKEND, f"{env.name}: cannot list versions: {exc}")
    missing = [w for w in wanted if w not in versions]
    if not missing:
        return None
    where = plan.source or plan.service
    text = problem.format(missing[0], plan.service)
    return Refusal(BAD_INPUT, f"{where}: {text}; known: {', '.join(versions)}")


def flag_preflight(env: Environment, plan: Plan) -> Refusal | None:
    """A plan with ``flag:``: the environment has a flags source, the flag exists and has
    the plan's variants (the arms of an experiment, the variant of a flag rollout)."""
    where = plan.source or plan.service
    if env.flags is None:
        return Refusal(BAD_INPUT, f"{where}: {no_flags(env.name)}")
    assert plan.flag is not None
    try:
        flag = env.flags.flag(plan.flag)
    except NotFound as exc:
        return Refusal(BAD_INPUT, f"{where}: flag: {exc}")
    except BackendError as exc:
        return Refusal(BACKEND, f"{env.name}: cannot read the flags: {exc}")
    wanted = (
        [("variant", plan.candidate)]
        if plan.experiment is None
        else [(f"arms[{i}].name", a.name) for i, a in enumerate(plan.experiment.arms)]
    )
    for field, variant in wanted:
        if variant not in flag.variants:
            return Refusal(
                BAD_INPUT,
                f"{where}: {field}: flag {plan.flag} has no variant {variant!r}; "
                f"its variants: {', '.join(flag.variant_names)}",
            )
    if not flag.editable:
        return Refusal(
            BAD_INPUT,
            f"{where}: flag {plan.flag}'s targeting has a shape the console does not edit "
            "(cohort rules, then a fractional split); change it by hand first",
        )
    return None
