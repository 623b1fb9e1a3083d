"""``rollout demo``: start the embedded LMS on loopback, then open the console on it.

``--headless`` keeps the environment running without a UI until Ctrl-C or SIGTERM (for tmux,
and for ``rollout auto`` in another pane). Either way, leaving stops every child process and
frees every port. The demo runs a rollout controller (``rollout controller --env demo``) as
one of its processes, restarted with back-off if it dies, so every rollout is guarded with
no console open and every console is a viewer; ``--no-controller`` leaves it out.
``--gateway haproxy`` puts Debian's HAProxy in front of the instances instead of the
embedded gateway (console/config/demo_gateway.py, docs/haproxy.md). Exit
codes: 0 stopped normally, 2 bad input or a demo already running on the same state
directory, 4 the environment could not start or died.
"""

from __future__ import annotations

import signal
import sys
from argparse import Namespace
from typing import Any

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_BACKEND = 4


class _Terminated(Exception):
    """SIGTERM arrived: stop like Ctrl-C."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def _err(message: str) -> None:
    print(f"rollout demo: {message}", file=sys.stderr)


def run(args: Namespace) -> int:
    """Start the demo and run it headless or under the console; stop everything on exit."""
    from backends.local import (
        DemoAlreadyRunning,
        DemoError,
        FaultSpecError,
        parse_fault,
        read_endpoint,
        remove_prometheus_file,
        start_demo,
        write_prometheus_file,
    )
    from backends.local.faults import check_fault_target
    from backends.local.runner import SERVICES, VERSIONS
    from console.config.paths import demo_dir

    try:
        faults = [parse_fault(spec) for spec in args.fault]
        for spec, fault in zip(args.fault, faults, strict=True):
            check_fault_target(fault, spec, SERVICES, VERSIONS)
    except FaultSpecError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    if not 1 <= args.instances <= 10:
        _err(f"--instances must be between 1 and 10, got {args.instances}")
        return EXIT_BAD_INPUT
    if not 0 <= args.rps <= 10000:
        _err(f"--rps must be between 0 and 10000, got {args.rps:g}")
        return EXIT_BAD_INPUT
    state = demo_dir()
    on_haproxy = getattr(args, "gateway", "embedded") == "haproxy"
    if on_haproxy:
        problem = _haproxy_missing()
        if problem:
            _err(problem)
            return EXIT_BACKEND
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    handle = None
    prometheus = None
    gateway = None
    haproxy_port = 0
    try:
        if on_haproxy:
            from backends.haproxy.process import free_port
            from console.config import demo_gateway

            if read_endpoint(state) is None:  # never touch a running demo's files
                demo_gateway.mark_pending(state)
            haproxy_port = free_port()
        try:
            handle = start_demo(
                state,
                rps=0 if on_haproxy else args.rps,  # the load starts once HAProxy is up
                instances=args.instances,
                faults=faults,
                companions=None if _no_controller(args) else {"controller": controller_argv()},
                load_port=haproxy_port,
            )
        except DemoAlreadyRunning:
            _err(
                f"a demo environment is already running in {state}; use it (rollout, rollout auto) "
                "or stop it first, or set ROLLOUT_DEMO_DIR to run another"
            )
            return EXIT_BAD_INPUT
        except DemoError as exc:
            _err(str(exc))
            return EXIT_BACKEND
        if on_haproxy:
            gateway = _start_haproxy(state, haproxy_port, args.rps)
            if isinstance(gateway, str):
                _err(gateway)
                gateway = None
                return EXIT_BACKEND
        elif args.metrics == "prometheus":
            # Prometheus scrapes the gateway's /metrics; the console then reads PromQL.
            from backends.local import prometheus_runner as runner

            target = handle.gateway_url.removeprefix("http://")
            try:
                prometheus = runner.start_prometheus([target], state / "prometheus")
            except RuntimeError as exc:  # PrometheusNotInstalled, PrometheusFailed
                _err(f"could not start Prometheus: {exc}")
                return EXIT_BACKEND
            # Other processes (`rollout auto`, a second console) read metrics through it too.
            write_prometheus_file(state, prometheus.url)
        if not args.headless and not _has_terminal():
            print("rollout demo: no terminal: running headless (as with --headless).", flush=True)
            args.headless = True
        if args.headless:
            _print_where(handle, args, prometheus, gateway)
            return _wait(handle)
        return _open_console(args)
    except (KeyboardInterrupt, _Terminated):
        return EXIT_OK
    finally:
        # Ignore a second Ctrl-C/SIGTERM while we clean up: a half-stopped demo is worse.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if prometheus is not None:
                remove_prometheus_file(state)
                prometheus.stop()
            if handle is not None:
                handle.stop()  # the controller first, while HAProxy still carries traffic
            if gateway is not None:
                gateway.stop()
            elif on_haproxy:
                from console.config import demo_gateway

                if read_endpoint(state) is None:
                    demo_gateway.remove(state)
            if handle is not None:
                print(
                    "rollout demo: stopped; every process ended and every port is free.",
                    file=sys.stderr,
                )
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, previous)


def _haproxy_missing() -> str:
    """Why ``--gateway haproxy`` cannot run here ("" when it can)."""
    from backends.haproxy.process import HAProxyNotInstalled, find_haproxy
    from backends.local.prometheus_runner import find_binary

    try:
        find_haproxy()
    except HAProxyNotInstalled as exc:
        return f"--gateway haproxy: {exc}"
    try:
        find_binary()
    except RuntimeError as exc:
        return f"--gateway haproxy reads HAProxy's metrics through Prometheus: {exc}"
    return ""


def _start_haproxy(state: Any, port: int, rps: float) -> Any:
    """HAProxy in front of the demo's instances (console/config/demo_gateway.py), then the
    load sent through it; the gateway, or why it could not start."""
    from backends.base import BackendError
    from backends.local import connect
    from console.config.demo_gateway import HAProxyGateway

    gateway = HAProxyGateway(state, port)
    try:
        env = connect(state)
        gateway.start(env)
        env.extras["control"].set_rps(rps)
    except (RuntimeError, BackendError, OSError) as exc:
        gateway.stop()
        return f"could not start HAProxy as the gateway: {exc}"
    return gateway


def controller_argv() -> list[str]:
    """The demo's controller: this Python, any free port for its metrics, gone with the demo."""
    return [
        sys.executable,
        "-m",
        "console.cli",
        "controller",
        "--env",
        "demo",
        "--port",
        "0",
        "--exit-on-stdin-eof",
    ]


def _no_controller(args: Namespace) -> bool:
    return bool(getattr(args, "no_controller", False))


def _has_terminal() -> bool:
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _open_console(args: Namespace) -> int:
    from backends.base import BackendError
    from console.commands.tui import open_console
    from console.config.environments import open_demo
    from console.config.paths import demo_dir
    from console.config.settings import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    try:
        env = open_demo(demo_dir())
    except BackendError as exc:
        _err(str(exc))
        return EXIT_BACKEND
    read_only = bool(getattr(args, "read_only", False))
    standby = bool(getattr(args, "standby", False))
    return int(open_console(env, config, read_only=read_only, standby=standby) or 0)


def _print_where(handle: Any, args: Namespace, prometheus: Any, gateway: Any = None) -> None:
    state = handle.state_dir
    if gateway is not None:
        _print_where_haproxy(handle, args, gateway)
        return
    lines = [
        "rollout demo: the LMS is running on 127.0.0.1 (services courses, enrollments, grades;",
        "              v1 takes 100%, candidate v2 is deployed and takes none)",
        f"  gateway   {handle.gateway_url}   e.g. {handle.gateway_url}/courses/3",
        f"  metrics   {handle.metrics_url}   (Prometheus text)",
        f"  control   {handle.control_url}   (token in {state / 'endpoint.json'})",
        f"  load      {args.rps:g} requests/s, open loop, 5% beta testers (x-lms-beta: true)",
        f"  instances {args.instances} per version",
        f"  state     {state}",
        f"  log       {handle.log_path}",
    ]
    if prometheus is not None:
        lines.append(f"  prometheus {getattr(prometheus, 'url', '?')}")
    if _no_controller(args):
        lines.append("  controller none (--no-controller): a rollout is guarded only while driven")
    else:
        lines.append(f"  controller guards every rollout   (log {state / 'controller.log'})")
    for f in args.fault:
        lines.append(f"  fault     {f}")
    lines += [
        "",
        "In another pane:  rollout start examples/canary.yaml   (the controller drives it)",
        "              or  rollout auto examples/canary.yaml    (or: rollout status)",
        "Stop with Ctrl-C or SIGTERM.",
    ]
    print("\n".join(lines), flush=True)


def _wait(handle: Any) -> int:
    while True:
        code = handle.wait(0.5)
        if code is not None:
            _err(f"the demo environment exited unexpectedly (code {code}); see {handle.log_path}")
            return EXIT_BACKEND


def _print_where_haproxy(handle: Any, args: Namespace, gateway: Any) -> None:
    state = handle.state_dir
    lines = [
        "rollout demo: the LMS is running on 127.0.0.1 behind Debian's HAProxy (services",
        "              courses, enrollments, grades; v1 takes 100%, v2's servers drained)",
        f"  gateway   {gateway.process.url}   (HAProxy) e.g. {gateway.process.url}/courses/3",
        f"  runtime   {gateway.process.socket_path}   (Runtime API, level admin)",
        f"  metrics   {gateway.prometheus.url}   (Prometheus, HAProxy's exporter)",
        f"  control   {handle.control_url}   (faults and load; token in {state / 'endpoint.json'})",
        f"  load      {args.rps:g} requests/s through HAProxy",
        f"  instances {args.instances} per version",
        f"  state     {state}",
        f"  log       {handle.log_path}",
    ]
    if _no_controller(args):
        lines.append("  controller none (--no-controller): a rollout is guarded only while driven")
    else:
        lines.append(f"  controller guards every rollout   (log {state / 'controller.log'})")
    lines += [
        "",
        "HAProxy routes by weight only: header match, mirroring and latency metrics are not",
        "available. In another pane:  rollout auto examples/haproxy-canary.yaml",
        "Stop with Ctrl-C or SIGTERM.",
    ]
    print("\n".join(lines), flush=True)
