"""What the local index accepts: index and namespace names, vector ids and records, checked
before any file is touched. A namespace's slot folder name is derived here too."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from core.errors import InvalidArgumentError, NamespaceFolderError
from core.vectors.base import VectorRecord

MAX_ID = 512
MAX_NAMESPACE = 512

_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")  # lowercase only: case-insensitive file systems
_MAX_SLOT = 200  # longest encoded slot name before falling back to a hash (NAME_MAX is 255)
_INDEX_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?")  # Pinecone's rule, as core/config.py


def encode_namespace(namespace: str) -> str:
    """The slot folder's name: readable and reversible, or `~<sha256>` when too long."""
    parts = []
    for i, ch in enumerate(namespace):
        if ch in _SAFE_CHARS and not (i == 0 and ch == "."):
            parts.append(ch)
        else:
            parts.append("".join(f"%{b:02x}" for b in ch.encode()))
    encoded = "".join(parts)
    if len(encoded) > _MAX_SLOT:
        return "~" + hashlib.sha256(namespace.encode()).hexdigest()  # '~' never appears in an encoding
    return encoded


def check_namespace(namespace: Any) -> None:
    ok = isinstance(namespace, str) and 1 <= len(namespace) <= MAX_NAMESPACE and "\0" not in namespace
    if ok:
        try:
            namespace.encode()
        except UnicodeEncodeError:
            ok = False
    if not ok:
        raise InvalidArgumentError(f"invalid namespace {namespace!r}: 1 to {MAX_NAMESPACE} characters, no NUL")


def check_id(namespace: str, vid: Any) -> None:
    if not isinstance(vid, str) or not 1 <= len(vid) <= MAX_ID or not vid.isascii() or "\0" in vid:
        raise InvalidArgumentError(
            f"invalid vector id {vid!r} in namespace '{namespace}': 1 to {MAX_ID} ASCII characters, no NUL"
        )


def check_index_name(name: Any) -> None:
    if not isinstance(name, str) or not _INDEX_NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"invalid index name {name!r}: 1 to 45 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit (Pinecone's rule)"
        )


def inside(base: Path, path: Path, what: str) -> Path:
    """path, refused unless it resolves (symlinks followed) to a place under base."""
    resolved_base = base.resolve()
    if not path.resolve().is_relative_to(resolved_base):
        raise NamespaceFolderError(
            f"{what} {path} resolves to {path.resolve()}, outside {resolved_base}; "
            "a symlink there points out of the data dir: remove it"
        )
    return path


def prepare(namespace: str, records: Sequence[VectorRecord], dimension: int, metric: str,
            check_dimension: Callable[[int, str], None]) -> tuple[list[str], np.ndarray, list[str]]:
    """(ids, rows, metadata JSON) of an upsert, every record checked; within one call the last
    record of an id wins. Cosine rows are L2-normalised, as the index stores them."""
    latest: dict[str, VectorRecord] = {}
    for record in records:
        check_id(namespace, record.id)
        latest[record.id] = record
    ids = list(latest)
    matrix = np.empty((len(ids), dimension), dtype=np.float32)
    metadata = []
    for row, vid in enumerate(ids):
        record = latest[vid]
        where = f"upsert into namespace '{namespace}', id '{vid}'"
        try:
            values = np.asarray(record.values, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"{where}: values are not numbers ({exc})") from None
        if values.ndim != 1:
            raise InvalidArgumentError(f"{where}: values must be one vector, got shape {values.shape}")
        check_dimension(values.shape[0], where)
        with np.errstate(over="ignore"):
            matrix[row] = values
        if not np.isfinite(matrix[row]).all():
            raise InvalidArgumentError(f"{where}: values must be finite float32 numbers (no NaN or infinity)")
        if not isinstance(record.metadata, dict):
            raise InvalidArgumentError(f"{where}: metadata must be a JSON object, got {type(record.metadata).__name__}")
        try:
            metadata.append(json.dumps(record.metadata, ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"{where}: metadata is not JSON-serialisable ({exc})") from None
    if metric == "cosine":
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix /= np.where(norms == 0, 1, norms)
    return ids, matrix, metadata
