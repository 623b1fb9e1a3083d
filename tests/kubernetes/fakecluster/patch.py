"""JSON merge patch, strategic merge patch (the lists we touch), JSON patch and label
selectors for the API emulator, plus the API's error type."""

from __future__ import annotations

import copy
import re
from typing import Any


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


# --------------------------------------------------------------------------- patches


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 JSON patch: test, add, replace, remove (object members and list indexes)."""
    doc = copy.deepcopy(target)
    for op in ops:
        *parents, last = _pointer(op["path"])
        node = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        key: Any = int(last) if isinstance(node, list) and last != "-" else last
        if op["op"] == "test":
            try:
                current = node[key]
            except (KeyError, IndexError, TypeError):
                current = None
            if current != op.get("value"):
                raise ApiError(
                    422,
                    "Invalid",
                    f"the server rejected our request due to an error in our request: testing value {op['path']} failed",
                )
        elif op["op"] == "remove":
            del node[key]
        elif op["op"] in ("add", "replace"):
            if isinstance(node, list) and key == "-":
                node.append(copy.deepcopy(op["value"]))
            elif isinstance(node, list) and op["op"] == "add":
                node.insert(key, copy.deepcopy(op["value"]))
            else:
                node[key] = copy.deepcopy(op["value"])
        else:
            raise ApiError(422, "Invalid", f"unsupported JSON patch op {op['op']}")
    return doc


# Lists that strategic merge patch merges by key instead of replacing (the ones we touch).
MERGE_KEYS = {"containers": "name", "ports": "port", "env": "name", "volumes": "name"}


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge patch for the fields our backend and tests patch.

    Like merge patch, except lists named in MERGE_KEYS merge item by item on their key,
    and ``$patch: replace`` in a map replaces it whole.
    """
    if isinstance(patch, dict):
        if patch.get("$patch") == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
        result = dict(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            else:
                result[key] = strategic_merge(result.get(key), value, key)
        return result
    if isinstance(patch, list) and field in MERGE_KEYS and isinstance(target, list):
        key = MERGE_KEYS[field]
        result_list = [copy.deepcopy(t) for t in target]
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                return copy.deepcopy(patch)
            for i, existing in enumerate(result_list):
                if isinstance(existing, dict) and existing.get(key) == item[key]:
                    result_list[i] = strategic_merge(existing, item)
                    break
            else:
                result_list.append(copy.deepcopy(item))
        return result_list
    return copy.deepcopy(patch)


# --------------------------------------------------------------------------- selectors


def match_labels(selector: str, labels: dict[str, str]) -> bool:
    """Equality-based label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = re.split("==?", term, maxsplit=1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True
