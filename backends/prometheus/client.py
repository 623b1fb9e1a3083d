"""The HTTP side: instant and range queries through ``prometheus-api-client``, errors mapped.

Every failure becomes a ``BackendError`` whose message is safe to show: the URL never carries
credentials, and any secret the client knows (inline token or password, custom header values,
the contents of the token or password file last read) is replaced by ``***`` in every message
and log line. No retries here: the driver ticks again a second later, and it is the engine that
counts consecutive errors toward ``consecutiveErrorLimit``.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from requests.auth import AuthBase, HTTPBasicAuth
from urllib3.util.retry import Retry

from backends.base import BackendError, BackendUnavailable, Forbidden
from backends.prometheus.config import PrometheusConfig
from backends.units import format_one_unit

log = logging.getLogger("rollout.prometheus")

# Prometheus refuses range queries with more than 11,000 points per series.
MAX_POINTS = 10_000
# After Prometheus could not be reached, further queries fail at once for this long.
FAIL_FAST = 1.0
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


class QueryRejected(BackendError):
    """Prometheus understood the request and refused the query (bad PromQL, execution error):
    a problem with the query, not with reaching Prometheus."""


class _HTTPStatus(Exception):
    """A non-200 answer, raised from the session's response hook before the library sees it."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _raise_for_status(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if response.status_code != 200:
        raise _HTTPStatus(response.status_code, response.content[:4096])


class _FileCredentials(AuthBase):
    """Bearer or basic credentials, from the config or re-read from a file on each request so
    that a rotated token is picked up. Remembers what it read, for scrubbing."""

    def __init__(self, cfg: PrometheusConfig) -> None:
        self.cfg = cfg
        self.seen: set[str] = set()

    def _read(self, path: Path, what: str) -> str:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise BackendError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
        if not value:
            raise BackendError(f"{what} {path} is empty")
        self.seen.add(value)
        return value

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        cfg = self.cfg
        if cfg.bearer_token or cfg.bearer_token_file:
            token = cfg.bearer_token or self._read(cfg.bearer_token_file, "bearerTokenFile")  # type: ignore[arg-type]
            r.headers["Authorization"] = f"Bearer {token}"
        elif cfg.username:
            password = cfg.password or self._read(cfg.password_file, "basicAuth.passwordFile")  # type: ignore[arg-type]
            r = HTTPBasicAuth(cfg.username, password)(r)
        return r


def _number(raw: Any) -> float | None:
    """A sample value from the API ("1.5", "NaN", "+Inf"); NaN (0/0: no traffic) is None."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


class PromClient:
    """Instant and range queries against one Prometheus; raises BackendError subclasses."""

    def __init__(self, cfg: PrometheusConfig) -> None:
        self.cfg = cfg
        self._auth = _FileCredentials(cfg)
        self._down: tuple[float, str] | None = None  # (fail fast until, why)
        session = requests.Session()
        session.verify = str(cfg.ca_file) if cfg.ca_file else not cfg.insecure
        session.hooks["response"].append(_raise_for_status)
        if cfg.insecure:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._prom = PrometheusConnect(
            url=cfg.url,
            headers=dict(cfg.headers) or None,
            auth=self._auth,
            session=session,
            # No retries (the next tick is the retry); read=False keeps a read timeout a
            # ReadTimeout instead of a ConnectionError wrapping "max retries exceeded".
            retry=Retry(total=0, read=False, raise_on_status=False),
            timeout=cfg.timeout,  # requests takes floats
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._prom.close()

    def scrub(self, text: str) -> str:
        """``text`` with every secret the client knows replaced by ``***``."""
        for secret in sorted({*self.cfg.inline_secrets(), *self._auth.seen}, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def instant(self, query: str, at: float | None = None) -> list[dict[str, Any]]:
        """Evaluate ``query`` at ``at`` (default: Prometheus' now); the raw result list.

        A scalar result comes back as one series with no labels.
        """
        params = {"timeout": format_one_unit(self.cfg.timeout)}
        if at is not None:
            params["time"] = f"{at:.3f}"
        result = self._call(lambda: self._prom.custom_query(query, params=params), query)
        if (
            isinstance(result, list)
            and len(result) == 2
            and not isinstance(result[0], dict)
            and not isinstance(result[1], dict)
        ):
            return [{"metric": {}, "value": result}]
        return list(result or [])

    def range(self, query: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """Evaluate ``query`` at start, start+step, ... <= end; the raw matrix, series merged
        across chunks when the range holds more points than Prometheus allows in one answer."""
        if step <= 0 or end < start:
            raise ValueError("range query needs step > 0 and end >= start")
        merged: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(end, chunk_start + step * (MAX_POINTS - 1))
            params = {
                # Exact bounds: the library rounds datetimes to whole seconds.
                "start": f"{chunk_start:.3f}",
                "end": f"{chunk_end:.3f}",
                "timeout": format_one_unit(self.cfg.timeout),
            }
            result = self._call(
                partial(
                    self._prom.custom_query_range,
                    query,
                    start_time=datetime.fromtimestamp(chunk_start, UTC),
                    end_time=datetime.fromtimestamp(chunk_end, UTC),
                    step=f"{step:g}",
                    params=params,
                ),
                query,
            )
            for series in result or []:
                key = tuple(sorted(series.get("metric", {}).items()))
                entry = merged.setdefault(key, {"metric": series.get("metric", {}), "values": []})
                entry["values"].extend(series.get("values", []))
            chunk_start = chunk_end + step
        return list(merged.values())

    def _call(self, fn: Callable[[], Any], query: str) -> Any:
        started = time.monotonic()
        down = self._down
        if down is not None and started < down[0]:
            # Prometheus was unreachable a moment ago: the other queries of this tick fail at
            # once instead of each waiting out the timeout (which would outlast the lease).
            raise BackendUnavailable(down[1])
        try:
            result = self._call_once(fn)
        except BackendUnavailable as exc:
            self._down = (time.monotonic() + FAIL_FAST, str(exc))
            raise
        self._down = None
        log.debug("query took %.3fs: %s", time.monotonic() - started, self.scrub(query))
        return result

    def _call_once(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except _HTTPStatus as exc:
            raise self._status_error(exc) from None
        except requests.exceptions.SSLError as exc:
            raise BackendUnavailable(
                self.scrub(
                    f"Prometheus at {self.cfg.url}: TLS verification failed ({_reason(exc)}); "
                    "set caFile to the CA that signed its certificate, or insecure: true"
                )
            ) from None
        except requests.exceptions.Timeout:
            raise BackendUnavailable(
                f"Prometheus at {self.cfg.url} did not answer within {self.cfg.timeout:g}s"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise BackendUnavailable(
                self.scrub(f"Prometheus at {self.cfg.url} is unreachable: {_reason(exc)}")
            ) from None
        except requests.exceptions.RequestException as exc:
            raise BackendError(
                self.scrub(f"Prometheus at {self.cfg.url}: request failed: {type(exc).__name__}")
            ) from None
        except (ValueError, KeyError, TypeError):
            # A 200 that is not the Prometheus API (a login page from a proxy, say).
            raise BackendError(
                f"Prometheus at {self.cfg.url} answered with something that is not a "
                "Prometheus API response; check the url"
            ) from None

    def _status_error(self, exc: _HTTPStatus) -> BackendError:
        detail = _api_error(exc.body)
        where = f"Prometheus at {self.cfg.url}"
        if exc.status in (401, 403):
            return Forbidden(
                self.scrub(
                    f"{where} refused the request (HTTP {exc.status}): check the bearer token "
                    "or basic auth in the config file"
                )
            )
        if exc.status in (400, 422):
            return QueryRejected(self.scrub(f"{where} rejected the query: {detail}"))
        if exc.status in (502, 503, 504):
            return BackendUnavailable(self.scrub(f"{where} is unavailable (HTTP {exc.status})"))
        return BackendError(self.scrub(f"{where} answered HTTP {exc.status}: {detail}"))


def _api_error(body: bytes) -> str:
    """The ``errorType: error`` text of a Prometheus error answer, else a short excerpt."""
    import json

    try:
        data = json.loads(body)
        return f"{data.get('errorType', 'error')}: {data.get('error', '')}".strip()
    except (ValueError, AttributeError):
        text = body.decode("utf-8", "replace").strip().splitlines()
        return (text[0][:200] if text else "empty answer") or "empty answer"


def _reason(exc: Exception) -> str:
    """A short cause ("Connection refused") instead of urllib3's long nested repr."""
    m = _ERRNO.search(str(exc))
    if m:
        return m.group(1).strip()
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate verify failed"
    return type(exc).__name__


def values(series: dict[str, Any]) -> list[tuple[float, float | None]]:
    """The (time, value) points of a range-query series; NaN values are None."""
    return [(float(t), _number(v)) for t, v in series.get("values", [])]


def value(series: dict[str, Any]) -> float | None:
    """The value of an instant-query series; NaN is None."""
    raw = series.get("value")
    return _number(raw[1]) if raw else None
