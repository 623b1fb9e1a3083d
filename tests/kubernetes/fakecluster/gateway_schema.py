"""The Gateway API fields we use, with their types and limits (from the v1 spec, v1.3).

Not the whole CRD: the subset our manifests and our backend write, so a typo or an
out-of-range value fails a test instead of being pruned by the API server. Sources:
gateway-api apis/v1 httproute_types.go, gateway_types.go, shared_types.go.
"""

from __future__ import annotations

from typing import Any

S = {"type": "string"}


def obj(fields: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "fields": fields, "required": required}


def arr(items: dict[str, Any], max_items: int) -> dict[str, Any]:
    return {"type": "array", "items": items, "max": max_items}


def integer(lo: int, hi: int) -> dict[str, Any]:
    return {"type": "integer", "min": lo, "max": hi}


def enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": values}


PORT = integer(1, 65535)
METADATA = obj(
    {
        "name": S,
        "namespace": S,
        "labels": {"type": "map"},
        "annotations": {"type": "map"},
        "resourceVersion": S,
        "uid": S,
        "generation": integer(0, 2**62),
        "creationTimestamp": S,
    },
    ("name",),
)
PARENT_REF = obj(
    {"group": S, "kind": S, "namespace": S, "name": S, "sectionName": S, "port": PORT}, ("name",)
)
BACKEND_OBJECT_REF = obj(
    {"group": S, "kind": S, "name": S, "namespace": S, "port": PORT}, ("name",)
)
HEADER_MATCH = obj(
    {"type": enum("Exact", "RegularExpression"), "name": S, "value": S}, ("name", "value")
)
PATH_MATCH = obj({"type": enum("Exact", "PathPrefix", "RegularExpression"), "value": S})
MATCH = obj(
    {
        "path": PATH_MATCH,
        "headers": arr(HEADER_MATCH, 16),
        "queryParams": arr(HEADER_MATCH, 16),
        "method": enum(
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"
        ),
    }
)
FRACTION = obj({"numerator": integer(0, 2**31), "denominator": integer(1, 2**31)}, ("numerator",))
FILTER = obj(
    {
        "type": enum(
            "RequestHeaderModifier",
            "ResponseHeaderModifier",
            "RequestMirror",
            "RequestRedirect",
            "URLRewrite",
            "ExtensionRef",
        ),
        "requestMirror": obj(
            {"backendRef": BACKEND_OBJECT_REF, "percent": integer(0, 100), "fraction": FRACTION},
            ("backendRef",),
        ),
        "requestHeaderModifier": {"type": "any"},
        "responseHeaderModifier": {"type": "any"},
        "requestRedirect": {"type": "any"},
        "urlRewrite": {"type": "any"},
        "extensionRef": {"type": "any"},
    },
    ("type",),
)
BACKEND_REF = obj(
    {
        "group": S,
        "kind": S,
        "name": S,
        "namespace": S,
        "port": PORT,
        "weight": integer(0, 1_000_000),
        "filters": arr(FILTER, 16),
    },
    ("name",),
)
RULE = obj(
    {
        "name": S,
        "matches": arr(MATCH, 64),
        "filters": arr(FILTER, 16),
        "backendRefs": arr(BACKEND_REF, 16),
        "timeouts": obj({"request": S, "backendRequest": S}),
    }
)
HTTPROUTE = obj(
    {
        "apiVersion": enum("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"),
        "kind": enum("HTTPRoute"),
        "metadata": METADATA,
        "spec": obj(
            {
                "parentRefs": arr(PARENT_REF, 32),
                "hostnames": arr(S, 16),
                "rules": arr(RULE, 16),
            }
        ),
        "status": {"type": "any"},
    },
    ("apiVersion", "kind", "metadata", "spec"),
)
LISTENER = obj(
    {
        "name": S,
        "hostname": S,
        "port": PORT,
        "protocol": S,
        "tls": {"type": "any"},
        "allowedRoutes": obj(
            {
                "namespaces": obj(
                    {"from": enum("All", "Same", "Selector"), "selector": {"type": "any"}}
                ),
                "kinds": {"type": "any"},
            }
        ),
    },
    ("name", "port", "protocol"),
)
GATEWAY = obj(
    {
        "apiVersion": enum("gateway.networking.k8s.io/v1"),
        "kind": enum("Gateway"),
        "metadata": METADATA,
        "spec": obj(
            {"gatewayClassName": S, "listeners": arr(LISTENER, 64), "addresses": {"type": "any"}},
            ("gatewayClassName", "listeners"),
        ),
        "status": {"type": "any"},
    },
    ("apiVersion", "kind", "metadata", "spec"),
)


def validate(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Problems with ``value`` against ``schema``, each naming its field path."""
    t = schema["type"]
    where = path or "<root>"
    if t == "any":
        return []
    if t == "map":
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        return [] if ok else [f"{where}: expected a map of strings"]
    if t == "object":
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        out = [f"{path}.{k}: unknown field" for k in value if k not in schema["fields"]]
        out += [f"{path}.{k}: required" for k in schema["required"] if k not in value]
        for k, v in value.items():
            if k in schema["fields"]:
                out += validate(v, schema["fields"][k], f"{path}.{k}")
        return out
    if t == "array":
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        out = [f"{where}: more than {schema['max']} items"] if len(value) > schema["max"] else []
        for i, v in enumerate(value):
            out += validate(v, schema["items"], f"{path}[{i}]")
        return out
    if t == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{where}: expected an integer"]
        if not schema["min"] <= value <= schema["max"]:
            return [f"{where}: {value} outside {schema['min']}..{schema['max']}"]
        return []
    if not isinstance(value, str):
        return [f"{where}: expected a string"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} not one of {', '.join(schema['enum'])}"]
    return []


def check_backend_refs(route: dict[str, Any]) -> list[str]:
    """The CEL rule: a backendRef to a Service (the default kind) must name a port."""
    out = []
    for i, rule in enumerate((route.get("spec") or {}).get("rules") or []):
        refs = list(rule.get("backendRefs") or [])
        refs += [
            f["requestMirror"]["backendRef"]
            for f in rule.get("filters") or []
            if f.get("type") == "RequestMirror"
        ]
        for ref in refs:
            if ref.get("kind", "Service") == "Service" and "port" not in ref:
                out.append(
                    f".spec.rules[{i}]: backendRef {ref.get('name')} to a Service needs a port"
                )
    return out
