"""Fault specs for ``rollout demo --fault``: ``[SERVICE/]VERSION:errors=R,latency=MS,...``. Pure.

``v2:errors=0.3,latency=300ms`` targets v2 of every service; ``courses/v2:...`` one service.
Fields: ``errors`` (0..1), ``latency`` (added per request: ``300ms``, ``0.3s``, a bare number
is milliseconds), ``slow_start`` (``5s``), ``crash`` and ``unready`` (``true``/``false``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backends import units

_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,30}$")


class FaultSpecError(ValueError):
    """A --fault value that cannot be understood; the message quotes it and says why."""


@dataclass(frozen=True)
class Fault:
    """Behaviour injected into one version (of one service, or of every service)."""

    version: str
    service: str | None = None
    errors: float | None = None
    latency: float | None = None  # seconds added to every request
    slow_start: float | None = None
    crash: bool | None = None
    unready: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The runner's form: only the fields that were given."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _duration(raw: str, spec: str, key: str, bare: str) -> float:
    try:
        seconds = units.parse_duration(raw, bare=bare)
    except ValueError:
        raise FaultSpecError(
            f"--fault {spec!r}: {key} must look like 300ms or 1.5s, got {raw!r}"
        ) from None
    if seconds > 60:
        raise FaultSpecError(f"--fault {spec!r}: {key} {raw} is more than 60s")
    return seconds


def _bool(raw: str, spec: str, key: str) -> bool:
    if raw.lower() in ("true", "yes", "1", "on"):
        return True
    if raw.lower() in ("false", "no", "0", "off"):
        return False
    raise FaultSpecError(f"--fault {spec!r}: {key} must be true or false, got {raw!r}")


def parse_fault(spec: str) -> Fault:
    """Parse one --fault value; raises FaultSpecError naming the bad part."""
    target, sep, fields = spec.partition(":")
    if not sep or not fields.strip():
        raise FaultSpecError(
            f"--fault {spec!r}: expected VERSION:errors=R,latency=MS (e.g. v2:errors=0.3,latency=300ms)"
        )
    service, slash, version = target.strip().rpartition("/")
    if not _NAME.match(version) or (slash and not _NAME.match(service)):
        raise FaultSpecError(f"--fault {spec!r}: {target!r} is not VERSION or SERVICE/VERSION")
    values: dict[str, Any] = {}
    for part in fields.split(","):
        key, eq, raw = part.strip().partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not raw.strip():
            raise FaultSpecError(f"--fault {spec!r}: {part.strip()!r} is not key=value")
        raw = raw.strip()
        if key == "errors":
            try:
                r = float(raw.rstrip("%")) / (100 if raw.endswith("%") else 1)
            except ValueError:
                raise FaultSpecError(
                    f"--fault {spec!r}: errors must be a ratio 0..1, got {raw!r}"
                ) from None
            if not 0 <= r <= 1:
                raise FaultSpecError(f"--fault {spec!r}: errors must be between 0 and 1, got {raw}")
            values["errors"] = r
        elif key == "latency":
            values["latency"] = _duration(raw, spec, key, "ms")
        elif key == "slow_start":
            values["slow_start"] = _duration(raw, spec, key, "s")
        elif key in ("crash", "unready"):
            values[key] = _bool(raw, spec, key)
        else:
            raise FaultSpecError(
                f"--fault {spec!r}: unknown field {key!r}; known: errors, latency, slow_start, crash, unready"
            )
    return Fault(version=version, service=service or None, **values)


def check_fault_target(
    fault: Fault, spec: str, services: Sequence[str], versions: Sequence[str]
) -> None:
    """Raise FaultSpecError when ``fault`` names a service or version the demo does not run.

    A fault aimed at nothing would otherwise be accepted silently and inject nothing.
    """
    if fault.service is not None and fault.service not in services:
        raise FaultSpecError(
            f"--fault {spec!r}: unknown service {fault.service!r}; known: {', '.join(services)}"
        )
    if fault.version not in versions:
        where = f"{fault.service} has" if fault.service else "the demo has"
        raise FaultSpecError(
            f"--fault {spec!r}: {where} no version {fault.version!r}; known: {', '.join(versions)}"
        )
