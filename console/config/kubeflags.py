"""kubectl's ``--kubeconfig``, ``--context`` and ``-n/--namespace`` over an environment entry.

Every command that talks to a cluster takes the three flags; given, they replace the
environment's ``cluster.kubeconfig``/``context``/``namespace`` for this invocation, so that
``rollout status -n lms-prod --context prod-eu`` works without editing the config file.
An environment with no cluster section gets ``{kind: kubernetes}`` plus the flags; with no
config at all (the default would be the demo) the flags make an environment named
``kubernetes``. The embedded demo named on purpose (``--env demo``) has no kubeconfig: refused.
The kubeconfig itself is read by ``backends/kubernetes/connection.py``.

The flags belong to the command line, like ``KUBECONFIG`` to the process: ``cli.main`` sets
them once with ``use()`` and ``open_environment`` reads them with ``current()``, so no
command has to pass them along (an explicit ``kube=`` argument wins).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

from console.config.settings import DEMO, Config, ConfigError, EnvironmentConfig

# The environment the flags make when the config names none (the default is the demo).
FLAGS_ONLY = "kubernetes"


@dataclass(frozen=True)
class KubeFlags:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None

    def given(self) -> bool:
        return any((self.kubeconfig, self.context, self.namespace))

    def as_cluster(self) -> dict[str, str]:
        """The cluster keys the flags set (only those given)."""
        pairs = (
            ("kubeconfig", self.kubeconfig),
            ("context", self.context),
            ("namespace", self.namespace),
        )
        return {key: value for key, value in pairs if value}

    def flag_names(self) -> str:
        pairs = (
            ("--kubeconfig", self.kubeconfig),
            ("--context", self.context),
            ("--namespace", self.namespace),
        )
        return "/".join(name for name, value in pairs if value)


_current = KubeFlags()


def use(flags: KubeFlags) -> None:
    """The flags of this invocation (``cli.main`` calls it for every command line)."""
    global _current
    _current = flags


def current() -> KubeFlags:
    return _current


def from_args(args: argparse.Namespace) -> KubeFlags:
    """The flags of a parsed command line (absent attributes: not given)."""
    return KubeFlags(
        kubeconfig=getattr(args, "kubeconfig", None) or None,
        context=getattr(args, "context", None) or None,
        namespace=getattr(args, "namespace", None) or None,
    )


def resolve(config: Config, name: str | None, flags: KubeFlags | None) -> EnvironmentConfig:
    """The environment ``name`` (or the default) with the flags applied. Raises ConfigError."""
    if flags is None or not flags.given():
        return config.environment(name)
    chosen = name or config.default
    if chosen == DEMO and DEMO not in config.environments:
        if name is None:  # nothing configured: the flags alone say which cluster
            return EnvironmentConfig(
                name=FLAGS_ONLY, cluster={"kind": "kubernetes", **flags.as_cluster()}
            )
        raise ConfigError(
            f"{flags.flag_names()}: environment '{DEMO}' is the embedded demo, not a "
            "Kubernetes cluster; pass --env with a Kubernetes environment, or no --env"
        )
    env_cfg = config.environment(name)
    cluster = dict(env_cfg.cluster or {"kind": "kubernetes"})
    if cluster.get("kind") != "kubernetes":
        raise ConfigError(
            f"{flags.flag_names()}: environment '{env_cfg.name}' has cluster kind "
            f"'{cluster.get('kind')}', not kubernetes; the flags select a Kubernetes cluster"
        )
    cluster.update(flags.as_cluster())
    return replace(env_cfg, cluster=cluster)
