"""The ``metrics: {kind: prometheus, ...}`` entry of an environment, validated.

Pure: reads no files (token and password files are read when a request is made, so a rotated
token is picked up). Secrets are kept out of ``repr`` and every error message; ``secrets()``
lists them so that the client can scrub any text it shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from backends import units
from backends.prometheus.providers import PROVIDERS, Provider, Queries, provider_with

DEFAULT_TIMEOUT = 5.0
KNOWN_KEYS = {
    "kind",
    "url",
    "provider",
    "namespace",
    "bearerToken",
    "bearerTokenFile",
    "basicAuth",
    "caFile",
    "insecure",
    "timeout",
    "labels",
    "versionPattern",
    "errorCodes",
    "requestsMetric",
    "bucketsMetric",
    "latencyUnit",
    "headers",
    "minWindow",
}


class PrometheusConfigError(ValueError):
    """The metrics entry is wrong; the message names the field. Callers exit 2 on it."""


@dataclass(frozen=True)
class PrometheusConfig:
    """A validated connection and provider. Secret fields never appear in ``repr``."""

    url: str  # without credentials
    provider: Provider
    namespace: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    bearer_token: str | None = field(default=None, repr=False)
    bearer_token_file: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_file: Path | None = None
    ca_file: Path | None = None
    insecure: bool = False
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    min_window: float = 0.0  # windows shorter than this are widened (rate() needs 2 scrapes)

    def inline_secrets(self) -> list[str]:
        """Secret values written in the config itself (file contents are read by the client)."""
        values = [self.bearer_token, self.password, *self.headers.values()]
        return [v for v in values if v]


def parse_duration(value: Any, where: str) -> float:
    """A timeout as seconds: a number, or a string like ``500ms``, ``5s``, ``1m``."""
    try:
        seconds = units.parse_duration(value)
    except ValueError:
        raise PrometheusConfigError(
            f"{where}: expected a duration like 5s, not {value!r}"
        ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise PrometheusConfigError(f"{where}: must be a positive duration")
    return seconds


def _opt_str(cfg: Mapping[str, Any], key: str, where: str) -> str | None:
    value = cfg.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise PrometheusConfigError(f"{where}.{key}: must be a non-empty string")
    return value


def parse_config(cfg: Mapping[str, Any], where: str = "metrics") -> PrometheusConfig:
    """Validate an environment's metrics entry. Raises PrometheusConfigError naming the field
    (``where`` is its path in the config file, e.g. ``environments.prod.metrics``)."""
    if not isinstance(cfg, Mapping):
        raise PrometheusConfigError(f"{where}: must be a mapping")
    unknown = sorted(set(cfg) - KNOWN_KEYS)
    if unknown:
        raise PrometheusConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_KEYS))}"
        )
    raw_url = cfg.get("url")
    if not isinstance(raw_url, str) or not raw_url:
        raise PrometheusConfigError(f"{where}.url: required, e.g. http://127.0.0.1:9090")
    parts = urlsplit(raw_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo the URL: it may carry user:password.
        raise PrometheusConfigError(f"{where}.url: must be an http:// or https:// URL with a host")
    username = password = None
    if parts.username is not None:
        username, password = unquote(parts.username), unquote(parts.password or "")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port:
        netloc += f":{parts.port}"
    url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))

    name = cfg.get("provider", "http")
    if name not in PROVIDERS:
        raise PrometheusConfigError(
            f"{where}.provider: unknown provider {name!r}; one of {', '.join(PROVIDERS)}"
        )
    namespace = _opt_str(cfg, "namespace", where)
    try:
        provider = provider_with(PROVIDERS[name], cfg)
        # Fill the version pattern once now, so a bad placeholder fails here and not mid-rollout.
        Queries(provider, "service", namespace).request_rate(60.0)
    except ValueError as exc:
        raise PrometheusConfigError(f"{where}.{exc}") from None

    token = _opt_str(cfg, "bearerToken", where)
    token_file = _opt_str(cfg, "bearerTokenFile", where)
    if token and token_file:
        raise PrometheusConfigError(f"{where}: give bearerToken or bearerTokenFile, not both")
    password_file = None
    basic = cfg.get("basicAuth")
    if basic is not None:
        if not isinstance(basic, Mapping):
            raise PrometheusConfigError(f"{where}.basicAuth: must be {{username, passwordFile}}")
        username = _opt_str(basic, "username", f"{where}.basicAuth")
        if not username:
            raise PrometheusConfigError(f"{where}.basicAuth.username: required")
        password = _opt_str(basic, "password", f"{where}.basicAuth")
        password_file = _opt_str(basic, "passwordFile", f"{where}.basicAuth")
        if bool(password) == bool(password_file):
            raise PrometheusConfigError(
                f"{where}.basicAuth: give exactly one of password and passwordFile"
            )
    if (token or token_file) and username:
        raise PrometheusConfigError(f"{where}: give bearer token or basic auth, not both")

    insecure = cfg.get("insecure", False)
    if not isinstance(insecure, bool):
        raise PrometheusConfigError(f"{where}.insecure: must be true or false")
    ca_file = _opt_str(cfg, "caFile", where)
    timeout = parse_duration(cfg.get("timeout", DEFAULT_TIMEOUT), f"{where}.timeout")
    min_window = 0.0
    if cfg.get("minWindow") is not None:
        min_window = parse_duration(cfg["minWindow"], f"{where}.minWindow")
    headers = cfg.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise PrometheusConfigError(f"{where}.headers: must map header names to strings")
    return PrometheusConfig(
        url=url,
        provider=provider,
        namespace=namespace,
        timeout=timeout,
        bearer_token=token,
        bearer_token_file=Path(token_file).expanduser() if token_file else None,
        username=username,
        password=password,
        password_file=Path(password_file).expanduser() if password_file else None,
        ca_file=Path(ca_file).expanduser() if ca_file else None,
        insecure=insecure,
        headers=dict(headers),
        min_window=min_window,
    )
