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

Scores follow Pinecone: cosine and dotproduct are similarities (higher first);
euclidean is the squared distance (lower first). Cosine indexes store
L2-normalised vectors, so `fetch` returns them normalised.
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
import urllib.parse
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from core import lexical
from core.errors import (
    ConcurrentChangeError, DeletionProtectedError, DimensionMismatchError, IndexDamagedError, InvalidArgumentError,
    MetricMismatchError, NamespaceFolderError, NotFoundError,
)
from core.vectors.damage import meta_damaged as _meta_damaged
from core.vectors.damage import read_index_json as _read_index_json
from core.vectors.damage import rows_damaged as _rows_damaged
from core.vectors import layout
from core.storage import read_only_connection
from core.vectors.base import IndexSpec, Match, NamespaceStats, VectorBackend, VectorIndex, VectorRecord
from core.vectors.filters import matches

SLAB_ROWS = 65_536  # rows per slab file
MAX_ID = 512
MAX_NAMESPACE = 512
COMPACT_MIN_DEAD = 1_024  # compaction runs when dead rows exceed live rows and this
METRICS = ("cosine", "dotproduct", "euclidean")
SCHEMA_VERSION = 2  # 2: checksums, dead-row bitmaps and the (slab, row) index of core/vectors/layout.py

_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")  # lowercase only: case-insensitive file systems
_MAX_SLOT = 200  # longest encoded slot name before falling back to a hash (NAME_MAX is 255)
_INDEX_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?")  # Pinecone's rule, as core/config.py
_IDLE_CONNECTIONS = 32  # pooled SQLite connections kept per index
_VIEWS = 64  # namespaces whose memory maps stay cached per index
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE slabs (slab INTEGER PRIMARY KEY, rows INTEGER NOT NULL);
CREATE TABLE vectors (id TEXT PRIMARY KEY, slab INTEGER NOT NULL, row INTEGER NOT NULL, metadata TEXT NOT NULL);
"""


# -- names -------------------------------------------------------------------------------------------

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


def _check_id(namespace: str, vid: Any) -> None:
    if not isinstance(vid, str) or not 1 <= len(vid) <= MAX_ID or not vid.isascii() or "\0" in vid:
        raise InvalidArgumentError(
            f"invalid vector id {vid!r} in namespace '{namespace}': 1 to {MAX_ID} ASCII characters, no NUL"
        )


def _check_index_name(name: Any) -> None:
    if not isinstance(name, str) or not _INDEX_NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"invalid index name {name!r}: 1 to 45 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit (Pinecone's rule)"
        )


def _inside(base: Path, path: Path, what: str) -> Path:
    """path, refused unless it resolves (symlinks followed) to a place under base."""
    resolved_base = base.resolve()
    if not path.resolve().is_relative_to(resolved_base):
        raise NamespaceFolderError(
            f"{what} {path} resolves to {path.resolve()}, outside {resolved_base}; "
            "a symlink there points out of the data dir: remove it"
        )
    return path


# -- small file helpers ------------------------------------------------------------------------------

def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _slab_path(folder: Path, slab: int) -> Path:
    return folder / f"slab-{slab:06d}.f32"


def _slab_number(path: Path) -> int | None:
    try:
        return int(path.stem.split("-")[1])
    except (IndexError, ValueError):
        return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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
        _check_index_name(name)
        return _inside(self.root, self.root / name, f"index folder of '{name}'")

    def index_exists(self, name: str) -> bool:
        return (self._folder(name) / "index.json").is_file()

    def create_index(self, spec: IndexSpec) -> None:
        if spec.metric not in METRICS:
            raise InvalidArgumentError(f"index '{spec.name}': unknown metric {spec.metric!r}; use one of {', '.join(METRICS)}")
        if not isinstance(spec.dimension, int) or spec.dimension < 1:
            raise InvalidArgumentError(f"index '{spec.name}': dimension must be a positive integer, got {spec.dimension!r}")
        folder = self._folder(spec.name)
        (folder / "ns").mkdir(parents=True, exist_ok=True)
        meta = {
            "name": spec.name, "dimension": spec.dimension, "metric": spec.metric, "tags": dict(spec.tags),
            "deletion_protection": bool(spec.deletion_protection), "created_at": _now(), "format": 1,
        }
        tmp = folder / f".index.json.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
        try:
            os.link(tmp, folder / "index.json")  # first creator wins, atomically
            _fsync_dir(folder)
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
            meta = _read_index_json(folder)
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
                _write_atomic(folder / "index.json", json.dumps({**meta, **wanted}, indent=2) + "\n")
        finally:
            os.close(lock_fd)

    def list_indexes(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()
                      if not p.name.startswith(".") and (p / "index.json").is_file())

    def delete_index(self, name: str) -> None:
        folder = self._folder(name)
        try:
            meta = _read_index_json(folder)
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


# -- one index ---------------------------------------------------------------------------------------

class _Outdated(Exception):
    """The namespace has an older layout: upgrade it (under the writer lock) and read again."""


@dataclass
class _View:
    """A namespace's committed rows as of one generation: memory maps and a live mask.

    Positions number the rows of all slabs in slab order; ids are looked up only for hits."""

    key: tuple[str, int]  # (incarnation uid, generation)
    blocks: list[np.ndarray]  # one (rows, dim) memory map per slab, in slab order
    slabs: list[int]  # slab number of each block
    slab_pos: dict[int, int]  # slab number -> position in blocks
    starts: np.ndarray  # position of each block's first row
    live: np.ndarray  # bool per position: some id points at the row
    dead: np.ndarray  # positions of dead rows
    live_count: int
    folder: Path  # the incarnation folder, to name a damaged slab
    namespace: str
    sqnorms: np.ndarray | None = None  # euclidean only
    filter_rows: tuple[np.ndarray, list[dict]] | None = None  # (positions, metadata), for filtered queries
    masks: OrderedDict = field(default_factory=OrderedDict)  # filter json -> keep mask

    def block_of(self, slab: int) -> np.ndarray:
        return self.blocks[self.slab_pos[slab]]

    def live_of(self, slab: int) -> np.ndarray:
        """The live mask of one slab's rows (empty for a slab this view does not hold)."""
        if slab not in self.slab_pos:
            return self.live[:0]
        start = int(self.starts[self.slab_pos[slab]])
        return self.live[start : start + len(self.block_of(slab))]

    def place(self, position: int) -> tuple[int, int]:
        """(slab, row) of a position; searching from the right skips empty slabs."""
        block = int(np.searchsorted(self.starts, position, side="right")) - 1
        return self.slabs[block], int(position - self.starts[block])

    def slab_file(self, position: int) -> Path:
        """The slab file holding the row at this position of the view."""
        return _slab_path(self.folder, self.place(position)[0])


class LocalIndex(VectorIndex):
    """One shared index. Thread-safe; several processes may read and write it at once."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        try:
            meta = _read_index_json(folder)
        except FileNotFoundError:
            raise NotFoundError(f"local index at {folder} does not exist") from None
        self.folder = folder
        self.name: str = meta["name"]
        self.dimension: int = int(meta["dimension"])
        self.metric: str = meta.get("metric", "cosine")
        self.tags: dict[str, str] = meta.get("tags", {})
        self.deletion_protection: bool = bool(meta.get("deletion_protection", False))
        self.created_at: str | None = meta.get("created_at")
        self._row_bytes = self.dimension * 4
        self._lock = threading.Lock()
        self._idle: OrderedDict[str, list[sqlite3.Connection]] = OrderedDict()
        self._idle_count = 0
        self._views: OrderedDict[str, _View] = OrderedDict()
        self._verified: dict[str, set] = {}  # incarnation folder -> segments whose checksum matched
        self._current: dict[str, Path] = {}  # namespace -> its incarnation folder, last seen
        self._pid = os.getpid()
        self._read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        if not self._read_only:
            for old in (folder / ".trash").glob("*"):  # leftovers of deletes that were interrupted
                shutil.rmtree(old, ignore_errors=True)

    # -- paths and connections ------------------------------------------------------------------
    def _slot(self, namespace: str) -> Path:
        return _inside(self.folder, self.folder / "ns" / encode_namespace(namespace), f"folder of namespace '{namespace}'")

    @staticmethod
    def _find_incarnation(slot: Path) -> Path | None:
        try:
            found = [e for e in os.listdir(slot) if e.startswith("d-")]
        except (FileNotFoundError, NotADirectoryError):
            return None
        if len(found) > 1:
            raise NamespaceFolderError(f"namespace folder {slot} holds {len(found)} incarnations; expected one")
        return slot / found[0] if found else None

    def namespace_folder(self, namespace: str) -> Path | None:
        """Where the namespace's files live now (None when it does not exist): for tools and tests."""
        check_namespace(namespace)
        return self._incarnation(namespace)

    def _incarnation(self, namespace: str) -> Path | None:
        """The namespace's current incarnation folder, checked with one stat when cached."""
        cached = self._current.get(namespace)
        if cached is not None and os.path.exists(cached):
            return cached  # an incarnation path is never reused, so if it exists it is current
        found = self._find_incarnation(self._slot(namespace))
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
        """Borrow a pooled connection to one incarnation (threads share the pool, never a connection)."""
        if self._pid != os.getpid():  # forked: connections must not cross a fork, so abandon them
            with self._lock:
                self._idle, self._idle_count, self._pid = OrderedDict(), 0, os.getpid()
        key = str(folder)
        conn = None
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                conn = idle.pop()
                self._idle_count -= 1
        try:
            if conn is None:
                conn = self._open(folder)
            try:
                yield conn
            finally:
                if conn.in_transaction:  # interrupted half-way: never hand that on
                    conn.close()
                else:
                    self._give_back(key, conn)
        except sqlite3.DatabaseError as exc:
            raise self._db_error(folder, exc) from None

    def _db_error(self, folder: Path, exc: sqlite3.DatabaseError) -> Exception:
        """Corruption or a lost meta.sqlite as IndexDamagedError; anything else (locked, moved) as it was."""
        db = folder / "meta.sqlite"
        namespace = self._namespace_of(folder)
        if type(exc) is sqlite3.DatabaseError:  # "file is not a database", "disk image is malformed"
            return _meta_damaged(db, namespace, str(exc))
        if isinstance(exc, sqlite3.OperationalError) and folder.is_dir() and not db.exists():
            return _meta_damaged(db, namespace, "missing")
        return exc

    def _namespace_of(self, folder: Path) -> str:
        for namespace, current in list(self._current.items()):
            if current == folder:
                return namespace
        try:
            return (folder.parent / "name").read_text()
        except (OSError, UnicodeDecodeError):
            return urllib.parse.unquote(folder.parent.name)

    def _give_back(self, key: str, conn: sqlite3.Connection) -> None:
        closing = []
        with self._lock:
            self._idle.setdefault(key, []).append(conn)
            self._idle.move_to_end(key)
            self._idle_count += 1
            while self._idle_count > _IDLE_CONNECTIONS:
                _, conns = next(iter(self._idle.items()))
                closing.append(conns.pop(0))
                self._idle_count -= 1
                if not conns:
                    self._idle.popitem(last=False)
        for c in closing:
            c.close()

    def _drop(self, namespace: str, folder: Path | None) -> None:
        """Forget cached state of a namespace incarnation that went away."""
        with self._lock:
            self._views.pop(namespace, None)
            conns = self._idle.pop(str(folder), []) if folder is not None else []
            self._idle_count -= len(conns)
            self._verified.pop(str(folder), None)
        if self._current.get(namespace) == folder:
            self._current.pop(namespace, None)
        for c in conns:
            c.close()

    # -- the writer lock ------------------------------------------------------------------------
    @contextmanager
    def _writer(self, namespace: str, create: bool, check_owner: bool = True) -> Iterator[Path | None]:
        """Hold the namespace's writer lock; yields its incarnation folder (None if absent and not created).

        check_owner=False trusts the slot's name file instead of meta.sqlite (which may be damaged)."""
        check_namespace(namespace)
        slot = self._slot(namespace)  # on a read-only disk the OSError below reaches core.storage's message
        while True:
            if create:
                try:
                    slot.mkdir(exist_ok=True)
                except FileNotFoundError:
                    raise NotFoundError(f"local index '{self.name}' was deleted (no {self.folder / 'ns'})") from None
            try:
                fd = os.open(slot / "lock", os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
            except (FileNotFoundError, NotADirectoryError):
                if create:
                    continue  # the slot was renamed away between mkdir and open
                yield None
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:  # a delete may have renamed the slot while we waited: then start over
                    same = os.stat(slot / "lock").st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    continue
                for leftover in slot.glob("tmp-*"):  # a creator killed half-way
                    shutil.rmtree(leftover, ignore_errors=True)
                folder = self._find_incarnation(slot)
                if folder is None and create:
                    folder = self._create_incarnation(slot, namespace)
                elif folder is not None and check_owner:
                    self._check_owner(folder, namespace)
                    self._ensure_layout(folder)
                elif folder is not None:
                    self._check_name_file(slot, namespace)
                yield folder
                return
            finally:
                os.close(fd)

    def _create_incarnation(self, slot: Path, namespace: str) -> Path:
        uid = uuid.uuid4().hex
        tmp = slot / f"tmp-{uid}"
        tmp.mkdir()
        conn = self._open(tmp, create=True)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            for statement in layout.SCHEMA:
                conn.execute(statement)
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("name", namespace), ("uid", uid), ("generation", "0"), ("next_slab", "1"), ("created_at", _now()),
            ])
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            lexical.ensure(conn)  # the word index from the start, its schema written before the rename
        finally:
            conn.close()  # closed before the rename, so no connection knows the tmp path
        _write_atomic(slot / "name", namespace)
        final = slot / f"d-{uid}"
        os.rename(tmp, final)
        _fsync_dir(slot)
        return final

    def _check_name_file(self, slot: Path, namespace: str) -> None:
        try:
            name = (slot / "name").read_text()
        except (OSError, UnicodeDecodeError):
            name = None if slot.name.startswith("~") else urllib.parse.unquote(slot.name)
        if name != namespace:
            raise NamespaceFolderError(f"namespace folder {slot.name} of index '{self.name}' belongs to {name!r}, not {namespace!r}")

    def _check_owner(self, folder: Path, namespace: str) -> None:
        with self._connection(folder) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key='name'").fetchone()
        if row is None or row[0] != namespace:
            raise NamespaceFolderError(
                f"namespace folder {folder.parent.name} of index '{self.name}' belongs to "
                f"{row[0] if row else '?'!r}, not {namespace!r}"
            )

    def _ensure_layout(self, folder: Path) -> None:
        """Upgrade a namespace written with an older layout, in one transaction (writer lock held)."""
        with self._connection(folder) as conn:
            if layout.version(conn) >= layout.VERSION:
                return
            with self._write_transaction(conn):
                layout.upgrade(conn, lambda slab, rows: self._map(folder, slab, rows)
                               if self._intact(folder, slab, rows) else None)

    @contextmanager
    def _write_transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        """One write transaction that also bumps the generation readers cache by."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- writes ---------------------------------------------------------------------------------
    def _prepare(self, namespace: str, records: Sequence[VectorRecord]) -> tuple[list[str], np.ndarray, list[str]]:
        """Validate everything before touching a file; within one call the last record of an id wins."""
        latest: dict[str, VectorRecord] = {}
        for record in records:
            _check_id(namespace, record.id)
            latest[record.id] = record
        ids = list(latest)
        matrix = np.empty((len(ids), self.dimension), dtype=np.float32)
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
            self.check_dimension(values.shape[0], where)
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
        if self.metric == "cosine":
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            matrix /= np.where(norms == 0, 1, norms)
        return ids, matrix, metadata

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> int:
        check_namespace(namespace)
        ids, matrix, metadata = self._prepare(namespace, records)
        if not ids:
            return 0
        lexical_rows = lexical.rows((vid, json.loads(m)) for vid, m in zip(ids, metadata))
        with self._writer(namespace, create=True) as folder, self._connection(folder) as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            next_slab = int(meta["next_slab"])
            last = conn.execute("SELECT slab, rows FROM slabs ORDER BY slab DESC LIMIT 1").fetchone()
            slab, rows = last if last and last[1] < SLAB_ROWS and self._intact(folder, *last) else (None, 0)
            placed_slab = np.empty(len(ids), dtype=np.int64)
            placed_row = np.empty(len(ids), dtype=np.int64)
            slab_rows: dict[int, int] = {}
            appended = []
            start = 0
            while start < len(ids):
                if slab is None or rows >= SLAB_ROWS:
                    slab, rows, next_slab = next_slab, 0, next_slab + 1
                take = min(SLAB_ROWS - rows, len(ids) - start)
                self._append(folder, slab, rows, matrix[start : start + take])
                appended.append((slab, rows, matrix[start : start + take]))
                placed_slab[start : start + take] = slab
                placed_row[start : start + take] = np.arange(rows, rows + take)
                rows += take
                slab_rows[slab] = rows
                start += take
            with self._write_transaction(conn):
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

    def _append(self, folder: Path, slab: int, committed_rows: int, block: np.ndarray) -> None:
        """Write block after the committed rows, dropping any bytes a killed writer left there."""
        path = _slab_path(folder, slab)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            offset = committed_rows * self._row_bytes
            os.ftruncate(fd, offset)
            data = memoryview(np.ascontiguousarray(block, dtype=np.float32)).cast("B")
            while data:
                written = os.pwrite(fd, data, offset)
                data, offset = data[written:], offset + written
            os.fsync(fd)
        finally:
            os.close(fd)
        if committed_rows == 0:
            _fsync_dir(folder)  # a new file: make its name durable too

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
                with self._write_transaction(conn):
                    for start in range(0, len(ids), 500):
                        chunk = ids[start : start + 500]
                        layout.retire(conn, chunk)
                        conn.execute(f"DELETE FROM vectors WHERE id IN ({','.join('?' * len(chunk))})", chunk)
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
                with self._write_transaction(conn):
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
            raise InvalidArgumentError(f"lexical query of namespace '{namespace}': top_k must be at least 1, got {top_k!r}")
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

    def compact(self, namespace: str) -> None:
        """Rewrite live rows into fresh slabs and remove dead rows and orphan slab files."""
        with self._writer(namespace, create=False) as folder:
            if folder is not None:
                with self._connection(folder) as conn:
                    self._compact_locked(folder, conn)

    def _maybe_compact(self, folder: Path, conn: sqlite3.Connection) -> None:
        total = conn.execute("SELECT COALESCE(SUM(rows), 0) FROM slabs").fetchone()[0]
        live = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        dead = total - live
        if dead > live and dead >= COMPACT_MIN_DEAD:
            try:
                self._compact_locked(folder, conn)
            except IndexDamagedError:
                pass  # a damaged slab with live rows: reads say so and name the command; never fail a write

    def _compact_locked(self, folder: Path, conn: sqlite3.Connection) -> None:
        slabs = dict(conn.execute("SELECT slab, rows FROM slabs").fetchall())
        next_slab = int(conn.execute("SELECT value FROM meta WHERE key='next_slab'").fetchone()[0])
        rows = conn.execute("SELECT id, slab, row FROM vectors ORDER BY slab, row").fetchall()
        used = {r[1] for r in rows}  # slabs without live rows are not read (a damaged one may be short)
        maps = {s: self._map(folder, s, n) for s, n in slabs.items() if s in used}
        old_slab = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        old_row = np.fromiter((r[2] for r in rows), dtype=np.int64, count=len(rows))
        self._check_before_copy(folder, conn, slabs, old_slab, old_row, maps)
        new_slabs: dict[int, int] = {}
        new_segments = []
        updates = []
        for start in range(0, len(rows), SLAB_ROWS):
            stop = min(start + SLAB_ROWS, len(rows))
            block = np.empty((stop - start, self.dimension), dtype=np.float32)
            part_slab, part_row = old_slab[start:stop], old_row[start:stop]
            for s in np.unique(part_slab):
                where = part_slab == s
                block[where] = maps[int(s)][part_row[where]]
            slab, next_slab = next_slab, next_slab + 1
            self._append(folder, slab, 0, block)
            new_slabs[slab] = stop - start
            new_segments.append((slab, 0, stop - start, layout.checksum(block)))
            updates.extend((slab, k, rows[start + k][0]) for k in range(stop - start))
        maps.clear()
        with self._write_transaction(conn):
            conn.execute("DELETE FROM slabs")
            conn.executemany("INSERT INTO slabs (slab, rows) VALUES (?, ?)", new_slabs.items())
            conn.executemany("UPDATE vectors SET slab=?, row=? WHERE id=?", updates)
            conn.execute("UPDATE meta SET value=? WHERE key='next_slab'", (str(next_slab),))
            layout.rewrite(conn, new_segments)
            if lexical.current(conn):
                lexical.prune(conn)
        for path in folder.glob("slab-*.f32"):  # the old slabs and orphans of killed writers
            if _slab_number(path) not in new_slabs:
                path.unlink(missing_ok=True)

    def _check_before_copy(self, folder: Path, conn: sqlite3.Connection, slabs: dict[int, int],
                           old_slab: np.ndarray, old_row: np.ndarray, maps: dict[int, np.ndarray]) -> None:
        """Compaction copies live rows under fresh checksums: check the old ones first, so it
        never launders damaged bytes into rows that look sound. Read from disk whatever this
        process trusted before: compaction reads every live row anyway."""
        live = {s: np.zeros(n, dtype=bool) for s, n in slabs.items()}
        for s in np.unique(old_slab):
            live[int(s)][old_row[old_slab == s]] = True
        bad = layout.first_mismatch(layout.segments(conn), maps.__getitem__,
                                    lambda s: live.get(s, np.zeros(0, dtype=bool)), set())
        if bad is not None:
            raise self._checksum_error(folder, self._namespace_of(folder), bad)

    def _checksum_error(self, folder: Path, namespace: str, segment: layout.Segment) -> IndexDamagedError:
        slab, start, rows, _ = segment
        return _rows_damaged(_slab_path(folder, slab), namespace,
                             f"rows {start} to {start + rows - 1} (written together) no longer match their "
                             "checksum: their bytes changed after they were written")

    def _intact(self, folder: Path, slab: int, rows: int) -> bool:
        try:
            return os.stat(_slab_path(folder, slab)).st_size >= rows * self._row_bytes
        except FileNotFoundError:
            return False

    def _map(self, folder: Path, slab: int, rows: int, live: bool = True) -> np.ndarray:
        """The slab's committed rows. A slab shorter than that is damage, unless none of its rows
        is live (then it reads as zeros: its rows are dead, e.g. after `ingest --full`)."""
        if rows == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        path = _slab_path(folder, slab)
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            if live:
                raise  # compaction may have replaced it under this reader: _snapshot looks again
            size = 0
        if size < rows * self._row_bytes:
            if not live:
                return np.broadcast_to(np.zeros(self.dimension, dtype=np.float32), (rows, self.dimension))
            raise _rows_damaged(path, self._namespace_of(folder),
                                f"holds {size // self._row_bytes} rows ({size:,} bytes) but its namespace "
                                f"committed {rows} ({rows * self._row_bytes:,} bytes); it was truncated")
        return np.asarray(np.memmap(path, dtype=np.float32, mode="r", shape=(rows, self.dimension)))

    # -- reads ----------------------------------------------------------------------------------
    @contextmanager
    def _snapshot(self, namespace: str, view: bool = True) -> Iterator[tuple[sqlite3.Connection, _View | None] | None]:
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
                        raise _rows_damaged(Path(exc.filename), namespace, "is missing") from None
                    raise
                last = exc
                self._drop(namespace, folder)  # moved under us: look again
                time.sleep(0.002 * attempt)
        raise ConcurrentChangeError(f"namespace '{namespace}' of index '{self.name}' kept changing while being read"
                                    + (f" (last: {last.__class__.__name__}: {last})" if last else "")) from last

    def _view(self, namespace: str, folder: Path, conn: sqlite3.Connection) -> _View:
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
        slabs = conn.execute("SELECT slab, rows FROM slabs ORDER BY slab").fetchall()
        live = layout.live_mask(conn, slabs, version)
        starts = np.cumsum([0] + [n for _, n in slabs], dtype=np.int64)[:-1]
        blocks = [self._map(folder, s, n, live=bool(live[o : o + n].any())) for (s, n), o in zip(slabs, starts)]
        live_count = int(live.sum())
        ids = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        if ids != live_count:
            raise _meta_damaged(folder / "meta.sqlite", namespace,
                                f"{ids} ids but {live_count} live rows: its dead-row bitmaps disagree with its ids")
        view = _View(key, blocks, [s for s, _ in slabs], {s: n for n, (s, _) in enumerate(slabs)}, starts, live,
                     np.flatnonzero(~live), live_count, folder, namespace)
        if version >= layout.VERSION:  # segments checked before, in this process, are not read again
            bad = layout.first_mismatch(layout.segments(conn), view.block_of, view.live_of,
                                        self._verified.setdefault(str(folder), set()))
            if bad is not None:
                raise self._checksum_error(folder, namespace, bad)
        if self.metric == "euclidean":
            view.sqnorms = np.concatenate([np.einsum("ij,ij->i", b, b) for b in blocks]) if blocks else np.zeros(0)
        with self._lock:
            self._views[namespace] = view
            while len(self._views) > _VIEWS:
                self._views.popitem(last=False)
        return view

    def _keep_mask(self, view: _View, conn: sqlite3.Connection, flt: dict[str, Any]) -> np.ndarray:
        """Rows that pass a metadata filter, cached per view and filter."""
        if not isinstance(flt, dict):
            raise InvalidArgumentError(f"a filter must be an object like {{'path': 'a.md'}}, got {flt!r}")
        try:
            fkey = json.dumps(flt, sort_keys=True)
        except (TypeError, ValueError):
            fkey = None
        if fkey is not None:
            with self._lock:
                cached = view.masks.get(fkey)
            if cached is not None:
                return cached
        if view.filter_rows is None:
            positions, metadata = [], []
            for slab, row, meta in conn.execute("SELECT slab, row, metadata FROM vectors"):
                positions.append(int(view.starts[view.slab_pos[slab]]) + row)
                metadata.append(json.loads(meta))
            view.filter_rows = (np.asarray(positions, dtype=np.int64), metadata)
        keep = np.zeros(len(view.live), dtype=bool)
        for pos, meta in zip(*view.filter_rows):
            if matches(meta, flt):
                keep[pos] = True
        if fkey is not None:
            with self._lock:
                view.masks[fkey] = keep
                while len(view.masks) > 16:
                    view.masks.popitem(last=False)
        return keep

    def query(self, namespace: str, vector: np.ndarray, top_k: int, filter: dict[str, Any] | None = None) -> list[Match]:
        check_namespace(namespace)
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        self.check_dimension(q.shape[0], f"query of namespace '{namespace}'")
        if not np.isfinite(q).all():
            raise InvalidArgumentError(f"query of namespace '{namespace}': the vector must be finite (no NaN or infinity)")
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
            keep = self._keep_mask(view, conn, filter) if filter else None
            candidates = int(keep.sum()) if keep is not None else view.live_count
            if candidates == 0:
                return []
            scores = self._scores(view, q)
            self._check_finite(view, scores)
            best = -scores if self.metric == "euclidean" else scores.copy()  # higher is better
            best[view.dead] = -np.inf
            if keep is not None:
                best[~keep] = -np.inf
            k = min(int(top_k), candidates)
            chosen = np.argpartition(-best, k - 1)[:k] if k < len(best) else np.arange(len(best))
            chosen = chosen[np.argsort(-best[chosen], kind="stable")]
            chosen = [int(i) for i in chosen if view.live[i] and (keep is None or keep[i])][:k]
            found = self._rows_at(conn, view, chosen)
            return [Match(found[i][0], float(scores[i]), found[i][1]) for i in chosen]

    @staticmethod
    def _check_finite(view: _View, scores: np.ndarray) -> None:
        """A live row scoring NaN or infinity holds bytes no upsert wrote (upserts refuse them)."""
        if np.isfinite(scores).all():
            return
        bad = ~np.isfinite(scores)
        bad[view.dead] = False
        rows = np.flatnonzero(bad)
        if len(rows):
            files = sorted({str(view.slab_file(int(r))) for r in rows[:100]})
            raise _rows_damaged(Path(files[0]), view.namespace,
                                f"{len(rows)} row{'s' * (len(rows) != 1)} hold{'s' * (len(rows) == 1)} NaN or "
                                f"infinite values" + (f" (also in {', '.join(files[1:])})" if len(files) > 1 else ""))

    def _scores(self, view: _View, q: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):  # damaged rows: _check_finite reports them
            return self._raw_scores(view, q)

    def _raw_scores(self, view: _View, q: np.ndarray) -> np.ndarray:
        if len(view.blocks) == 1:
            dots = view.blocks[0] @ q
        else:
            dots = np.empty(len(view.live), dtype=np.float32)
            start = 0
            for block in view.blocks:
                np.dot(block, q, out=dots[start : start + len(block)])
                start += len(block)
        if self.metric == "euclidean":
            return np.maximum(view.sqnorms - 2 * dots + float(q @ q), 0)
        return dots

    @staticmethod
    def _rows_at(conn: sqlite3.Connection, view: _View, positions: Sequence[int]) -> dict[int, tuple[str, dict]]:
        """position -> (id, metadata) of live rows, from the reader's snapshot (the place index)."""
        by_slab: dict[int, dict[int, int]] = {}
        where = np.asarray(positions, dtype=np.int64)
        blocks = np.searchsorted(view.starts, where, side="right") - 1  # as _View.place, for all at once
        for pos, block, row in zip(positions, blocks.tolist(), (where - view.starts[blocks]).tolist()):
            by_slab.setdefault(view.slabs[block], {})[row] = pos
        out: dict[int, tuple[str, dict]] = {}
        for slab, rows in by_slab.items():
            wanted = list(rows)
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                for row, vid, meta in conn.execute(
                    f"SELECT row, id, metadata FROM vectors WHERE slab=? AND row IN ({','.join('?' * len(chunk))})",
                    [slab, *chunk],
                ):
                    out[rows[row]] = (vid, json.loads(meta))
        missing = [pos for pos in positions if pos not in out]
        if missing:
            slab, row = view.place(missing[0])
            raise _meta_damaged(view.folder / "meta.sqlite", view.namespace,
                                f"row {row} of slab {slab} is marked live but no id points at it")
        return out

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
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                for vid, slab, row, meta in conn.execute(
                    f"SELECT id, slab, row, metadata FROM vectors WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ):
                    values = np.array(view.blocks[view.slab_pos[slab]][row], dtype=np.float32)
                    if not np.isfinite(values).all():
                        raise _rows_damaged(_slab_path(view.folder, slab), namespace,
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
