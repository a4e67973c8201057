"""Damage to the local index's files, as errors that name the file and the command that recovers.

Files changed outside Lightfast (a disk error, a stray write, a restore gone wrong) must never
give a silent wrong answer: each check below raises IndexDamagedError naming the file and the
command that recovers. Rows are re-written by `ingest --full`; a namespace whose meta.sqlite is
lost is deleted (which needs only its folder) and ingested again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from core.errors import IndexDamagedError

METRICS = ("cosine", "dotproduct", "euclidean")  # what the local index scores with


def _store_of(namespace: str) -> str:
    found = re.search(r":store_([a-z0-9]+)$", namespace)
    return found.group(1) if found else "S"


def rows_damaged(path: Path, namespace: str, problem: str) -> IndexDamagedError:
    store = _store_of(namespace)
    return IndexDamagedError(
        f"{path}: {problem}: the index files of namespace '{namespace}' were damaged outside Lightfast; "
        f"recover with `lightfast ingest --full --store {store}`"
    )


def meta_damaged(path: Path, namespace: str, problem: str) -> IndexDamagedError:
    store = _store_of(namespace)
    return IndexDamagedError(
        f"{path}: {problem}: the metadata of namespace '{namespace}' was damaged outside Lightfast; "
        f"recover with `lightfast namespaces delete {store} --yes` and then `lightfast ingest --store {store}`"
    )


def read_index_json(folder: Path) -> dict:
    """index.json, checked; FileNotFoundError passes through, damage is IndexDamagedError."""
    path = folder / "index.json"
    raw = path.read_bytes()
    try:
        meta = json.loads(raw)
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
        if not isinstance(meta.get("name"), str) or not isinstance(meta.get("dimension"), int) \
                or isinstance(meta.get("dimension"), bool) or meta["dimension"] < 1:
            raise ValueError("name or dimension missing")
        if meta.get("metric", "cosine") not in METRICS:
            raise ValueError(f"unknown metric {meta.get('metric')!r}")
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise IndexDamagedError(
            f"{path}: not a valid index description ({exc}): it was damaged outside Lightfast; recover by "
            f"moving the index aside (`mv {folder} {folder.parent / ('.' + folder.name + '.damaged')}`) and "
            "running `lightfast ingest --full` (in every repo whose stores use this index)"
        ) from None
    return meta
