"""Flag rollouts and flag experiments through the same driver: the environment seen through
one flag.

The engine speaks of versions, weights and per-version metrics. For a plan with ``flag:``
the driver hands ``observe``/``apply_action`` an ``Environment`` whose traffic is
``FlagTraffic`` (the flag's variants are the "versions"; a split is the flag's fractional
percent of users, or, when one variant has 100 %, its default variant) and whose metrics are
``VariantMetrics`` (the flag's per-variant metrics, ``FlagMetrics.flag_sample``). The store,
the lease, the commands and the audit are the environment's own, so ``rollout start/status/
history/promote/abort``, the controller and the console drive a flag rollout unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from backends.base import (
    BackendUnavailable,
    Environment,
    Flag,
    FlagBackend,
    FlagMetrics,
    MatchRule,
    MetricSample,
    MetricsBackend,
    TrafficBackend,
    TrafficSplit,
    Unsupported,
    UserRouting,
    VersionHealth,
)
from console.plan.model import Plan


def split_of(flag: Flag) -> dict[str, int]:
    """Who gets which variant outside the cohorts, as a split: the fractional percents,
    else 100 % on the default variant (a disabled flag: on its off variant)."""
    if not flag.enabled:
        off = flag.off_variant or flag.default_variant
        return {off: 100} if off else {}
    if flag.fractional and sum(flag.fractional.values()) == 100:
        return {str(k): int(v) for k, v in flag.fractional.items()}
    return {flag.default_variant: 100} if flag.default_variant else {}


class FlagTraffic:
    """A ``TrafficBackend`` over one flag: variants for versions, percents of users for
    weights. Health is the service's own (the variants run inside its instances)."""

    def __init__(
        self,
        flags: FlagBackend | None,
        flag: str,
        service: str,
        inner: TrafficBackend | None,
        env_name: str = "",
    ) -> None:
        self._source = flags
        self.flag = flag
        self.service = service
        self.inner = inner
        self.env_name = env_name
        self.name = f"flag {flag} ({flags.name if flags else 'no flags source'})"

    @property
    def flags(self) -> FlagBackend:
        if self._source is None:
            raise BackendUnavailable(no_flags(self.env_name))
        return self._source

    def services(self) -> list[str]:
        return [self.service]

    def versions(self, service: str) -> list[str]:
        return self.flags.flag(self.flag).variant_names

    def get_split(self, service: str) -> TrafficSplit:
        return TrafficSplit(weights=split_of(self.flags.flag(self.flag)))

    def set_split(self, service: str, weights: Mapping[str, int]) -> None:
        given = {str(k): int(v) for k, v in weights.items() if v > 0}
        if len(given) == 1:
            # Everyone (outside the cohorts) on one variant: that is the default variant.
            self.flags.set_default(self.flag, next(iter(given)))
        else:
            self.flags.set_fractional(self.flag, given)

    def set_match(self, service: str, rules: Sequence[MatchRule], version: str | None) -> None:
        if version is not None:
            raise Unsupported(f"{self.name}: match routes do not apply to a flag")

    def set_mirror(self, service: str, version: str | None, percent: int) -> None:
        if version is not None and percent > 0:
            raise Unsupported(f"{self.name}: mirroring does not apply to a flag")

    def health(self, service: str) -> dict[str, VersionHealth]:
        variants = self.flags.flag(self.flag).variant_names
        ready, total = 1, 1  # without a traffic backend: assume the service answers
        reasons: tuple[str, ...] = ()
        if self.inner is not None:
            hs = self.inner.health(service).values()
            ready = sum(h.ready for h in hs)
            total = sum(h.total for h in hs)
            if ready <= 0:
                reasons = (f"no ready instance of {service}",)
        # A variant is as healthy as the service that evaluates it: "all ready" while any
        # instance is, since every ready instance serves every variant.
        shown = ready if ready > 0 else max(total, 1)
        return {v: VersionHealth(v, max(ready, 0), shown, reasons=reasons) for v in variants}

    def deploy(self, service: str, version: str, instances: int) -> None:
        raise Unsupported(f"{self.name}: a flag variant is not deployed")

    def scale(self, service: str, version: str, instances: int) -> None:
        raise Unsupported(f"{self.name}: a flag variant is not scaled")

    def retire(self, service: str, version: str) -> None:
        raise Unsupported(f"{self.name}: a flag variant is not retired")


class VariantMetrics:
    """A ``MetricsBackend`` whose "versions" are one flag's variants."""

    def __init__(self, metrics: MetricsBackend | None, flag: str) -> None:
        self.metrics = metrics
        self.flag = flag

    def _source(self) -> FlagMetrics:
        if not isinstance(self.metrics, FlagMetrics):
            raise Unsupported(
                f"the metrics source has no per-variant metrics for flag {self.flag} "
                "(it needs a variant label)"
            )
        return self.metrics

    def sample(
        self, service: str, versions: Sequence[str], window: float
    ) -> dict[str, MetricSample]:
        return self._source().flag_sample(self.flag, list(versions), window)

    def history(
        self, service: str, versions: Sequence[str], since: float, step: float
    ) -> dict[str, list[MetricSample]]:
        raise Unsupported(f"no per-variant history for flag {self.flag}")

    def query(
        self, service: str, versions: Sequence[str], template: str, window: float
    ) -> dict[str, float | None]:
        source = self._source()
        query = getattr(source, "flag_query", None)
        if query is None:
            raise Unsupported(f"no custom queries per variant of flag {self.flag}")
        result: dict[str, float | None] = query(self.flag, list(versions), template, window)
        return result

    def counter_increase(
        self, service: str, counter: str, arms: Sequence[str], window: float
    ) -> dict[str, float | None]:
        """A business counter's growth per variant (the source's ``flag_counter_increase``)."""
        source = self._source()
        f = getattr(source, "flag_counter_increase", None)
        if f is None:
            raise Unsupported(f"the metrics source cannot count {counter} per variant")
        result: dict[str, float | None] = f(self.flag, counter, list(arms), window)
        return result

    def arm_users(self, service: str, arms: Sequence[str], window: float) -> dict[str, int]:
        """Distinct users per variant where the source counts them (``flag_users``)."""
        f = getattr(self.metrics, "flag_users", None)
        if f is None:
            return {}
        result: dict[str, int] = f(self.flag, list(arms), window)
        return result


class UserSplitTraffic:
    """The traffic backend of an experiment between versions: every split with more than
    one version is a split by user (sticky arms); a split on one version turns it off."""

    def __init__(self, inner: TrafficBackend) -> None:
        self.inner = inner
        self.name = inner.name

    def set_split(self, service: str, weights: Mapping[str, int]) -> None:
        arms = [v for v, w in weights.items() if w > 0]
        if isinstance(self.inner, UserRouting):
            self.inner.set_user_routing(service, len(arms) > 1)
        self.inner.set_split(service, weights)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def no_flags(env_name: str) -> str:
    return (
        f"environment '{env_name}' has no flags source; give it one in the config "
        "(flags: {kind: flagd, file: PATH}), or run the demo"
    )


def for_plan(env: Environment, plan: Plan) -> Environment:
    """The environment as the engine should see it for ``plan``: itself, or through the
    plan's flag (without a flags source every read fails with why: preflight refuses it)."""
    if plan.flag is None:
        if plan.experiment is not None and env.traffic is not None:
            return dataclasses.replace(env, traffic=UserSplitTraffic(env.traffic))  # type: ignore[arg-type]
        return env
    return dataclasses.replace(
        env,
        traffic=FlagTraffic(env.flags, plan.flag, plan.service, env.traffic, env.name),
        metrics=VariantMetrics(env.metrics, plan.flag),
    )
