"""Run Debian's Prometheus on loopback: for the test suite and ``rollout demo --metrics prometheus``.

``start_prometheus(targets, workdir)`` writes a config that scrapes each target every
``scrape_interval``, starts ``/usr/bin/prometheus`` on a free 127.0.0.1 port with its storage
in ``workdir``, waits until it is ready, and returns a handle with ``.url`` and ``.stop()``.
``.stop()`` and ``.start()`` again (same port, same data) let tests take Prometheus away
mid-rollout and bring it back; ``.freeze()``/``.thaw()`` make it hang instead (a slow server).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

DEFAULT_BINARY = "/usr/bin/prometheus"
READY_TIMEOUT = 30.0


class PrometheusNotInstalled(RuntimeError):
    """No Prometheus binary; the message says how to install one."""


class PrometheusFailed(RuntimeError):
    """Prometheus exited or never became ready; the message holds the end of its log."""


def find_binary(binary: str | None = None) -> str:
    """The Prometheus executable: ``binary`` or ``$ROLLOUT_PROMETHEUS`` when given (and then
    only that), else /usr/bin/prometheus or the PATH. Raises PrometheusNotInstalled with what
    to do."""
    chosen = binary or os.environ.get("ROLLOUT_PROMETHEUS")
    if chosen:
        if Path(chosen).is_file() and os.access(chosen, os.X_OK):
            return chosen
        raise PrometheusNotInstalled(
            f"Prometheus is not installed at {chosen} (from ROLLOUT_PROMETHEUS or the caller): "
            "no executable file there"
        )
    if Path(DEFAULT_BINARY).is_file() and os.access(DEFAULT_BINARY, os.X_OK):
        return DEFAULT_BINARY
    found = shutil.which("prometheus")
    if found:
        return found
    raise PrometheusNotInstalled(
        "Prometheus is not installed: no executable at /usr/bin/prometheus or on the PATH. "
        "Install it with `apt-get install prometheus` (Debian/Ubuntu), or set "
        "ROLLOUT_PROMETHEUS to the path of a prometheus binary."
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape_config(
    targets: Sequence[str], scrape_interval: str = "1s", labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The prometheus.yml content: one job per target (a URL or host:port; path defaults to
    /metrics). Scrape timeout equals the interval, since Prometheus rejects a longer one."""
    jobs = []
    for i, target in enumerate(targets):
        parts = urlsplit(target if "://" in target else f"http://{target}")
        if not parts.hostname or not parts.port:
            raise ValueError(f"scrape target {target!r} needs a host and a port")
        job: dict[str, Any] = {
            "job_name": f"target-{i}",
            "scheme": parts.scheme,
            "metrics_path": parts.path or "/metrics",
            "static_configs": [{"targets": [f"{parts.hostname}:{parts.port}"]}],
        }
        if labels:
            job["static_configs"][0]["labels"] = dict(labels)
        jobs.append(job)
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": scrape_interval,
        },
        "scrape_configs": jobs,
    }


@dataclass
class PrometheusHandle:
    """A running Prometheus started by ``start_prometheus``."""

    port: int
    workdir: Path
    binary: str
    web_config: Path | None = None
    scheme: str = "http"
    process: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = READY_TIMEOUT) -> PrometheusHandle:
        """Start (or restart, on the same port and data) and wait until ready."""
        if self.running:
            return self
        args = [
            self.binary,
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ]
        if self.web_config is not None:
            args.append(f"--web.config.file={self.web_config}")
        self._log = open(self.log_path, "ab")  # noqa: SIM115  # kept open for the process life
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,  # Ctrl-C in a terminal goes to us, not straight to it
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise PrometheusFailed(f"Prometheus exited at start:\n{self.log_tail()}")
            if self._ready():
                return
            time.sleep(0.1)
        raise PrometheusFailed(f"Prometheus not ready after {timeout:g}s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        # With TLS (400: plain HTTP to an HTTPS port) or basic auth (401) configured, that
        # answer means it is serving.
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1) as r:
                return bool(r.status == 200)
        except urllib.error.HTTPError as exc:
            return self.web_config is not None and exc.code in (400, 401)
        except (OSError, ValueError):
            return False

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def freeze(self) -> None:
        """Stop the process (SIGSTOP): it keeps its socket but answers nothing, like a hung
        server. ``thaw()`` resumes it."""
        if self.running and self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.running and self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate Prometheus (SIGTERM, then SIGKILL) and wait for it. Idempotent."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a frozen process cannot handle SIGTERM
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> PrometheusHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_prometheus(
    targets: list[str],
    workdir: str | os.PathLike[str],
    scrape_interval: str = "1s",
    *,
    binary: str | None = None,
    web_config: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    timeout: float = READY_TIMEOUT,
) -> PrometheusHandle:
    """Start Prometheus scraping ``targets`` on a free loopback port; return when it is ready.

    ``web_config`` is Prometheus' --web.config.file content (TLS, basic auth). Raises
    PrometheusNotInstalled when there is no binary, PrometheusFailed if it does not start.
    """
    exe = find_binary(binary)
    work = Path(workdir)
    (work / "data").mkdir(parents=True, exist_ok=True)
    (work / "prometheus.yml").write_text(
        yaml.safe_dump(scrape_config(targets, scrape_interval, labels), sort_keys=False)
    )
    web_path = None
    if web_config is not None:
        web_path = work / "web.yml"
        web_path.write_text(yaml.safe_dump(dict(web_config), sort_keys=False))
    tls = bool(web_config and web_config.get("tls_server_config"))
    last: PrometheusFailed | None = None
    # Another process may take the free port between our check and Prometheus' bind: retry.
    for _ in range(3):
        handle = PrometheusHandle(
            port=free_port(),
            workdir=work,
            binary=exe,
            web_config=web_path,
            scheme="https" if tls else "http",
        )
        try:
            return handle.start(timeout)
        except PrometheusFailed as exc:
            last = exc
            if "address already in use" not in str(exc):
                raise
    assert last is not None
    raise last
