"""The Hypothesis profile of every property test, and a module's example count.

No per-example deadline and no "too slow" health check: on a loaded 2-core CI machine one
example can stall past the 200 ms default, which Hypothesis reports as a flaky failure that
says nothing about the code. tests/conftest.py loads the profile for the whole run; a module's
own ``@settings(...)`` inherits it for whatever it does not set.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = "rollout"
SUPPRESSED = (HealthCheck.too_slow,)

settings.register_profile(PROFILE, deadline=None, suppress_health_check=list(SUPPRESSED))


def load_profile() -> None:
    settings.load_profile(PROFILE)


def examples(variable: str, default: int, *also_suppress: HealthCheck) -> settings:
    """The profile with ``default`` examples per test, raised for a long local run by the
    environment variable ``variable``; ``also_suppress`` adds health checks to skip."""
    return settings(
        max_examples=int(os.environ.get(variable, str(default))),
        deadline=None,
        suppress_health_check=[*SUPPRESSED, *also_suppress],
    )
