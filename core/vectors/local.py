"""The local backend: one shared index on disk, each namespace physically apart.

    <root>/<index>/index.json                 name, dimension, metric, tags, deletion_protection
    <root>/<index>/ns/<encoded namespace>/    one slot per namespace
        lock                                  flock held by the namespace's writer
        name                                  the real namespace name (slots may be hashed)
        d-<uid>/                              this incarnation of the namespace
            meta.sqlite                       ids -> (slab, row), metadata, committed rows, generation,
                                              checksums and dead-row bitmaps (core/vectors/layout.py)
            slab-000001.f32 ...               append-only float32 rows, memory-mapped
    <root>/<index>/.trash/                    deleted namespaces on their way out

Like Pinecone's slabs, a query reads only its own namespace's files, exactly
(brute force). A writer appends vectors past the committed row count, fsyncs,
then points the ids at them in one SQLite transaction that also bumps the
generation, records the appended blocks' checksums and marks the rows the ids
left as dead; readers trust only rows their SQLite snapshot references, so they
never see half an upsert, and a kill leaves at worst unreferenced bytes that
the next writer truncates or compaction removes. Deleting a namespace is one
rename of its slot.

Opening a namespace maps its slabs directly: the live rows come from the
dead-row bitmaps, the ids of a query's hits from an index on (slab, row), and
each segment with live rows is checked against its checksum once per process,
so damaged bytes are an error naming the slab, never a silently wrong ranking.

Why an incarnation folder: SQLite opens a database's `-wal` and `-shm` files by
path, lazily, so a connection opened just before its namespace was deleted and
re-created could pair the old database with the new namespace's WAL. Each
incarnation has its own uid folder and a path is never reused, so a connection
or cache keyed by path always belongs to exactly one incarnation, and one stat
tells a reader whether what it cached is still current.

The jobs live apart: what the index accepts (validate.py), slab files (slabs.py),
meta.sqlite's checksums and bitmaps (layout.py), the writer lock and incarnations
(writer.py), pooled connections (pool.py), search over a view (scan.py) and compaction
(compaction.py). This module is the backend (index folders); the index itself is
core/vectors/local_index.py.

Scores follow Pinecone: cosine and dotproduct are similarities (higher first);
euclidean is the squared distance (lower first). Cosine indexes store
L2-normalised vectors, so `fetch` returns them normalised.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import uuid
from pathlib import Path

from core.errors import (
    DeletionProtectedError, DimensionMismatchError, InvalidArgumentError, MetricMismatchError, NotFoundError,
)
from core.vectors import slabs
from core.vectors.base import IndexSpec, VectorBackend
from core.vectors.damage import METRICS, read_index_json
from core.vectors.local_index import LocalIndex
from core.vectors.validate import check_index_name, encode_namespace, inside
from core.vectors.writer import now

__all__ = ["METRICS", "LocalBackend", "LocalIndex", "encode_namespace"]


# -- the backend -------------------------------------------------------------------------------------

class LocalBackend(VectorBackend):
    """Indexes as folders under `root`; safe to share between processes."""

    kind = "local"

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._indexes: dict[str, tuple[int, LocalIndex]] = {}  # name -> (index.json inode, index)
        self._lock = threading.Lock()

    def _folder(self, name: str) -> Path:
        check_index_name(name)
        return inside(self.root, self.root / name, f"index folder of '{name}'")

    def index_exists(self, name: str) -> bool:
        return (self._folder(name) / "index.json").is_file()

    def create_index(self, spec: IndexSpec) -> None:
        if spec.metric not in METRICS:
            raise InvalidArgumentError(f"index '{spec.name}': unknown metric {spec.metric!r}; "
                                       f"use one of {', '.join(METRICS)}")
        if not isinstance(spec.dimension, int) or spec.dimension < 1:
            raise InvalidArgumentError(f"index '{spec.name}': dimension must be a positive integer, "
                                       f"got {spec.dimension!r}")
        folder = self._folder(spec.name)
        (folder / "ns").mkdir(parents=True, exist_ok=True)
        meta = {
            "name": spec.name, "dimension": spec.dimension, "metric": spec.metric, "tags": dict(spec.tags),
            "deletion_protection": bool(spec.deletion_protection), "created_at": now(), "format": 1,
        }
        tmp = folder / f".index.json.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
        try:
            os.link(tmp, folder / "index.json")  # first creator wins, atomically
            slabs.fsync_dir(folder)
            return
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        self._configure(folder, spec)

    def _configure(self, folder: Path, spec: IndexSpec) -> None:
        """The index exists: check what cannot change, apply what can (tags, deletion protection)."""
        lock_fd = os.open(folder / ".index.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            meta = read_index_json(folder)
            if meta["dimension"] != spec.dimension:
                raise DimensionMismatchError(
                    f"index '{spec.name}' exists with {meta['dimension']}-dimensional vectors, "
                    f"but the profile asks for {spec.dimension}"
                )
            if meta.get("metric", "cosine") != spec.metric:
                raise MetricMismatchError(
                    f"index '{spec.name}' exists with metric {meta.get('metric')!r}, but the profile asks "
                    f"for {spec.metric!r}; a metric cannot change, create a new index"
                )
            wanted = {"tags": dict(spec.tags), "deletion_protection": bool(spec.deletion_protection)}
            if any(meta.get(k) != v for k, v in wanted.items()):
                slabs.write_atomic(folder / "index.json", json.dumps({**meta, **wanted}, indent=2) + "\n")
        finally:
            os.close(lock_fd)

    def list_indexes(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()
                      if not p.name.startswith(".") and (p / "index.json").is_file())

    def delete_index(self, name: str) -> None:
        folder = self._folder(name)
        try:
            meta = read_index_json(folder)
        except FileNotFoundError:
            return
        if meta.get("deletion_protection"):
            raise DeletionProtectedError(
                f"index '{name}' has deletion protection on; turn it off in its profile before deleting it"
            )
        trash = self.root / ".trash"
        trash.mkdir(exist_ok=True)
        target = trash / f"{name}-{uuid.uuid4().hex}"
        try:
            os.rename(folder, target)
        except FileNotFoundError:
            return  # another process deleted it first
        with self._lock:
            self._indexes.pop(name, None)
        shutil.rmtree(target, ignore_errors=True)

    def index(self, name: str) -> LocalIndex:
        folder = self._folder(name)
        try:
            inode = os.stat(folder / "index.json").st_ino
        except FileNotFoundError:
            raise NotFoundError(f"local index '{name}' does not exist under {self.root}") from None
        with self._lock:
            cached = self._indexes.get(name)
            if cached is not None and cached[0] == inode:
                return cached[1]
            index = LocalIndex(folder)
            self._indexes[name] = (inode, index)
            return index
