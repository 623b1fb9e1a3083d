"""Flagger's custom resources in the emulator: the Canary CRD as Flagger publishes it
(flagger_canary_crd.yaml), MetricTemplates, core Events, and a check of objects against the
CRD's openAPIV3Schema (types, required fields, enums), as the API server validates them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .emulator import Emulator, Resource

CRD_FILE = Path(__file__).with_name("flagger_canary_crd.yaml")
TEMPLATE_CRD_FILE = Path(__file__).with_name("flagger_metrictemplate_crd.yaml")
GROUP = "flagger.app"


def canary_crd() -> dict[str, Any]:
    return yaml.safe_load(CRD_FILE.read_text())


def canary_schema(crd: dict[str, Any] | None = None) -> dict[str, Any]:
    crd = crd or canary_crd()
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")
    return version["schema"]["openAPIV3Schema"]


def install(emu: Emulator) -> None:
    """Serve canaries and metrictemplates (flagger.app/v1beta1) and core events."""
    crd = canary_crd()
    names = crd["spec"]["names"]
    for res in (
        Resource(GROUP, "v1beta1", names["plural"], names["kind"]),
        Resource(GROUP, "v1beta1", "metrictemplates", "MetricTemplate"),
        Resource("", "v1", "events", "Event"),
    ):
        emu.resources.setdefault((res.group, res.plural), res)
    emu.put("apiextensions.k8s.io", "customresourcedefinitions", crd)
    template_crd = yaml.safe_load(TEMPLATE_CRD_FILE.read_text())
    emu.put("apiextensions.k8s.io", "customresourcedefinitions", template_crd)


_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def problems(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """What the API server would reject in ``value`` (a subset of OpenAPI v3: type,
    required, enum, properties, items, additionalProperties)."""
    if schema.get("x-kubernetes-int-or-string"):
        return [] if isinstance(value, int | str) else [f"{path}: must be an int or a string"]
    kind = schema.get("type")
    if kind:
        ok = isinstance(value, _TYPES[kind]) and (kind == "boolean" or not isinstance(value, bool))
        if not ok:
            return [f"{path or '.'}: must be {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} not one of {schema['enum']}"]
    out: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        out += [f"{path}.{k}: required" for k in schema.get("required") or [] if k not in value]
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            if k in props:
                out += problems(v, props[k], f"{path}.{k}")
            elif isinstance(extra, dict):
                out += problems(v, extra, f"{path}.{k}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            out += problems(v, schema["items"], f"{path}[{i}]")
    return out


def canary_problems(obj: dict[str, Any]) -> list[str]:
    """A Canary object's problems against Flagger's published schema ([] when valid)."""
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    return problems(body, canary_schema())


def object_problems(obj: dict[str, Any]) -> list[str]:
    """A Canary's or MetricTemplate's problems against Flagger's published schemas."""
    if obj.get("kind") == "Canary":
        return canary_problems(obj)
    if obj.get("kind") == "MetricTemplate":
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        return problems(body, canary_schema(yaml.safe_load(TEMPLATE_CRD_FILE.read_text())))
    return [f"{obj.get('kind')}: not a Flagger kind"]
