"""Pinecone-style metadata filters, evaluated in Python for the local index.

Supported: implicit equality `{"path": "a.md"}`, `$eq $ne $in $nin $gt $gte
$lt $lte $exists` per field, and `$and` / `$or` lists.
"""

from __future__ import annotations

from typing import Any

from core.errors import InvalidArgumentError

_MISSING = object()


def matches(metadata: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    if not flt:
        return True
    for key, cond in flt.items():
        if key == "$and":
            if not all(matches(metadata, sub) for sub in cond):
                return False
        elif key == "$or":
            if not any(matches(metadata, sub) for sub in cond):
                return False
        elif key.startswith("$"):
            raise InvalidArgumentError(f"unknown filter operator {key!r} at the top level")
        elif not _field_matches(metadata.get(key, _MISSING), cond):
            return False
    return True


def _field_matches(value: Any, cond: Any) -> bool:
    if not isinstance(cond, dict):
        return value is not _MISSING and value == cond
    for op, arg in cond.items():
        if op == "$exists":
            ok = (value is not _MISSING) == bool(arg)
        elif value is _MISSING:
            ok = op in ("$ne", "$nin")
        elif op == "$eq":
            ok = value == arg
        elif op == "$ne":
            ok = value != arg
        elif op == "$in":
            ok = value in arg
        elif op == "$nin":
            ok = value not in arg
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            try:
                ok = {"$gt": value > arg, "$gte": value >= arg, "$lt": value < arg, "$lte": value <= arg}[op]
            except TypeError:
                ok = False
        else:
            raise InvalidArgumentError(f"unknown filter operator {op!r}")
        if not ok:
            return False
    return True
