"""Shaping results for a model's context: structured data plus a compact, capped text form."""

from __future__ import annotations

import hashlib
from pathlib import Path

SNIPPET_CHARS = 400


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def freshness(root: Path, path: str, indexed_hash: str, cache: dict[str, str]) -> str:
    """'fresh', 'changed' or 'deleted': the file on disk against what was indexed."""
    if path not in cache:
        file = root / path
        try:
            cache[path] = hashlib.sha256(file.read_bytes()).hexdigest()
        except OSError:
            cache[path] = ""
    current = cache[path]
    if not current:
        return "deleted"
    return "fresh" if current == indexed_hash else "changed"


def cap(lines: list[str], max_chars: int, unit: str) -> str:
    """Join lines up to max_chars; say what was cut and how to get it."""
    out, used = [], 0
    for i, line in enumerate(lines):
        if used + len(line) + 1 > max_chars and out:
            out.append(f"… cut: {len(lines) - i} more {unit} (raise max_chars or lower top_k)")
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)
