"""User-given paths checked against the repo root: one check for every face (CLI, MCP, TUI)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from core.errors import PathOutsideRepoError

__all__ = ["PathOutsideRepoError", "relative_in_root", "resolve_in_root"]


def resolve_in_root(root: Path, paths: Iterable[str | Path]) -> list[Path] | None:
    """User-given paths (absolute, or relative to root) resolved with symlinks followed.

    Any path that lands outside root is refused with a message saying so. Returns
    None (the whole repository) when no paths are given or one of them is the root.
    Paths need not exist: a deleted file's path removes its vectors.
    """
    root = Path(root).resolve()
    out: list[Path] = []
    for p in paths:
        text = str(p)
        if not text.strip() or "\x00" in text:
            raise PathOutsideRepoError(
                f"path {text!r} is empty or has a NUL character; give paths like 'docs/a.md'")
        given = Path(p)
        try:
            full = (given if given.is_absolute() else root / given).resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop, an unreadable folder
            raise PathOutsideRepoError(f"path {text!r} cannot be resolved ({exc}); give a plain path") from None
        if not full.is_relative_to(root):
            how = "resolves (through a symlink) to" if (root / given).is_symlink() else "is"
            raise PathOutsideRepoError(
                f"path {text!r} {how} {full}, outside the repository root {root}; "
                "give files or folders inside it")
        out.append(full)
    return None if not out or root in out else out


def relative_in_root(root: Path, paths: Iterable[str | Path]) -> set[str] | None:
    """resolve_in_root, as repo-relative paths in the stored form ingest keys documents by
    (core.scan.escape_path; None: the whole repository).

    A path may also be given in that stored form, as Lightfast shows it ('caf\\xe9.md' for a
    name that is not UTF-8): both readings are selected, since a re-ingest of the other one,
    should it exist, changes nothing.
    """
    from core.scan import escape_path, path_bytes

    paths = list(paths)
    resolved = resolve_in_root(root, paths)
    if resolved is None:
        return None
    root = Path(root).resolve()
    out = {escape_path(p.relative_to(root).as_posix()) for p in resolved}
    for given in paths:
        text = os.fspath(given)
        raw = os.fsdecode(path_bytes(text))
        if raw != text and "\x00" not in raw:
            try:
                also = resolve_in_root(root, [raw])
            except PathOutsideRepoError:
                continue
            out.update(escape_path(p.relative_to(root).as_posix()) for p in also or [])
    return out
