"""The embedded demo environment: a small LMS on loopback, its gateway and its backends.

``start_demo(state_dir, ...) -> DemoHandle`` starts it (``rollout demo`` and the tests do);
``connect(state_dir) -> Environment`` finds a running one through ``endpoint.json``. The
names are imported lazily: instance processes import this package and must stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backends.local.client import DemoControl, LocalMetrics, LocalTraffic
    from backends.local.faults import Fault, FaultSpecError, parse_fault
    from backends.local.launcher import (
        DemoAlreadyRunning,
        DemoError,
        DemoHandle,
        connect,
        read_endpoint,
        read_prometheus_url,
        remove_prometheus_file,
        start_demo,
        write_prometheus_file,
    )

_LAZY = {
    "connect": "launcher",
    "start_demo": "launcher",
    "read_endpoint": "launcher",
    "read_prometheus_url": "launcher",
    "write_prometheus_file": "launcher",
    "remove_prometheus_file": "launcher",
    "DemoHandle": "launcher",
    "DemoError": "launcher",
    "DemoAlreadyRunning": "launcher",
    "LocalTraffic": "client",
    "LocalMetrics": "client",
    "DemoControl": "client",
    "Fault": "faults",
    "FaultSpecError": "faults",
    "parse_fault": "faults",
}

__all__ = [
    "DemoAlreadyRunning",
    "DemoControl",
    "DemoError",
    "DemoHandle",
    "Fault",
    "FaultSpecError",
    "LocalMetrics",
    "LocalTraffic",
    "connect",
    "parse_fault",
    "read_endpoint",
    "read_prometheus_url",
    "remove_prometheus_file",
    "start_demo",
    "write_prometheus_file",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'backends.local' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"backends.local.{module}"), name)
