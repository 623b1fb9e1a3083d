"""Active/standby controllers on one (emulated) cluster, run as the Deployment in
deploy/controller/ runs them: two real ``rollout controller`` processes with the ConfigMap's
config.yaml, in-cluster configuration (HTTPS and the service account's token), the pod's
environment, and every write outside its emptyDir reported (tests/kubernetes/in_pod.py).

A canary (the HTTPRoute layout of deploy/examples/courses-canary.yaml) started with
``rollout start`` holds v2 at 20 % at a manual gate, analysis every 1 s, ``failureLimit: 0``,
``error-rate max 0.05``. Its metrics come from a real Prometheus (Debian's, 1 s scrape)
reading an exporter in this process whose error counts the test sets.

- SIGKILL of the active controller, then v2's errors breach: the standby reverts the
  HTTPRoute to 100 % v1 within the lease TTL + one analysis interval + SLACK of the kill,
  and the record says RolledBack with the reason.
- SIGTERM of the active controller: the standby drives the rollout before a TTL has passed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from backends.base import AuditEntry, Phase, RolloutRecord
from backends.local.prometheus_runner import (
    PrometheusHandle,
    PrometheusNotInstalled,
    start_prometheus,
)
from console.driver.guard import DEFAULT_TTL
from tests.kubernetes.in_pod import MARK
from tests.kubernetes.kubetest import DEPLOY, NS, ROOT, Cluster, apply, start_cluster
from tests.prometheus.prom_exporters import Exporter, instant, wait_for_scrapes
from tests.support.waits import eventually, wait_for, wait_until

pytestmark = pytest.mark.slow

TTL = DEFAULT_TTL  # the controller's lease TTL (its key and each rollout's lease): 10 s
INTERVAL = 1.0  # the plan's analysis interval (and the controller's pass)
SCRAPE = "1s"  # Prometheus' scrape interval
WINDOW = 5.0  # the plan's analysis window: rate() over 5 s holds 4-5 scrapes
# What the bound allows beyond TTL + INTERVAL. Prometheus' scrape and rate window cost
# nothing here: the errors start right after the kill, and by the time the standby may take
# over (TTL = 10 s later) the 5 s window holds only faulty scrapes, so the first measurement
# the standby takes breaches. What is left is the reverting tick itself (its PromQL queries,
# the record save and the HTTPRoute update: ~0.2 s on an idle machine) and two processes and
# a Prometheus sharing 2 cores with other test runs: 3 s covers that.
SLACK = 3.0

PLAN = f"""\
service: courses
strategy: canary
stable: v1
candidate: v2
steps:
  - setWeight: 20
  - pause: {{}}
analysis:
  interval: {INTERVAL:g}s
  window: {WINDOW:g}s
  minRequests: 20
  failureLimit: 0
  inconclusiveLimit: 30
  metrics:
    - {{name: error-rate, max: 0.05}}
"""


# ----------------------------------------------------------------------------- metrics


class Requests:
    """Cumulative ``http_request_duration_seconds`` histograms of courses v1/v2 (the ``http``
    provider's names): ``rates`` requests per second, of which ``errors[version]`` answer
    500. Counters grow by the time between scrapes, so changing the error ratio never makes
    a counter go down."""

    def __init__(self, rates: dict[str, float]) -> None:
        self.rates = rates
        self.errors: dict[str, float] = {}
        self.totals: dict[tuple[str, str], float] = {
            (v, code): 0.0 for v in rates for code in ("200", "500")
        }
        self.lock = threading.Lock()
        self.last: float | None = None

    def text(self, _elapsed: float) -> str:
        with self.lock:
            now = time.monotonic()
            dt = 0.0 if self.last is None else now - self.last
            self.last = now
            for v, rate in self.rates.items():
                bad = self.errors.get(v, 0.0)
                self.totals[(v, "200")] += rate * dt * (1 - bad)
                self.totals[(v, "500")] += rate * dt * bad
            lines = []
            for (v, code), n in sorted(self.totals.items()):
                labels = f'service="courses",version="{v}",code="{code}"'
                for le, share in (("0.05", 0.5), ("0.1", 0.9), ("0.25", 0.99), ("+Inf", 1.0)):
                    lines.append(
                        f'http_request_duration_seconds_bucket{{{labels},le="{le}"}} {n * share:.3f}'
                    )
                lines.append(f"http_request_duration_seconds_count{{{labels}}} {n:.3f}")
                lines.append(f"http_request_duration_seconds_sum{{{labels}}} {n * 0.05:.3f}")
            return "\n".join(lines) + "\n"


@dataclass
class Metrics:
    requests: Requests
    prometheus: PrometheusHandle

    def v2_error_ratio(self) -> float | None:
        q = (
            'sum(rate(http_request_duration_seconds_count{service="courses",version="v2",'
            'code="500"}[5s])) / sum(rate(http_request_duration_seconds_count{'
            'service="courses",version="v2"}[5s]))'
        )
        result = instant(self.prometheus.url, q)
        return float(result[0]["value"][1]) if result else None

    def healthy(self) -> None:
        """No errors, and Prometheus' window shows none (a previous test may have left some)."""
        self.requests.errors.clear()
        wait_until(lambda: self.v2_error_ratio() == 0.0, timeout=30, what="no errors on v2")


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metrics]:
    requests = Requests({"v1": 80.0, "v2": 20.0})
    exporter = Exporter(requests.text)
    try:
        prom = start_prometheus([exporter.target], tmp_path_factory.mktemp("prom"), SCRAPE)
    except PrometheusNotInstalled as exc:
        exporter.stop()
        pytest.skip(str(exc))
    try:
        wait_for_scrapes(prom.url, targets=1, scrapes=3)
        yield Metrics(requests, prom)
    finally:
        prom.stop()
        exporter.stop()


# ----------------------------------------------------------------------------- the cluster


def self_signed(directory: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key (the emulator's HTTPS, and the CA)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to serve the emulated API over HTTPS (in-cluster config)")
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        [
            openssl,
            *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(cert), str(key)


@pytest.fixture
def https_cluster(tmp_path: Path) -> Iterator[Cluster]:
    tls = self_signed(tmp_path)
    yield from start_cluster(tmp_path, tls=tls)


def deployment_manifest() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "controller" / "deployment.yaml").read_text())


def shipped_config(prometheus_url: str) -> str:
    """deploy/controller/config.yaml's config.yaml, pointed at this test's Prometheus."""
    cm = yaml.safe_load((DEPLOY / "controller" / "config.yaml").read_text())
    config = yaml.safe_load(cm["data"]["config.yaml"])
    for env in config["environments"].values():
        env["metrics"]["url"] = prometheus_url
    return yaml.safe_dump(config)


# ----------------------------------------------------------------------------- the pods


@dataclass
class Pod:
    """One controller process, set up as the Deployment's pod template says."""

    name: str
    root: Path
    proc: subprocess.Popen[bytes] = field(init=False)

    @property
    def log(self) -> Path:
        return self.root / "stdout.jsonl"

    @property
    def err(self) -> Path:
        return self.root / "stderr.txt"

    def start(self, cluster: Cluster, config: str) -> Pod:
        tmp, etc = self.root / "tmp", self.root / "etc-xdg"  # the emptyDir, the ConfigMap
        sa = self.root / "serviceaccount"
        for d in (tmp, etc / "rollout", sa):
            d.mkdir(parents=True)
        (etc / "rollout" / "config.yaml").write_text(config)
        assert cluster.emu.tls is not None
        (sa / "token").write_text("test-token")
        (sa / "ca.crt").write_text(Path(cluster.emu.tls[0]).read_text())
        (sa / "namespace").write_text(NS)
        (container,) = deployment_manifest()["spec"]["template"]["spec"]["containers"]
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "ROLLOUT_DEMO_DIR")}
        for var in container["env"]:  # the pod's paths, moved under this test's directory
            value = str(var["value"])
            for pod_path, here in (("/etc/xdg", etc), ("/tmp", tmp)):
                if value == pod_path or value.startswith(pod_path + "/"):
                    value = str(here) + value[len(pod_path) :]
                    break
            env[var["name"]] = value
        port = cluster.emu.url.rsplit(":", 1)[1]
        env.update(
            KUBERNETES_SERVICE_HOST="127.0.0.1",
            KUBERNETES_SERVICE_PORT=port,
            ROLLOUT_TEST_SERVICE_ACCOUNT=str(sa),
            ROLLOUT_TEST_WRITABLE=str(tmp),
        )
        args = list(container["args"])
        args[args.index("--listen") + 1] = "127.0.0.1"  # the test reaches it on loopback
        args[args.index("--port") + 1] = "0"  # two "pods" on one host: any free port
        with self.log.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.kubernetes.in_pod", *args],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.log.read_text().splitlines() if x.startswith("{")]

    def url(self) -> str:
        return wait_for(
            lambda: next((x["url"] for x in self.lines() if x["kind"] == "listening"), None),
            timeout=30,
            what=f"{self.name} serving /healthz",
        )

    def health(self) -> tuple[int, dict[str, Any]]:
        r = httpx.get(f"{self.url()}/healthz", timeout=5)
        return r.status_code, r.json()

    def writes_outside(self) -> list[str]:
        return [x for x in self.err.read_text().splitlines() if x.startswith(MARK)]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def holder_pid(cluster: Cluster, lease: str) -> int | None:
    obj = cluster.emu.get("coordination.k8s.io", "leases", NS, lease)
    holder = ((obj or {}).get("spec") or {}).get("holderIdentity")
    return int(holder.split(":")[1]) if holder else None


def weights(cluster: Cluster) -> dict[str, int]:
    route = cluster.emu.get("gateway.networking.k8s.io", "httproutes", NS, "courses")
    rule = route["spec"]["rules"][-1]
    return {ref["name"]: int(ref.get("weight", 1)) for ref in rule["backendRefs"]}


def record(cluster: Cluster) -> RolloutRecord | None:
    cm = cluster.emu.get("", "configmaps", NS, "rollout-courses")
    raw = ((cm or {}).get("data") or {}).get("record")
    return RolloutRecord.from_dict(json.loads(raw)) if raw else None


def rollout_start(cluster: Cluster, tmp_path: Path, prometheus_url: str) -> str:
    """``rollout start`` from an operator's machine: a kubeconfig, the same Prometheus."""
    cfg = tmp_path / "ops" / "rollout" / "config.yaml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        yaml.safe_dump(
            {
                "default": "cluster",
                "environments": {
                    "cluster": {
                        "cluster": {
                            "kind": "kubernetes",
                            "kubeconfig": str(cluster.kubeconfig),
                            "namespace": NS,
                        },
                        "metrics": {
                            "kind": "prometheus",
                            "url": prometheus_url,
                            "provider": "http",
                        },
                    }
                },
            }
        )
    )
    plan = tmp_path / "courses-canary.yaml"
    plan.write_text(PLAN)
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "ops"),
        "XDG_STATE_HOME": str(tmp_path / "ops-state"),
    }
    res = subprocess.run(
        [sys.executable, "-m", "console.cli", "start", str(plan), "--env", "cluster"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


@dataclass
class Pair:
    active: Pod
    standby: Pod


@pytest.fixture
def pair(https_cluster: Cluster, metrics: Metrics, tmp_path: Path) -> Iterator[Pair]:
    """The example's layout, then an active controller and a standby, and the canary started
    and held at 20 % by the active one."""
    cluster = https_cluster
    metrics.healthy()
    apply(cluster.emu, DEPLOY / "examples" / "courses-canary.yaml")
    config = shipped_config(metrics.prometheus.url)
    a = Pod("pod-a", tmp_path / "pod-a").start(cluster, config)
    pods = [a]
    try:
        wait_until(
            lambda: holder_pid(cluster, "rollout-rollout-controller") == a.pid,
            timeout=60,
            what="pod-a holding the controller Lease",
        )
        b = Pod("pod-b", tmp_path / "pod-b").start(cluster, config)
        pods.append(b)
        wait_until(
            lambda: any("standby" in x["message"] for x in b.lines()),
            timeout=60,
            what="pod-b standing by",
        )
        # Both Ready: /healthz is 200 for the standby as for the active one.
        code, body = a.health()
        assert code == 200 and body["status"] == "ok" and body["role"] == "active"
        code, body = b.health()
        assert code == 200 and body["status"] == "ok" and body["role"] == "standby"

        out = rollout_start(cluster, tmp_path, metrics.prometheus.url)
        assert "drives it" in out
        wait_until(
            lambda: holder_pid(cluster, "rollout-courses") == a.pid,
            timeout=30,
            what="pod-a driving courses",
        )
        # At the gate: 20 % on v2, reached after a passing measurement at that weight.
        wait_until(
            lambda: (r := record(cluster)) is not None and r.phase is Phase.PAUSED,
            timeout=60,
            what="courses paused at the gate",
        )
        assert weights(cluster) == {"courses-v1": 80, "courses-v2": 20}
        yield Pair(a, b)
    finally:
        for p in pods:
            p.stop()
        for p in pods:
            assert p.writes_outside() == [], f"{p.name} wrote outside its emptyDir"


def test_sigkill_of_the_active_controller_the_standby_reverts_a_breach_in_time(
    pair: Pair, https_cluster: Cluster, metrics: Metrics
) -> None:
    cluster = https_cluster
    killed_at = time.monotonic()
    pair.active.proc.kill()
    pair.active.proc.wait(10)
    metrics.requests.errors["v2"] = 0.3  # the fault, while nobody drives

    reverted = eventually(
        lambda: weights(cluster) == {"courses-v1": 100, "courses-v2": 0},
        timeout=TTL + INTERVAL + SLACK + 30,
        interval=0.05,
    )
    took = time.monotonic() - killed_at
    assert reverted, "the standby never reverted the HTTPRoute"
    assert took <= TTL + INTERVAL + SLACK, f"reverted {took:.1f} s after the kill"

    rec = wait_for(
        lambda: (r := record(cluster)) is not None and r.phase is Phase.ROLLED_BACK and r,
        timeout=30,
        what="the record saying RolledBack",
    )
    assert "error-rate" in rec.message and "max 0.05" in rec.message, rec.message
    standby = f":{pair.standby.pid}:"

    def audited() -> list[Any]:
        """The audit once it holds the standby's take-over and the rollback (appended
        after the record is saved)."""
        cm = cluster.emu.get("", "configmaps", NS, "rollout-courses-audit") or {}
        lines = ((cm.get("data") or {}).get("audit") or "").splitlines()
        audit = [AuditEntry.from_dict(json.loads(x)) for x in lines if x]
        took_over = any(
            e.action == "take-over" and standby in str(e.data.get("driver")) for e in audit
        )
        return audit if took_over and any(e.action == "rollback" for e in audit) else []

    audit = wait_for(audited, timeout=30, what="the take-over and rollback in the audit")
    rollback = next(e for e in audit if e.action == "rollback")
    assert "error-rate" in rollback.reason
    assert holder_pid(cluster, "rollout-rollout-controller") == pair.standby.pid
    code, body = pair.standby.health()
    assert code == 200 and body["role"] == "active"


def test_sigterm_of_the_active_controller_hands_over_before_the_ttl(
    pair: Pair, https_cluster: Cluster
) -> None:
    cluster = https_cluster
    stopped_at = time.monotonic()
    pair.active.proc.send_signal(signal.SIGTERM)
    wait_until(
        lambda: holder_pid(cluster, "rollout-courses") == pair.standby.pid,
        timeout=TTL + 30,
        what="pod-b driving courses",
    )
    took = time.monotonic() - stopped_at
    assert took < TTL, f"handed over {took:.1f} s after SIGTERM: that is waiting out the lease"
    assert pair.active.proc.wait(20) == 0
    assert "handed back" in pair.active.lines()[-1]["message"]
    rec = record(cluster)
    assert rec is not None and rec.phase is Phase.PAUSED  # guarded, and left where it was
    assert weights(cluster) == {"courses-v1": 80, "courses-v2": 20}
