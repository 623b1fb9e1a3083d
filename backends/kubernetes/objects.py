"""Pure functions from the rollout's intent to Kubernetes object shapes, and back.

Naming (see docs/kubernetes.md): a service ``courses`` has one Deployment per version
``courses-<version>`` (labels ``app=courses``, ``version=<version>``), a Service per version
``courses-<version>`` for the HTTPRoute's backendRefs, the Service ``courses`` (the active
one) and, for blue/green, ``courses-preview``. The HTTPRoute is named ``courses``.
No I/O here: everything takes and returns plain dicts.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from backends.base import MatchRule, TrafficSplit, is_image, version_label

APP, VERSION = "app", "version"
VERSION_ANNOTATION = "rollout.dev/version"  # the version as the plan spelled it
MANAGED_BY = "app.kubernetes.io/managed-by"
REVISION = "deployment.kubernetes.io/revision"


# --------------------------------------------------------------------------- names


def deployment_name(service: str, version: str) -> str:
    return f"{service}-{version_label(version)}"


def version_service_name(service: str, version: str) -> str:
    return f"{service}-{version_label(version)}"


def preview_service_name(service: str) -> str:
    return f"{service}-preview"


def version_of(obj: Mapping[str, Any]) -> str | None:
    """The version a Deployment (or pod template) runs, as the plan named it."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if VERSION_ANNOTATION in annotations:
        return str(annotations[VERSION_ANNOTATION])
    tmpl_labels = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
        "labels"
    ) or {}
    labels = meta.get("labels") or {}
    value = tmpl_labels.get(VERSION) or labels.get(VERSION)
    return str(value) if value else None


# --------------------------------------------------------------------------- deployments


def clone_deployment(
    source: Mapping[str, Any], service: str, version: str, replicas: int
) -> dict[str, Any]:
    """A Deployment for ``version`` shaped like ``source`` (the stable one).

    The image is ``version`` itself when it is an image reference, else the source image
    with its tag replaced by the version.
    """
    src = copy.deepcopy(dict(source))
    label = version_label(version)
    spec = src.get("spec") or {}
    template = spec.get("template") or {}
    tmeta = template.setdefault("metadata", {})
    tlabels = dict(tmeta.get("labels") or {})
    tlabels.update({APP: service, VERSION: label})
    tlabels.pop("pod-template-hash", None)
    tmeta["labels"] = tlabels
    for c in (template.get("spec") or {}).get("containers") or []:
        c["image"] = version if is_image(version) else retag(str(c.get("image", "")), version)
    selector = dict(((spec.get("selector") or {}).get("matchLabels")) or {})
    selector.update({APP: service, VERSION: label})
    annotations = {VERSION_ANNOTATION: version} if label != version else {}
    meta = src.get("metadata") or {}
    labels = dict(meta.get("labels") or {})
    labels.update({APP: service, VERSION: label})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment_name(service, version),
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            **{
                k: v
                for k, v in spec.items()
                if k not in ("replicas", "selector", "template", "paused")
            },
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": template,
        },
    }


def retag(image: str, tag: str) -> str:
    """``repo/x:1`` with tag ``2`` -> ``repo/x:2`` (digests are dropped)."""
    base = image.split("@", 1)[0]
    if ":" in base.rsplit("/", 1)[-1]:
        base = base.rsplit(":", 1)[0]
    return f"{base}:{tag}"


def version_service(
    service: str, version: str, ports: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The per-version Service the HTTPRoute points at."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": version_service_name(service, version),
            "labels": {APP: service, VERSION: version_label(version), MANAGED_BY: "rollout"},
        },
        "spec": {
            "selector": {APP: service, VERSION: version_label(version)},
            "ports": [dict(p) for p in ports] or [{"name": "http", "port": 80, "targetPort": 8080}],
        },
    }


# --------------------------------------------------------------------------- HTTPRoute


def _is_default(rule: Mapping[str, Any]) -> bool:
    return not any(m.get("headers") for m in rule.get("matches") or [])


def default_rule(route: Mapping[str, Any]) -> dict[str, Any]:
    """The route's catch-all rule (no header matches); the one carrying the weights."""
    for rule in (route.get("spec") or {}).get("rules") or []:
        if _is_default(rule):
            return copy.deepcopy(rule)
    return {}


def route_split(route: Mapping[str, Any], version_of_backend: Mapping[str, str]) -> TrafficSplit:
    """Read weights, beta matches and the mirror from an HTTPRoute.

    ``version_of_backend`` maps a backend Service name to its version. Weights are scaled
    to integer percents summing to 100 (a route may carry weights like 1 and 3).
    """
    rules = (route.get("spec") or {}).get("rules") or []
    raw: dict[str, int] = {}
    mirror_version, mirror_percent = None, 0
    match: list[MatchRule] = []
    match_version = None
    for rule in rules:
        refs = rule.get("backendRefs") or []
        if _is_default(rule):
            for ref in refs:
                version = version_of_backend.get(str(ref.get("name")), str(ref.get("name")))
                raw[version] = raw.get(version, 0) + int(ref.get("weight", 1))
            for flt in rule.get("filters") or []:
                if flt.get("type") == "RequestMirror":
                    m = flt.get("requestMirror") or {}
                    name = str((m.get("backendRef") or {}).get("name"))
                    mirror_version = version_of_backend.get(name, name)
                    mirror_percent = _mirror_percent(m)
        elif refs:
            match_version = version_of_backend.get(str(refs[0].get("name")), refs[0].get("name"))
            for m in rule.get("matches") or []:
                match.append(_match_rule(m))
    return TrafficSplit(
        weights=to_percent(raw),
        match=_dedupe(match),
        match_version=match_version if match else None,
        mirror_version=mirror_version,
        mirror_percent=mirror_percent,
    )


def _dedupe(rules: list[MatchRule]) -> tuple[MatchRule, ...]:
    out: list[MatchRule] = []
    for r in rules:
        if r not in out:
            out.append(r)
    return tuple(out)


def _mirror_percent(mirror: Mapping[str, Any]) -> int:
    if "percent" in mirror:
        return int(mirror["percent"])
    if "fraction" in mirror:
        f = mirror["fraction"]
        return round(100 * int(f.get("numerator", 0)) / int(f.get("denominator", 100) or 100))
    return 100


COOKIE_RE = re.compile(r"^\(\^\|;\\s\*\)(?P<name>[^=]+)=(?P<value>.*)\(;\|\$\)$")


def _match_rule(m: Mapping[str, Any]) -> MatchRule:
    headers, cookies = {}, {}
    for h in m.get("headers") or []:
        if str(h.get("name", "")).lower() == "cookie" and h.get("type") == "RegularExpression":
            found = COOKIE_RE.match(str(h.get("value", "")))
            if found:
                cookies[_unescape(found["name"])] = _unescape(found["value"])
                continue
        headers[str(h.get("name"))] = str(h.get("value"))
    return MatchRule(headers=headers, cookies=cookies)


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def to_percent(raw: Mapping[str, int]) -> dict[str, int]:
    """Scale non-negative weights to integer percents summing to 100 (largest remainder)."""
    total = sum(raw.values())
    if total <= 0:
        return {k: 0 for k in raw}
    exact = {k: 100 * v / total for k, v in raw.items()}
    out = {k: int(v) for k, v in exact.items()}
    short = 100 - sum(out.values())
    for k in sorted(exact, key=lambda k: exact[k] - out[k], reverse=True)[:short]:
        out[k] += 1
    return out


def header_matches(rule: MatchRule) -> list[dict[str, Any]]:
    """Gateway API header matches for one beta rule (cookies as a regex on ``Cookie``)."""
    out: list[dict[str, Any]] = [
        {"type": "Exact", "name": k, "value": v} for k, v in sorted(rule.headers.items())
    ]
    for name, value in sorted(rule.cookies.items()):
        out.append(
            {
                "type": "RegularExpression",
                "name": "cookie",
                "value": rf"(^|;\s*){re.escape(name)}={re.escape(value)}(;|$)",
            }
        )
    return out


def build_rules(
    route: Mapping[str, Any],
    *,
    weights: Mapping[str, int],
    backend: Mapping[str, tuple[str, int]],
    match: Sequence[MatchRule] = (),
    match_version: str | None = None,
    mirror_version: str | None = None,
    mirror_percent: int = 0,
    mirror_field: str = "percent",
) -> list[dict[str, Any]]:
    """The new ``spec.rules`` for the route: beta rules first, then the weighted default.

    ``backend`` maps a version to (Service name, port). The default rule keeps its own
    path matches and other filters; beta rules copy those path matches and add headers.
    """
    base = default_rule(route)
    base_matches = base.get("matches") or [{}]
    rules: list[dict[str, Any]] = []
    if match_version is not None and match:
        name, port = backend[match_version]
        matches = [
            {**copy.deepcopy(bm), "headers": header_matches(r)}
            for r in match
            for bm in base_matches
        ]
        rules.append(
            {"matches": matches, "backendRefs": [{"name": name, "port": port, "weight": 1}]}
        )
    default = copy.deepcopy(base)
    default["backendRefs"] = [
        {"name": backend[v][0], "port": backend[v][1], "weight": int(w)}
        for v, w in sorted(weights.items())
    ]
    filters = [f for f in default.get("filters") or [] if f.get("type") != "RequestMirror"]
    if mirror_version is not None and mirror_percent > 0:
        name, port = backend[mirror_version]
        mirror: dict[str, Any] = {"backendRef": {"name": name, "port": port}}
        if mirror_percent < 100:
            if mirror_field == "percent":
                mirror["percent"] = int(mirror_percent)
            else:
                mirror["fraction"] = {"numerator": int(mirror_percent), "denominator": 100}
        filters.append({"type": "RequestMirror", "requestMirror": mirror})
    if filters:
        default["filters"] = filters
    else:
        default.pop("filters", None)
    rules.append(default)
    return rules


def mirror_kept(route: Mapping[str, Any]) -> bool:
    """False when the server dropped a partial mirror's percent/fraction (old Gateway API)."""
    for rule in (route.get("spec") or {}).get("rules") or []:
        for flt in rule.get("filters") or []:
            m = flt.get("requestMirror")
            if m is not None and "percent" not in m and "fraction" not in m:
                return False
    return True


def bundle_at_least(bundle: str | None, major: int, minor: int) -> bool:
    """``v1.3.0`` >= (1, 3)? Unknown versions answer False."""
    found = re.match(r"v?(\d+)\.(\d+)", bundle or "")
    if found is None:
        return False
    return (int(found[1]), int(found[2])) >= (major, minor)


# --------------------------------------------------------------------------- replica ratio


def replicas_for(weights: Mapping[str, int], total: int) -> dict[str, int]:
    """Replicas per version so that their ratio approximates ``weights`` (percent).

    Every version with weight > 0 gets at least one replica; weight 0 gets none.
    """
    total = max(total, sum(1 for w in weights.values() if w > 0))
    exact = {v: total * w / 100 for v, w in weights.items()}
    out = {v: int(x) for v, x in exact.items()}
    for v, w in weights.items():
        if w > 0 and out[v] == 0:
            out[v] = 1
    short = total - sum(out.values())
    for v in sorted(exact, key=lambda v: exact[v] - out[v], reverse=True):
        if short <= 0:
            break
        if weights[v] > 0:
            out[v] += 1
            short -= 1
    return out
