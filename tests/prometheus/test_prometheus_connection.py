"""Connecting to a real Prometheus: TLS with a custom CA, basic auth, bearer tokens, and what
happens when it is down, hung, or answers with an error. Secrets never show up anywhere."""

from __future__ import annotations

import logging
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.base import BackendError, BackendUnavailable, Forbidden
from backends.prometheus import from_config
from tests.prometheus.prom_exporters import BearerProxy, Exporter, Traffic, render, settled
from tests.support.waits import wait_until

pytestmark = pytest.mark.slow

PASSWORD = "pw-Zq8!unique-basic-secret"
TOKEN = "tok-Xv3-unique-bearer-secret"
AUTH = {"username": "alice", "password": PASSWORD}
WINDOW = 5.0


def _text(elapsed: float) -> str:
    traffic = [
        Traffic(
            {"service": "courses", "version": "v1"}, 10.0, 0.1, {"code": "200"}, {"code": "500"}
        )
    ]
    return render("", "http_request_duration_seconds", traffic, elapsed, counter_on_histogram=True)


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            pytest.skip("no crypt module to make a bcrypt hash for Prometheus' web config")
    salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)  # cost 4: cheap to check
    hashed = crypt.crypt(password, salt)
    if not hashed or not hashed.startswith("$2"):
        pytest.skip("the system crypt has no bcrypt")
    return hashed


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ),
            *("-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    e = Exporter(_text)
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture(scope="module")
def proms(
    start_prom: Callable[..., Any], exporter: Exporter, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Any, Any, Path]:
    """A plain Prometheus, and one with TLS and basic auth, both scraping the exporter."""
    certs = tmp_path_factory.mktemp("certs")
    cert, key = _self_signed(certs)
    web = {
        "tls_server_config": {"cert_file": str(cert), "key_file": str(key)},
        "basic_auth_users": {"alice": _bcrypt(PASSWORD)},
    }
    plain = start_prom([exporter.target])
    secured = start_prom([exporter.target], web_config=web)
    assert secured.url.startswith("https://")
    _wait_scraped(from_config({"url": plain.url}))
    _wait_scraped(from_config({"url": secured.url, "caFile": str(cert), "basicAuth": AUTH}))
    return plain, secured, cert


@pytest.fixture(scope="module")
def plain(proms: tuple[Any, Any, Path]) -> Any:
    return proms[0]


@pytest.fixture(scope="module")
def secured(proms: tuple[Any, Any, Path]) -> tuple[Any, Path]:
    return proms[1], proms[2]


def _wait_scraped(backend: Any, scrapes: int = 7) -> None:
    """Wait (bounded) until Prometheus has scraped the exporter ``scrapes`` times."""
    query = 'sum by (version) (label_replace(sum_over_time(up[60s]), "version", "all", "", ""))'
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (backend.query("any", ["all"], query, 1.0)["all"] or 0) >= scrapes:
            return
        time.sleep(0.5)
    raise AssertionError("Prometheus never scraped the exporter")


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def _assert_secret_free(secret: str, caplog: pytest.LogCaptureFixture, *texts: object) -> None:
    for text in texts:
        assert secret not in str(text)
        assert secret not in repr(text)
    for record in caplog.records:
        assert secret not in record.getMessage()


def _rate_is_10(got: dict[str, Any]) -> bool:
    return got["v1"].request_rate == pytest.approx(10.0, rel=0.03)


def test_sample_over_plain_http(plain: Any) -> None:
    backend = from_config({"url": plain.url})
    s = settled(lambda: backend.sample("courses", ["v1", "v2"], WINDOW), _rate_is_10)
    assert s["v1"].request_rate == pytest.approx(10.0, rel=0.03)
    assert s["v1"].error_ratio == pytest.approx(0.1, rel=0.03)
    # No data for v2: every value missing (the analysis calls that inconclusive).
    assert (s["v2"].requests, s["v2"].error_ratio, s["v2"].p99) == (None, None, None)


def test_tls_with_ca_file_and_basic_auth(
    secured: tuple[Any, Path], tmp_path: Path, everything_logged: pytest.LogCaptureFixture
) -> None:
    handle, cert = secured
    pw = tmp_path / "password"
    pw.write_text(PASSWORD + "\n")
    cfg = {
        "url": handle.url,
        "caFile": str(cert),
        "basicAuth": {"username": "alice", "passwordFile": str(pw)},
    }
    backend = from_config(cfg)
    got = settled(lambda: backend.sample("courses", ["v1"], WINDOW), _rate_is_10)["v1"]
    assert got.request_rate == pytest.approx(10.0, rel=0.03)
    _assert_secret_free(PASSWORD, everything_logged, backend, backend.cfg)


def test_tls_without_the_ca_fails_clearly_and_insecure_works(secured: tuple[Any, Path]) -> None:
    handle, _ = secured
    auth = {"basicAuth": {"username": "alice", "password": PASSWORD}}
    with pytest.raises(BackendUnavailable, match=r"TLS verification failed.*caFile") as exc:
        from_config({"url": handle.url, **auth}).sample("courses", ["v1"], WINDOW)
    assert PASSWORD not in str(exc.value)
    got = from_config({"url": handle.url, "insecure": True, **auth}).sample(
        "courses", ["v1"], WINDOW
    )
    assert got["v1"].request_rate is not None


def test_wrong_password_is_forbidden_without_leaking_it(
    secured: tuple[Any, Path], everything_logged: pytest.LogCaptureFixture
) -> None:
    handle, cert = secured
    wrong = "wrong-Pw-unique-9911"
    url = handle.url.replace("https://", f"https://alice:{wrong}@")
    backend = from_config({"url": url, "caFile": str(cert)})
    with pytest.raises(Forbidden, match=r"HTTP 401.*basic auth") as exc:
        backend.sample("courses", ["v1"], WINDOW)
    _assert_secret_free(wrong, everything_logged, exc.value, backend, backend.cfg)


def test_bearer_token_file_is_sent_and_reread(
    plain: Any, tmp_path: Path, everything_logged: pytest.LogCaptureFixture
) -> None:
    proxy = BearerProxy(plain.url, TOKEN)
    try:
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN)
        backend = from_config({"url": proxy.url, "bearerTokenFile": str(token_file)})
        assert backend.sample("courses", ["v1"], WINDOW)["v1"].request_rate is not None
        # The token rotates: the next request carries the new one (refused by this proxy).
        rotated = "tok-rotated-unique-7734"
        token_file.write_text(rotated)
        with pytest.raises(Forbidden) as exc:
            backend.sample("courses", ["v1"], WINDOW)
        assert proxy.seen_auth[-1] == f"Bearer {rotated}"
        _assert_secret_free(rotated, everything_logged, exc.value, backend)
        _assert_secret_free(TOKEN, everything_logged, exc.value, backend)
        inline = from_config({"url": proxy.url, "bearerToken": TOKEN})
        assert inline.sample("courses", ["v1"], WINDOW)["v1"].request_rate is not None
        _assert_secret_free(TOKEN, everything_logged, inline, inline.cfg)
        token_file.unlink()
        with pytest.raises(BackendError, match="cannot read bearerTokenFile"):
            backend.sample("courses", ["v1"], WINDOW)
    finally:
        proxy.stop()


def test_unreachable_and_hung_prometheus_raise_backend_unavailable(
    plain: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fresh() -> Any:
        return from_config({"url": plain.url, "timeout": "500ms"})

    def answers(b: Any) -> bool:
        try:
            return b.sample("courses", ["v1"], WINDOW)["v1"].request_rate is not None
        except BackendUnavailable:
            return False

    # A fail-fast window (1 s in production) that a loaded machine cannot outlast between
    # two lines of this test; what is checked is that it exists, not its length.
    monkeypatch.setattr("backends.prometheus.client.FAIL_FAST", 5.0)
    backend = fresh()
    plain.freeze()
    try:
        with pytest.raises(BackendUnavailable, match=r"did not answer within 0\.5s"):
            backend.sample("courses", ["v1"], WINDOW)
        # The tick's other queries fail at once instead of waiting out the timeout again
        # (which alone would take the whole 0.5 s).
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match=r"did not answer within 0\.5s"):
            backend.query("courses", ["v1"], "sum(up)", WINDOW)
        assert time.monotonic() - started < 0.5
    finally:
        plain.thaw()
    plain.stop()
    try:
        with pytest.raises(BackendUnavailable, match="unreachable: Connection refused"):
            fresh().sample("courses", ["v1"], WINDOW)
        with pytest.raises(BackendUnavailable):
            fresh().history("courses", ["v1"], since=60, step=5)
    finally:
        plain.start()
    # Restarted (its 5 s windows fill again within a scrape or two on a slow machine)...
    wait_until(lambda: answers(fresh()), 15, "the restarted Prometheus to answer")
    # ...and past the fail-fast window the first backend answers again too.
    wait_until(lambda: answers(backend), 15, "the failed-fast backend to answer again")


def test_query_errors_and_non_prometheus_answers(plain: Any, exporter: Exporter) -> None:
    backend = from_config({"url": plain.url})
    with pytest.raises(BackendError, match="rejected the query: bad_data"):
        backend.query("courses", ["v1"], "sum(rate(x[{{window}}]) by", WINDOW)
    not_prom = from_config({"url": f"http://{exporter.target}"})
    with pytest.raises(BackendError, match="answered HTTP 404"):
        not_prom.sample("courses", ["v1"], WINDOW)


def test_secrets_stay_out_of_the_analysis_events(secured: tuple[Any, Path]) -> None:
    """What the driver does with a metrics failure: the error text becomes the observation's
    ``metrics_error`` and, through the analysis, the event's reason and data."""
    import json

    from backends.base import Observation
    from console.analysis.verdicts import measure
    from console.plan.model import AnalysisSpec

    handle, cert = secured
    wrong = "wrong-Pw-unique-4242"
    backend = from_config(
        {
            "url": handle.url,
            "caFile": str(cert),
            "basicAuth": {"username": "alice", "password": wrong},
            "headers": {"X-Scope-OrgID": "tenant-secret-5150"},
        }
    )
    with pytest.raises(Forbidden) as exc:
        backend.sample("courses", ["v1"], WINDOW)
    obs = Observation(at=time.time(), health={}, metrics=None, metrics_error=str(exc.value))
    m = measure(AnalysisSpec(), "v1", obs)
    text = m.reason + json.dumps(m.to_dict())
    assert "refused the request (HTTP 401)" in text
    assert wrong not in text and "tenant-secret-5150" not in text
