"""Checks an ingest passes before it removes anything.

Ingest removes the documents of files it no longer finds. That is right when
files were deleted and wrong when the scan saw nothing for another reason: a
`root` that does not exist (a typo), a directory that cannot be read, a glob
edited by mistake. These checks run after the scan and before any store is
touched, so a refused run changes nothing:

- the repo root must exist, be a directory, and be readable: else ConfigError;
- a run that would remove more than half of a store's documents, and more than
  a few, is refused (RemovalRefusedError) unless forced;
- so are removals of documents under a directory the scan could not read.

Forcing: `force=True`, or LIGHTFAST_FORCE_REMOVE=1 in the environment (so
every face can pass it on without a flag of its own).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Sequence

from core.config import LightfastConfig, StoreConfig
from core.errors import ConfigError, RemovalRefusedError
from core.mirror import Mirror
from core.scan import UNREADABLE_DIR, FoundFile, Skipped, StoreMatcher

#: Removing up to this many documents never asks, whatever share of the store they are.
FEW = 5
FORCE_ENV = "LIGHTFAST_FORCE_REMOVE"
#: YAML's line breaks (PyYAML numbers lines by these, so its messages and ours agree).
_YAML_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


def check_ingest(
    config: LightfastConfig,
    mirror: Mirror,
    environment: str,
    stores: Sequence[StoreConfig],
    found: Sequence[FoundFile | Skipped],
    only_paths: set[str] | None = None,
    force: bool | None = None,
) -> None:
    """Raise before an ingest that would remove what it should not; see the module doc."""
    check_root(config)
    if forced(force):
        return
    for store in stores:
        refusal = removal_refusal(config, mirror, environment, store, found, only_paths)
        if refusal:
            raise RemovalRefusedError(refusal)


def forced(force: bool | None = None) -> bool:
    """force as given, or (None) whether LIGHTFAST_FORCE_REMOVE asks for it."""
    return force if force is not None else os.environ.get(FORCE_ENV, "") not in ("", "0")


def removal_refusal(
    config: LightfastConfig,
    mirror: Mirror,
    environment: str,
    store: StoreConfig,
    found: Sequence[FoundFile | Skipped],
    only_paths: set[str] | None = None,
) -> str | None:
    """Why an unforced ingest of this store would be refused (None: it would not be).
    `ingest` raises it; `ingest --plan` shows it."""
    record = mirror.get_namespace(environment, config.organization, config.workspace, store.slug)
    if record is None:
        return None
    unreadable = [item.path.rstrip("/") for item in found
                  if isinstance(item, Skipped) and item.reason.startswith(UNREADABLE_DIR)]
    known = mirror.documents(record.id)
    gone = would_remove(store, known, found, only_paths)
    hidden = [p for p in gone if any(p.startswith(d + "/") for d in unreadable)]
    if hidden:
        dirs = sorted({d for d in unreadable if any(p.startswith(d + "/") for p in hidden)})
        return (
            f"store '{store.slug}': cannot read {_list(dirs)} under {config.root_path}, so ingest would "
            f"remove the {len(hidden)} document{'s' * (len(hidden) != 1)} indexed from there "
            f"(e.g. {_list(hidden)}); nothing was changed. Make it readable, or, if those files are "
            f"really gone, run again with --force (or {FORCE_ENV}=1)"
        )
    if len(gone) > FEW and len(gone) * 2 > len(known):
        return (
            f"store '{store.slug}': ingest would remove {len(gone)} of its {len(known)} documents "
            f"(e.g. {_list(gone)}), because they are no longer found under {config.root_path} with "
            f"the store's globs; nothing was changed. Check `root` and the globs in "
            f"{config.source_path or 'lightfast.yml'}, or, if the files really are gone, run again "
            f"with --force (or {FORCE_ENV}=1)"
        )
    return None


def would_remove(
    store: StoreConfig,
    known: dict[str, dict],
    found: Iterable[FoundFile | Skipped],
    only_paths: set[str] | None = None,
) -> list[str]:
    """The stored paths an ingest of this store would remove as gone (core/ingest.py's rule:
    a known path, selected, that the scan no longer reports as a file of the store)."""
    matcher = StoreMatcher(store.include, store.exclude)

    def selected(path: str) -> bool:
        return only_paths is None or path in only_paths or any(path.startswith(p + "/") for p in only_paths)

    present = {item.path for item in found if isinstance(item, FoundFile) and matcher.matches(item.path)}
    return sorted(p for p in known if selected(p) and p not in present)


def check_root(config: LightfastConfig) -> None:
    """ConfigError unless the repo root exists, is a directory and can be listed."""
    root = config.root_path
    where = _root_location(config)
    if not root.exists():
        problem = "does not exist"
    elif not root.is_dir():
        problem = "is not a directory"
    else:
        try:
            with os.scandir(root) as entries:
                next(entries, None)
            return
        except OSError as exc:
            problem = f"cannot be read ({exc.strerror or exc})"
    raise ConfigError(
        f"{where}root: the repo root {root} {problem}; nothing was ingested or removed. "
        "Fix `root` (relative to the folder of lightfast.yml)"
    )


def _root_location(config: LightfastConfig) -> str:
    """'file:line: ' of the `root:` setting (or of the file when root is the default)."""
    path = config.source_path
    if path is None:
        return ""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
        for number, line in enumerate(_YAML_LINE_BREAK.split(text), 1):  # numbered as the YAML parser does
            if re.match(r"root\s*:", line):
                return f"{path}:{number}: "
    except (OSError, UnicodeDecodeError):
        pass
    return f"{path}: "


def _list(items: Sequence[str], most: int = 3) -> str:
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")
