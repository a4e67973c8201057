"""The local backend: one shared index on disk, each namespace physically apart.

    <root>/<index>/index.json                 name, dimension, metric, tags
    <root>/<index>/ns/<encoded namespace>/    one folder per namespace
        lock                                  flock held by the namespace's writer
        meta.sqlite                           ids -> (slab, row), metadata, committed rows
        slab-000001.f32 ...                   append-only float32 rows, memory-mapped

Like Pinecone's slabs, a query reads only its own namespace's files, exactly
(brute force). A writer appends vectors past the committed row count, fsyncs,
then points the ids at them in one SQLite transaction; readers trust only
rows that a SQLite snapshot references, so they never see half an upsert, and
a kill leaves at worst unreferenced bytes that the next writer overwrites or
compaction removes. Deleting a namespace is one rename.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from core.errors import LightfastError, NotFoundError
from core.storage import read_only_connection
from core.vectors.base import IndexSpec, Match, NamespaceStats, VectorBackend, VectorIndex, VectorRecord
from core.vectors.filters import matches

SLAB_ROWS = 65_536
MAX_ID = 512
MAX_NAMESPACE = 512
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_CONN_CACHE = 64  # open SQLite connections kept per thread
_NS_CACHE = 128  # namespaces whose vectors stay loaded


def _encode(namespace: str) -> str:
    """A file-system-safe folder name; long names fall back to a hash."""
    encoded = _SAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), namespace)
    if len(encoded) > 200 or encoded.startswith("."):
        return "h-" + hashlib.sha256(namespace.encode()).hexdigest()[:40]
    return encoded


def _check_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or not 1 <= len(namespace) <= MAX_NAMESPACE or "\0" in namespace:
        raise LightfastError(
            f"invalid namespace {namespace!r}: 1 to {MAX_NAMESPACE} characters, no NUL"
        )


def _check_id(namespace: str, vid: str) -> None:
    if not isinstance(vid, str) or not 1 <= len(vid) <= MAX_ID or not vid.isascii() or "\0" in vid:
        raise LightfastError(
            f"invalid vector id {vid!r} in namespace '{namespace}': 1 to {MAX_ID} ASCII characters, no NUL"
        )


@contextmanager
def _write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction that also bumps the generation readers cache by."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


@dataclass
class _Loaded:
    """A namespace's live vectors as of one generation."""

    generation: tuple[int, int]  # (meta.sqlite inode, write counter)
    ids: list[str]
    matrix: np.ndarray  # (n, dim) float32, rows aligned with ids
    metadata: list[dict] | None = None  # parsed lazily, for filtered queries


class LocalBackend(VectorBackend):
    kind = "local"

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._indexes: dict[str, LocalIndex] = {}
        self._lock = threading.Lock()

    def index_exists(self, name: str) -> bool:
        return (self.root / name / "index.json").is_file()

    def create_index(self, spec: IndexSpec) -> None:
        folder = self.root / spec.name
        (folder / "ns").mkdir(parents=True, exist_ok=True)
        if (folder / "index.json").exists():
            return
        meta = {
            "name": spec.name, "dimension": spec.dimension, "metric": spec.metric,
            "deletion_protection": spec.deletion_protection, "tags": spec.tags,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        tmp = folder / f".index.json.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(meta, indent=2))
        try:
            os.link(tmp, folder / "index.json")  # first writer wins; a racer keeps its rival's file
        except FileExistsError:
            pass
        finally:
            tmp.unlink()

    def list_indexes(self) -> list[str]:
        return sorted(p.parent.name for p in self.root.glob("*/index.json"))

    def delete_index(self, name: str) -> None:
        if not self.index_exists(name):
            return
        meta = json.loads((self.root / name / "index.json").read_text())
        if meta.get("deletion_protection"):
            raise LightfastError(f"index '{name}' has deletion protection on; it cannot be deleted")
        trash = self.root / f".trash-{name}-{uuid.uuid4().hex}"
        os.rename(self.root / name, trash)
        shutil.rmtree(trash, ignore_errors=True)
        with self._lock:
            self._indexes.pop(name, None)

    def index(self, name: str) -> "LocalIndex":
        with self._lock:
            if name not in self._indexes or not self.index_exists(name):
                if not self.index_exists(name):
                    raise NotFoundError(f"local index '{name}' does not exist under {self.root}")
                self._indexes[name] = LocalIndex(self.root / name)
            return self._indexes[name]


class LocalIndex(VectorIndex):
    def __init__(self, folder: Path):
        meta = json.loads((folder / "index.json").read_text())
        self.folder = folder
        self.name = meta["name"]
        self.dimension = int(meta["dimension"])
        self.metric = meta.get("metric", "cosine")
        self.tags = meta.get("tags", {})
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()
        self._lock = threading.RLock()
        self._local = threading.local()

    # -- files, connections, locks -------------------------------------------
    def _dir(self, namespace: str) -> Path:
        return self.folder / "ns" / _encode(namespace)

    def _conn(self, folder: Path) -> sqlite3.Connection:
        cache: OrderedDict = getattr(self._local, "conns", None)
        if cache is None:
            cache = self._local.conns = OrderedDict()
        key = str(folder)
        db = folder / "meta.sqlite"
        try:
            inode = os.stat(db).st_ino
        except FileNotFoundError:
            inode = None
        entry = cache.get(key)
        if entry is not None:
            if entry[1] == inode:  # same file: a deleted and re-created namespace is a new one
                cache.move_to_end(key)
                return entry[0]
            cache.pop(key)[0].close()
        if os.statvfs(folder).f_flag & os.ST_RDONLY:  # a read-only data dir can still be searched
            conn = read_only_connection(db)
        else:
            conn = sqlite3.connect(db, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        cache[key] = (conn, inode if inode is not None else os.stat(db).st_ino)
        while len(cache) > _CONN_CACHE:
            cache.popitem(last=False)[1][0].close()
        return conn

    def _forget(self, folder: Path) -> None:
        cache = getattr(self._local, "conns", None)
        if cache and str(folder) in cache:
            cache.pop(str(folder))[0].close()

    @contextmanager
    def _writer(self, namespace: str, create: bool) -> Iterator[Path | None]:
        """Hold the namespace's writer lock; yields its folder (None if absent and not created)."""
        _check_namespace(namespace)
        folder = self._dir(namespace)
        while True:
            if not folder.exists():
                if not create:
                    yield None
                    return
                folder.mkdir(parents=True, exist_ok=True)
            lock_path = folder / "lock"
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # the folder was renamed away between the checks
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                # A delete may have renamed the folder while we waited: then start over.
                try:
                    same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    continue
                conn = self._conn(folder)
                conn.executescript(
                    """
                    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE IF NOT EXISTS slabs (slab INTEGER PRIMARY KEY, rows INTEGER NOT NULL);
                    CREATE TABLE IF NOT EXISTS vectors (
                        id TEXT PRIMARY KEY, slab INTEGER NOT NULL, row INTEGER NOT NULL, metadata TEXT NOT NULL);
                    """
                )
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('name', ?)", (namespace,))
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
                yield folder
                return
            finally:
                os.close(fd)


    # -- writes ---------------------------------------------------------------------
    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> int:
        if not records:
            return 0
        _check_namespace(namespace)
        latest: dict[str, VectorRecord] = {}
        for record in records:  # within one call the last record of an id wins
            _check_id(namespace, record.id)
            latest[record.id] = record
        ids = list(latest)
        matrix = np.asarray([np.asarray(latest[i].values, dtype=np.float32) for i in ids], dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.dimension:
            got = matrix.shape[1] if matrix.ndim == 2 else "?"
            self.check_dimension(got if isinstance(got, int) else -1, f"upsert into '{namespace}'")
        if not np.isfinite(matrix).all():
            raise LightfastError(f"upsert into '{namespace}': vectors must be finite (no NaN or inf)")
        if self.metric == "cosine":
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            matrix = matrix / np.where(norms == 0, 1, norms)
        metadata = []
        for i in ids:
            try:
                metadata.append(json.dumps(latest[i].metadata, ensure_ascii=False))
            except (TypeError, ValueError) as exc:
                raise LightfastError(f"metadata of id '{i}' in '{namespace}' is not JSON: {exc}") from None

        with self._writer(namespace, create=True) as folder:
            conn = self._conn(folder)
            last = conn.execute("SELECT slab, rows FROM slabs ORDER BY slab DESC LIMIT 1").fetchone()
            slab, rows = (last[0], last[1]) if last else (1, 0)
            placed: list[tuple[int, int]] = []
            slab_rows: dict[int, int] = {}
            start = 0
            while start < len(ids):
                if rows >= SLAB_ROWS:
                    slab, rows = slab + 1, 0
                take = min(SLAB_ROWS - rows, len(ids) - start)
                self._append(folder / f"slab-{slab:06d}.f32", rows, matrix[start : start + take])
                placed.extend((slab, rows + k) for k in range(take))
                rows += take
                slab_rows[slab] = rows
                start += take
            with _write_transaction(conn):
                conn.executemany("INSERT OR REPLACE INTO slabs (slab, rows) VALUES (?, ?)", slab_rows.items())
                conn.executemany(
                    "INSERT OR REPLACE INTO vectors (id, slab, row, metadata) VALUES (?, ?, ?, ?)",
                    [(i, s, r, m) for i, (s, r), m in zip(ids, placed, metadata)],
                )
            self._maybe_compact(folder, conn)
        return len(ids)

    def _append(self, path: Path, committed_rows: int, block: np.ndarray) -> None:
        """Write block after the committed rows, dropping any bytes a crashed writer left."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            offset = committed_rows * self.dimension * 4
            os.ftruncate(fd, offset)
            os.pwrite(fd, np.ascontiguousarray(block, dtype=np.float32).tobytes(), offset)
            os.fsync(fd)
        finally:
            os.close(fd)

    def delete(self, namespace: str, ids: Iterable[str]) -> None:
        ids = list(ids)
        if not ids:
            return
        with self._writer(namespace, create=False) as folder:
            if folder is None:
                return
            conn = self._conn(folder)
            with _write_transaction(conn):
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    conn.execute(f"DELETE FROM vectors WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            self._maybe_compact(folder, conn)

    def delete_namespace(self, namespace: str) -> None:
        with self._writer(namespace, create=False) as folder:
            if folder is None:
                return
            self._forget(folder)
            trash = self.folder / ".trash"
            trash.mkdir(exist_ok=True)
            target = trash / uuid.uuid4().hex
            os.rename(folder, target)  # the one step that makes the namespace empty
        with self._lock:
            self._loaded.pop(namespace, None)
        shutil.rmtree(target, ignore_errors=True)

    def _maybe_compact(self, folder: Path, conn: sqlite3.Connection) -> None:
        total = conn.execute("SELECT COALESCE(SUM(rows), 0) FROM slabs").fetchone()[0]
        live = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        if total - live > max(live, 1024):
            self._compact_locked(folder, conn)

    def compact(self, namespace: str) -> None:
        """Rewrite live rows into fresh slabs and drop the dead bytes."""
        with self._writer(namespace, create=False) as folder:
            if folder is not None:
                self._compact_locked(folder, self._conn(folder))

    def _compact_locked(self, folder: Path, conn: sqlite3.Connection) -> None:
        slabs = dict(conn.execute("SELECT slab, rows FROM slabs").fetchall())
        rows = conn.execute("SELECT id, slab, row FROM vectors ORDER BY slab, row").fetchall()
        next_slab = max(slabs, default=0) + 1
        maps = {s: self._map(folder, s, n) for s, n in slabs.items()}
        new_slabs: dict[int, int] = {}
        updates = []
        for start in range(0, len(rows), SLAB_ROWS):
            part = rows[start : start + SLAB_ROWS]
            block = np.stack([maps[s][r] for _, s, r in part]) if part else None
            slab = next_slab + start // SLAB_ROWS
            self._append(folder / f"slab-{slab:06d}.f32", 0, block)
            new_slabs[slab] = len(part)
            updates.extend((slab, k, vid) for k, (vid, _, _) in enumerate(part))
        with _write_transaction(conn):
            conn.execute("DELETE FROM slabs")
            conn.executemany("INSERT INTO slabs (slab, rows) VALUES (?, ?)", new_slabs.items())
            conn.executemany("UPDATE vectors SET slab=?, row=? WHERE id=?", updates)
        del maps
        for path in folder.glob("slab-*.f32"):  # old slabs and orphans of crashed writers
            if int(path.stem.split("-")[1]) not in new_slabs:
                path.unlink(missing_ok=True)

    def _map(self, folder: Path, slab: int, rows: int) -> np.ndarray:
        if rows == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.memmap(folder / f"slab-{slab:06d}.f32", dtype=np.float32, mode="r",
                         shape=(rows, self.dimension))

    # -- reads ----------------------------------------------------------------------
    def _load(self, namespace: str) -> _Loaded | None:
        """The namespace's live vectors, reloaded only when its generation moved."""
        _check_namespace(namespace)
        folder = self._dir(namespace)
        if not (folder / "meta.sqlite").exists():
            with self._lock:
                self._loaded.pop(namespace, None)
            return None
        for attempt in range(3):
            try:
                conn = self._conn(folder)
                conn.execute("BEGIN")
                try:
                    row = conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
                    # The inode tells a re-created namespace from the one it replaced.
                    generation = (os.stat(folder / "meta.sqlite").st_ino, int(row[0]) if row else 0)
                    with self._lock:
                        cached = self._loaded.get(namespace)
                        if cached is not None and cached.generation == generation:
                            self._loaded.move_to_end(namespace)
                            return cached
                    slabs = dict(conn.execute("SELECT slab, rows FROM slabs").fetchall())
                    rows = conn.execute("SELECT id, slab, row FROM vectors ORDER BY slab, row").fetchall()
                finally:
                    conn.execute("COMMIT")
                matrix = np.empty((len(rows), self.dimension), dtype=np.float32)
                if rows:
                    slab_of = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
                    row_of = np.fromiter((r[2] for r in rows), dtype=np.int64, count=len(rows))
                    for slab in np.unique(slab_of):
                        mask = slab_of == slab
                        matrix[mask] = self._map(folder, int(slab), slabs[int(slab)])[row_of[mask]]
                loaded = _Loaded(generation, [r[0] for r in rows], matrix)
                with self._lock:
                    self._loaded[namespace] = loaded
                    while len(self._loaded) > _NS_CACHE:
                        self._loaded.popitem(last=False)
                return loaded
            except (FileNotFoundError, sqlite3.OperationalError):
                # Compaction or a namespace delete moved files under us: look again.
                self._forget(folder)
                if not (folder / "meta.sqlite").exists():
                    return None
                time.sleep(0.01 * (attempt + 1))
        raise LightfastError(f"namespace '{namespace}' of index '{self.name}' kept changing while being read")

    def query(self, namespace: str, vector: np.ndarray, top_k: int, filter: dict[str, Any] | None = None) -> list[Match]:
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        self.check_dimension(q.shape[0], f"query of '{namespace}'")
        if top_k < 1:
            raise LightfastError(f"top_k must be at least 1, got {top_k}")
        loaded = self._load(namespace)
        if loaded is None or not loaded.ids:
            return []
        if self.metric == "cosine":
            norm = np.linalg.norm(q)
            q = q / norm if norm else q
        if self.metric == "euclidean":
            scores = -np.sum((loaded.matrix - q) ** 2, axis=1)  # higher is nearer
        else:
            scores = loaded.matrix @ q
        if filter:
            try:
                metas = self._metadata_all(namespace, loaded)
            except (sqlite3.OperationalError, FileNotFoundError):
                return []  # deleted under us, as below
            keep = np.fromiter((matches(m, filter) for m in metas), dtype=bool, count=len(metas))
            scores = np.where(keep, scores, -np.inf)
            top_k = min(top_k, int(keep.sum()))
            if top_k == 0:
                return []
        k = min(top_k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        best = best[np.argsort(-scores[best], kind="stable")]
        chosen = [loaded.ids[i] for i in best]
        try:
            metadata = self._metadata(namespace, chosen)
        except (sqlite3.OperationalError, FileNotFoundError):
            # The namespace was deleted (renamed away) after we loaded it: it is empty now.
            self._forget(self._dir(namespace))
            with self._lock:
                self._loaded.pop(namespace, None)
            return []
        return [Match(vid, float(scores[i]), metadata.get(vid, {})) for vid, i in zip(chosen, best)]

    def _metadata(self, namespace: str, ids: Sequence[str]) -> dict[str, dict]:
        if not ids:
            return {}
        conn = self._conn(self._dir(namespace))
        out = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            for vid, meta in conn.execute(
                f"SELECT id, metadata FROM vectors WHERE id IN ({','.join('?' * len(chunk))})", chunk
            ):
                out[vid] = json.loads(meta)
        return out

    def _metadata_all(self, namespace: str, loaded: _Loaded) -> list[dict]:
        if loaded.metadata is None:
            found = self._metadata(namespace, loaded.ids)
            loaded.metadata = [found.get(i, {}) for i in loaded.ids]
        return loaded.metadata

    def namespace_stats(self, namespace: str) -> NamespaceStats:
        _check_namespace(namespace)
        folder = self._dir(namespace)
        if not (folder / "meta.sqlite").exists():
            return NamespaceStats(namespace, 0)
        try:
            count = self._conn(folder).execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        except sqlite3.OperationalError:
            self._forget(folder)
            return NamespaceStats(namespace, 0)
        return NamespaceStats(namespace, count)

    def list_namespaces(self, prefix: str | None = None) -> list[NamespaceStats]:
        out = []
        for folder in sorted((self.folder / "ns").iterdir()) if (self.folder / "ns").exists() else []:
            if not (folder / "meta.sqlite").exists():
                continue
            try:
                conn = self._conn(folder)
                row = conn.execute("SELECT value FROM meta WHERE key='name'").fetchone()
                count = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
            except sqlite3.OperationalError:
                self._forget(folder)
                continue
            if row and count and (prefix is None or row[0].startswith(prefix)):
                out.append(NamespaceStats(row[0], count))
        return sorted(out, key=lambda s: s.namespace)

    def list_ids(self, namespace: str, prefix: str | None = None, limit: int = 100,
                 pagination_token: str | None = None) -> tuple[list[str], str | None]:
        _check_namespace(namespace)
        folder = self._dir(namespace)
        if not (folder / "meta.sqlite").exists():
            return [], None
        sql = "SELECT id FROM vectors WHERE id > ?"
        params: list[Any] = [pagination_token or ""]
        if prefix:
            sql += " AND substr(id, 1, ?) = ?"
            params += [len(prefix), prefix]
        sql += " ORDER BY id LIMIT ?"
        params.append(limit + 1)
        try:
            ids = [r[0] for r in self._conn(folder).execute(sql, params)]
        except sqlite3.OperationalError:  # deleted under us
            self._forget(folder)
            return [], None
        more = len(ids) > limit
        ids = ids[:limit]
        return ids, (ids[-1] if more and ids else None)

    def fetch(self, namespace: str, ids: Sequence[str]) -> dict[str, VectorRecord]:
        _check_namespace(namespace)
        folder = self._dir(namespace)
        if not ids or not (folder / "meta.sqlite").exists():
            return {}
        conn = self._conn(folder)
        out: dict[str, VectorRecord] = {}
        conn.execute("BEGIN")
        try:
            slabs = dict(conn.execute("SELECT slab, rows FROM slabs").fetchall())
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                for vid, slab, row, meta in conn.execute(
                    f"SELECT id, slab, row, metadata FROM vectors WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ):
                    values = np.array(self._map(folder, slab, slabs[slab])[row])
                    out[vid] = VectorRecord(vid, values, json.loads(meta))
        finally:
            conn.execute("COMMIT")
        return out
