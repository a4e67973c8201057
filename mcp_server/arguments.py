"""Tool arguments taken strictly, and argument errors in plain words.

MCPServer builds each tool's argument model from the function's signature on
pydantic's defaults: lax types ("5" becomes 5, true becomes 1) and extra
arguments silently dropped. `strict_model` turns that model strict, with extra
arguments forbidden; `argument_error` says what was wrong and which arguments
the tool accepts, without pydantic's report, URLs or the caller's values.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

MAX_ERRORS = 4


def strict_model(model: type[BaseModel]) -> type[BaseModel]:
    """The same arguments, no coercion, no unknown names."""
    return type(model.__name__, (model,), {
        "__module__": model.__module__,
        "model_config": ConfigDict(arbitrary_types_allowed=True, extra="forbid", strict=True),
    })


def _kind(value: Any) -> str:
    """A JSON value's kind, in words (the value itself is never echoed)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def describe(prop: dict) -> str:
    """One schema property in words: 'whole number 1-50', 'list of text', 'one of: a, b'."""
    if "enum" in prop:
        return "one of: " + ", ".join(str(v) for v in prop["enum"])
    kind = prop.get("type")
    if kind == "integer":
        low, high = prop.get("minimum"), prop.get("maximum")
        if low is not None and high is not None:
            return f"whole number {low}-{high}"
        return "whole number"
    if kind == "number":
        return "number"
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        return f"list of {describe(prop.get('items', {}))}"
    if kind == "object":
        return "object"
    return "text"


def expected(prop: dict) -> str:
    """What a property takes, to end 'must be ...': 'a whole number from 1 to 50', 'a list of text'."""
    kind = prop.get("type")
    if kind == "integer" and "enum" not in prop:
        low, high = prop.get("minimum"), prop.get("maximum")
        return f"a whole number from {low} to {high}" if low is not None and high is not None else "a whole number"
    if kind in ("array", "object", "number") and "enum" not in prop:
        return f"a {describe(prop)}" if kind != "object" else "an object"
    return describe(prop)


def accepted_arguments(schema: dict) -> str:
    """'query (text, required), top_k (whole number 1-50)', or 'none' for a tool without arguments."""
    required = set(schema.get("required", []))
    parts = [f"{name} ({describe(prop)}{', required' if name in required else ''})"
             for name, prop in schema.get("properties", {}).items()]
    return ", ".join(parts) or "none (call it with {})"


def _problem(err: dict, schema: dict) -> str:
    loc = [str(p) for p in err.get("loc", ())]
    field = loc[0] + "".join(f"[{p}]" for p in loc[1:]) if loc else "arguments"
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    prop = schema.get("properties", {}).get(loc[0], {}) if loc else {}
    if len(loc) > 1 and prop.get("type") == "array":
        prop = prop.get("items", {})
    if kind == "missing":
        return f"{field} is required"
    if kind == "extra_forbidden":
        return f"{field} is not an argument of this tool"
    if kind == "literal_error":
        return f"{field} must be {describe(prop) if prop else 'one of ' + str(ctx.get('expected'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"{field} must be at most {ctx.get('le', ctx.get('lt'))}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{field} must be at least {ctx.get('ge', ctx.get('gt'))}"
    if kind == "string_too_long":
        return f"{field} must be at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return f"{field} must not be empty" if n == 1 else f"{field} must be at least {n} characters"
    if kind == "too_long":
        return f"{field} must have at most {ctx.get('max_length')} items"
    if kind.endswith(("_type", "_parsing")) or kind in ("int_from_float", "bool_parsing"):
        want = expected(prop) if prop else "another type"
        return f"{field} must be {want}, not {_kind(err.get('input'))}"
    message = str(err.get("msg", "is invalid")).split(" [type=")[0].split("For further information")[0]
    return f"{field}: {message.strip()}"


def argument_error(tool: str, errors: list[dict], schema: dict) -> str:
    """A ValidationError's errors as one short paragraph that ends with the accepted arguments."""
    problems = [_problem(err, schema) for err in errors[:MAX_ERRORS]]
    more = f" (and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
    return (f"invalid arguments for {tool}: " + "; ".join(problems) + more
            + f". Accepted arguments: {accepted_arguments(schema)}.")
