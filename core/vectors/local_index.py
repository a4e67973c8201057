"""LocalIndex: one shared index on disk, each namespace physically apart (the layout and why
it is safe to share are in core/vectors/local.py's docstring).

The class ties the parts together: names are checked (validate.py), rows written to slab files
(slabs.py) under the namespace's writer lock (writer.py), their checksums and dead-row bitmaps
recorded in meta.sqlite (layout.py) through pooled connections (pool.py); a read takes a
snapshot and searches its view (scan.py); compaction (compaction.py) runs after writes.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
import urllib.parse
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from core import lexical
from core.errors import (
    ConcurrentChangeError, IndexDamagedError, InvalidArgumentError, NamespaceFolderError, NotFoundError,
)
from core.storage import read_only_connection
from core.vectors import compaction, layout, scan, slabs, writer
from core.vectors.base import Match, NamespaceStats, VectorIndex, VectorRecord
from core.vectors.damage import meta_damaged, read_index_json, rows_damaged
from core.vectors.pool import ConnectionPool
from core.vectors.scan import View, build_view, checksum_error, keep_mask
from core.vectors.sql import execute_in
from core.vectors.validate import check_namespace, encode_namespace, inside, prepare
from core.vectors.writer import check_name_file, create_incarnation, find_incarnation, slot_lock, write_transaction

_VIEWS = 64  # namespaces whose memory maps stay cached per index


class _Outdated(Exception):
    """The namespace has an older layout: upgrade it (under the writer lock) and read again."""


class LocalIndex(VectorIndex):
    """One shared index. Thread-safe; several processes may read and write it at once."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        try:
            meta = read_index_json(folder)
        except FileNotFoundError:
            raise NotFoundError(f"local index at {folder} does not exist") from None
        self.folder = folder
        self.name: str = meta["name"]
        self.dimension: int = int(meta["dimension"])
        self.metric: str = meta.get("metric", "cosine")
        self.tags: dict[str, str] = meta.get("tags", {})
        self.deletion_protection: bool = bool(meta.get("deletion_protection", False))
        self.created_at: str | None = meta.get("created_at")
        self._lock = threading.Lock()
        self._pool = ConnectionPool(self._open)
        self._views: OrderedDict[str, View] = OrderedDict()
        self._verified: dict[str, set] = {}  # incarnation folder -> segments whose checksum matched
        self._current: dict[str, Path] = {}  # namespace -> its incarnation folder, last seen
        self._read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        if not self._read_only:
            for old in (folder / ".trash").glob("*"):  # leftovers of deletes that were interrupted
                shutil.rmtree(old, ignore_errors=True)

    # -- paths and connections ------------------------------------------------------------------
    def _slot(self, namespace: str) -> Path:
        return inside(self.folder, self.folder / "ns" / encode_namespace(namespace),
                      f"folder of namespace '{namespace}'")

    def namespace_folder(self, namespace: str) -> Path | None:
        """Where the namespace's files live now (None when it does not exist): for tools and tests."""
        check_namespace(namespace)
        return self._incarnation(namespace)

    def _incarnation(self, namespace: str) -> Path | None:
        """The namespace's current incarnation folder, checked with one stat when cached."""
        cached = self._current.get(namespace)
        if cached is not None and os.path.exists(cached):
            return cached  # an incarnation path is never reused, so if it exists it is current
        found = find_incarnation(self._slot(namespace))
        if found is None:
            self._current.pop(namespace, None)
        else:
            self._current[namespace] = found
        return found

    def _open(self, folder: Path, create: bool = False) -> sqlite3.Connection:
        db = folder / "meta.sqlite"
        if self._read_only:
            return read_only_connection(db)
        if create:
            conn = sqlite3.connect(db, timeout=30, isolation_level=None, check_same_thread=False)
        else:  # never create a file while reading
            uri = f"file:{urllib.parse.quote(str(db))}?mode=rw"
            conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def _connection(self, folder: Path) -> Iterator[sqlite3.Connection]:
        """A pooled connection to one incarnation; its damage is IndexDamagedError."""
        try:
            with self._pool.connection(folder) as conn:
                yield conn
        except sqlite3.DatabaseError as exc:
            raise self._db_error(folder, exc) from None

    def _db_error(self, folder: Path, exc: sqlite3.DatabaseError) -> Exception:
        """Corruption or a lost meta.sqlite as IndexDamagedError; anything else (locked, moved) as it was."""
        db = folder / "meta.sqlite"
        namespace = self._namespace_of(folder)
        if type(exc) is sqlite3.DatabaseError:  # "file is not a database", "disk image is malformed"
            return meta_damaged(db, namespace, str(exc))
        if isinstance(exc, sqlite3.OperationalError) and folder.is_dir() and not db.exists():
            return meta_damaged(db, namespace, "missing")
        return exc

    def _namespace_of(self, folder: Path) -> str:
        for namespace, current in list(self._current.items()):
            if current == folder:
                return namespace
        try:
            return (folder.parent / "name").read_text()
        except (OSError, UnicodeDecodeError):
            return urllib.parse.unquote(folder.parent.name)

    def _drop(self, namespace: str, folder: Path | None) -> None:
        """Forget cached state of a namespace incarnation that went away."""
        with self._lock:
            self._views.pop(namespace, None)
            self._verified.pop(str(folder), None)
        self._pool.close(folder)
        if self._current.get(namespace) == folder:
            self._current.pop(namespace, None)

    # -- slab files (core/vectors/slabs.py) -----------------------------------------------------
    def _append(self, folder: Path, slab: int, committed_rows: int, block: np.ndarray) -> None:
        slabs.append(folder, slab, committed_rows, block)

    def _intact(self, folder: Path, slab: int, rows: int) -> bool:
        return slabs.intact(folder, slab, rows, self.dimension)

    def _map(self, folder: Path, slab: int, rows: int, live: bool = True) -> np.ndarray:
        return slabs.map_rows(folder, slab, rows, self.dimension, self._namespace_of, live)

    # -- the writer lock ------------------------------------------------------------------------
    @contextmanager
    def _writer(self, namespace: str, create: bool, check_owner: bool = True) -> Iterator[Path | None]:
        """Hold the namespace's writer lock; yields its incarnation folder (None if absent and not created).

        check_owner=False trusts the slot's name file instead of meta.sqlite (which may be damaged)."""
        check_namespace(namespace)
        slot = self._slot(namespace)  # on a read-only disk the OSError below reaches core.storage's message
        with slot_lock(slot, create, self.name) as held:
            folder = find_incarnation(slot) if held else None
            if folder is None and create:
                folder = create_incarnation(slot, namespace, lambda tmp: self._open(tmp, create=True))
            elif folder is not None and check_owner:
                with self._connection(folder) as conn:
                    writer.check_owner(conn, folder, namespace, self.name)
                self._ensure_layout(folder)
            elif folder is not None:
                check_name_file(slot, namespace, self.name)
            yield folder

    def _ensure_layout(self, folder: Path) -> None:
        """Upgrade a namespace written with an older layout, in one transaction (writer lock held)."""
        with self._connection(folder) as conn:
            if layout.version(conn) >= layout.VERSION:
                return
            with write_transaction(conn):
                layout.upgrade(conn, lambda slab, rows: self._map(folder, slab, rows)
                               if self._intact(folder, slab, rows) else None)

    # -- writes ---------------------------------------------------------------------------------
    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> int:
        check_namespace(namespace)
        ids, matrix, metadata = prepare(namespace, records, self.dimension, self.metric, self.check_dimension)
        if not ids:
            return 0
        lexical_rows = lexical.rows((vid, json.loads(m)) for vid, m in zip(ids, metadata))
        with self._writer(namespace, create=True) as folder, self._connection(folder) as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            next_slab = int(meta["next_slab"])
            last = conn.execute("SELECT slab, rows FROM slabs ORDER BY slab DESC LIMIT 1").fetchone()
            per_slab = slabs.SLAB_ROWS
            slab, rows = last if last and last[1] < per_slab and self._intact(folder, *last) else (None, 0)
            placed_slab = np.empty(len(ids), dtype=np.int64)
            placed_row = np.empty(len(ids), dtype=np.int64)
            slab_rows: dict[int, int] = {}
            appended = []
            start = 0
            while start < len(ids):
                if slab is None or rows >= per_slab:
                    slab, rows, next_slab = next_slab, 0, next_slab + 1
                take = min(per_slab - rows, len(ids) - start)
                self._append(folder, slab, rows, matrix[start : start + take])
                appended.append((slab, rows, matrix[start : start + take]))
                placed_slab[start : start + take] = slab
                placed_row[start : start + take] = np.arange(rows, rows + take)
                rows += take
                slab_rows[slab] = rows
                start += take
            with write_transaction(conn):
                conn.executemany("INSERT OR REPLACE INTO slabs (slab, rows) VALUES (?, ?)", slab_rows.items())
                conn.execute("UPDATE meta SET value=? WHERE key='next_slab'", (str(next_slab),))
                layout.record(conn, appended, lambda slab, first, n: self._map(folder, slab, first + n)[first:])
                layout.retire(conn, ids)  # the rows these ids leave
                conn.executemany(
                    "INSERT OR REPLACE INTO vectors (id, slab, row, metadata) VALUES (?, ?, ?, ?)",
                    zip(ids, placed_slab.tolist(), placed_row.tolist(), metadata),
                )
                self._write_lexical(conn, lexical_rows)
            self._maybe_compact(folder, conn)
        return len(ids)

    def delete(self, namespace: str, ids: Iterable[str]) -> None:
        check_namespace(namespace)
        ids = list(dict.fromkeys(ids))
        for vid in ids:
            if not isinstance(vid, str):
                raise InvalidArgumentError(f"delete from namespace '{namespace}': id {vid!r} is not a string")
        if not ids:
            return
        with self._writer(namespace, create=False) as folder:
            if folder is None:
                return
            with self._connection(folder) as conn:
                with write_transaction(conn):
                    layout.retire(conn, ids)  # before their rows go
                    execute_in(conn, "DELETE FROM vectors WHERE id IN ({marks})", ids)
                    self._remove_lexical(conn, ids)
                self._maybe_compact(folder, conn)

    # -- the lexical index (core/lexical.py): rows written in the vectors' own transactions ---------
    @staticmethod
    def _write_lexical(conn: sqlite3.Connection, rows: list) -> None:
        lexical.ensure(conn)  # a namespace from before the lexical index, or an older version: rebuild
        lexical.write(conn, rows)

    @staticmethod
    def _remove_lexical(conn: sqlite3.Connection, ids: list[str]) -> None:
        if lexical.current(conn):  # otherwise the next write rebuilds it from the vectors
            lexical.remove(conn, ids)

    def ensure_lexical(self, namespace: str, rebuild: bool = False) -> bool:
        """Build the namespace's lexical index if it predates it (rebuild: also when it is current
        but out of step with the vectors, `lightfast doctor --repair`); True if it was built."""
        with self._writer(namespace, create=False) as folder:
            if folder is None:
                return False
            with self._connection(folder) as conn:
                if lexical.current(conn) and not rebuild:
                    return False
                with write_transaction(conn):
                    return lexical.ensure(conn, rebuild)

    def lexical_out_of_step(self, namespace: str) -> str | None:
        """What disagrees between the namespace's lexical rows and its vectors (None: in step)."""
        with self._snapshot(namespace) as snap:
            return lexical.out_of_step(snap[0]) if snap is not None else None

    def lexical_query(self, namespace: str, text: str, top_k: int) -> list[Match] | None:
        """BM25 matches of the query's terms, best first; None when the namespace has no lexical
        index yet (written by an older version: the next ingest builds it)."""
        check_namespace(namespace)
        if not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise InvalidArgumentError(f"lexical query of namespace '{namespace}': top_k must be at least 1, "
                                       f"got {top_k!r}")
        with self._snapshot(namespace) as snap:
            if snap is None:
                return []
            conn = snap[0]
            if not lexical.current(conn):
                return None
            found = lexical.search(conn, text, int(top_k))
            metadata = lexical.metadata(conn, [vid for vid, _ in found])
            return [Match(vid, score, metadata[vid]) for vid, score in found if vid in metadata]

    def delete_namespace(self, namespace: str) -> None:
        """Works also when the namespace's meta.sqlite is damaged: only its folder is needed."""
        with self._writer(namespace, create=False, check_owner=False) as folder:
            if folder is None:
                return
            trash = self.folder / ".trash"
            trash.mkdir(exist_ok=True)
            target = trash / uuid.uuid4().hex
            os.rename(self._slot(namespace), target)  # the one step that empties the namespace
        self._drop(namespace, folder)
        shutil.rmtree(target, ignore_errors=True)

    # -- compaction (core/vectors/compaction.py) ------------------------------------------------
    def compact(self, namespace: str) -> None:
        """Rewrite live rows into fresh slabs and remove dead rows and orphan slab files."""
        with self._writer(namespace, create=False) as folder:
            if folder is not None:
                with self._connection(folder) as conn:
                    self._compact_locked(folder, conn)

    def _maybe_compact(self, folder: Path, conn: sqlite3.Connection) -> None:
        if compaction.worth_it(conn):
            try:
                self._compact_locked(folder, conn)
            except IndexDamagedError:
                pass  # a damaged slab with live rows: reads say so and name the command; never fail a write

    def _compact_locked(self, folder: Path, conn: sqlite3.Connection) -> None:
        compaction.compact(folder, conn, self.dimension, lambda slab, rows: self._map(folder, slab, rows),
                           self._append, lambda segment: checksum_error(folder, self._namespace_of(folder), segment))

    # -- reads ----------------------------------------------------------------------------------
    @contextmanager
    def _snapshot(self, namespace: str, view: bool = True) -> Iterator[tuple[sqlite3.Connection, View | None] | None]:
        """A read transaction on the namespace and its view at that generation (None when empty).

        view=False skips the view (for reads of meta.sqlite alone). Compaction or a namespace
        delete may move files under a reader; then it looks again. A namespace of an older
        layout is upgraded first (once, by whichever process opens it first).
        """
        check_namespace(namespace)
        last: BaseException | None = None  # why the last attempt looked again: the error's cause
        for attempt in range(5):
            folder = self._incarnation(namespace)
            if folder is None:
                with self._lock:
                    self._views.pop(namespace, None)
                yield None
                return
            yielded = False
            try:
                with self._connection(folder) as conn:
                    conn.execute("BEGIN")
                    try:
                        found = self._view(namespace, folder, conn) if view else None
                        yielded = True
                        yield conn, found
                        return
                    finally:
                        conn.execute("COMMIT")
            except _Outdated:
                with self._writer(namespace, create=False):
                    pass  # the writer lock upgrades the layout (LocalIndex._ensure_layout)
                continue
            except (FileNotFoundError, sqlite3.DatabaseError) as exc:
                if yielded:
                    raise
                if attempt >= 2 and os.path.exists(folder / "meta.sqlite"):
                    if isinstance(exc, FileNotFoundError) and str(exc.filename or "").endswith(".f32"):
                        raise rows_damaged(Path(exc.filename), namespace, "is missing") from None
                    raise
                last = exc
                self._drop(namespace, folder)  # moved under us: look again
                time.sleep(0.002 * attempt)
        raise ConcurrentChangeError(f"namespace '{namespace}' of index '{self.name}' kept changing while being read"
                                    + (f" (last: {last.__class__.__name__}: {last})" if last else "")) from last

    def _view(self, namespace: str, folder: Path, conn: sqlite3.Connection) -> View:
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('uid', 'generation', 'name')").fetchall())
        if meta.get("name") != namespace:
            raise NamespaceFolderError(f"namespace folder {folder} belongs to {meta.get('name')!r}, not {namespace!r}")
        key = (meta["uid"], int(meta["generation"]))
        with self._lock:
            cached = self._views.get(namespace)
            if cached is not None and cached.key == key:
                self._views.move_to_end(namespace)
                return cached
        version = layout.version(conn)
        if version < layout.VERSION and not self._read_only:
            raise _Outdated  # a read-only disk reads the old layout as it is (slower, unverified)
        view = build_view(conn, key, folder, namespace, version,
                          lambda slab, rows, live: self._map(folder, slab, rows, live=live),
                          self._verified.setdefault(str(folder), set()), self.metric)
        with self._lock:
            self._views[namespace] = view
            while len(self._views) > _VIEWS:
                self._views.popitem(last=False)
        return view

    def query(self, namespace: str, vector: np.ndarray, top_k: int,
              filter: dict[str, Any] | None = None) -> list[Match]:
        check_namespace(namespace)
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        self.check_dimension(q.shape[0], f"query of namespace '{namespace}'")
        if not np.isfinite(q).all():
            raise InvalidArgumentError(f"query of namespace '{namespace}': the vector must be finite "
                                       "(no NaN or infinity)")
        if not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise InvalidArgumentError(f"query of namespace '{namespace}': top_k must be at least 1, got {top_k!r}")
        if self.metric == "cosine":
            norm = np.linalg.norm(q)
            q = q / norm if norm else q
        with self._snapshot(namespace) as snap:
            if snap is None:
                return []
            conn, view = snap
            if view.live_count == 0:
                return []
            keep = keep_mask(view, conn, filter, self._lock) if filter else None
            candidates = int(keep.sum()) if keep is not None else view.live_count
            if candidates == 0:
                return []
            found_scores = scan.scores(view, q, self.metric)
            chosen = scan.best(view, found_scores, keep, top_k, candidates, self.metric)
            found = scan.rows_at(conn, view, chosen)
            return [Match(found[i][0], float(found_scores[i]), found[i][1]) for i in chosen]

    def fetch(self, namespace: str, ids: Sequence[str]) -> dict[str, VectorRecord]:
        check_namespace(namespace)
        wanted = [i for i in dict.fromkeys(ids) if isinstance(i, str)]
        if not wanted:
            return {}
        with self._snapshot(namespace) as snap:
            if snap is None:
                return {}
            conn, view = snap
            out: dict[str, VectorRecord] = {}
            sql = "SELECT id, slab, row, metadata FROM vectors WHERE id IN ({marks})"
            for vid, slab, row, meta in execute_in(conn, sql, wanted):
                values = np.array(view.blocks[view.slab_pos[slab]][row], dtype=np.float32)
                if not np.isfinite(values).all():
                    raise rows_damaged(slabs.slab_path(view.folder, slab), namespace,
                                       f"row {row} of id '{vid}' holds NaN or infinite values")
                out[vid] = VectorRecord(vid, values, json.loads(meta))
            return {vid: out[vid] for vid in wanted if vid in out}

    def namespace_stats(self, namespace: str) -> NamespaceStats:
        check_namespace(namespace)
        for _ in range(3):
            folder = self._incarnation(namespace)
            if folder is None:
                return NamespaceStats(namespace, 0)
            try:
                with self._connection(folder) as conn:
                    return NamespaceStats(namespace, conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
            except sqlite3.OperationalError:
                self._drop(namespace, folder)  # deleted under us: look again
        return NamespaceStats(namespace, 0)

    def list_namespaces(self, prefix: str | None = None) -> list[NamespaceStats]:
        out = []
        try:
            slots = os.listdir(self.folder / "ns")
        except FileNotFoundError:
            return []
        for entry in slots:
            slot = self.folder / "ns" / entry
            if entry.startswith("~"):
                try:
                    name = (slot / "name").read_text()
                except FileNotFoundError:
                    continue
            else:
                name = urllib.parse.unquote(entry)
            if prefix and not name.startswith(prefix):
                continue
            count = self.namespace_stats(name).vector_count
            if count:
                out.append(NamespaceStats(name, count))
        return sorted(out, key=lambda s: s.namespace)

    def list_ids(self, namespace: str, prefix: str | None = None, limit: int = 100,
                 pagination_token: str | None = None) -> tuple[list[str], str | None]:
        check_namespace(namespace)
        if not isinstance(limit, int) or limit < 1:
            raise InvalidArgumentError(f"list_ids of namespace '{namespace}': limit must be at least 1, got {limit!r}")
        sql, params = "SELECT id FROM vectors WHERE id > ?", [pagination_token or ""]
        if prefix:
            sql += " AND id >= ? AND id < ?"
            params += [prefix, prefix + "\U0010ffff"]  # ids are ASCII: this bounds every id starting with prefix
        sql += " ORDER BY id LIMIT ?"
        params.append(limit + 1)
        with self._snapshot(namespace, view=False) as snap:
            if snap is None:
                return [], None
            ids = [r[0] for r in snap[0].execute(sql, params)]
        more = len(ids) > limit
        ids = ids[:limit]
        return ids, (ids[-1] if more else None)
