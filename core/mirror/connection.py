"""Opening the mirror: a connection per thread, write transactions, damage as an error.

Several processes (CLI, TUI, MCP server, watcher) share the file: WAL mode, a
busy timeout, and writes in BEGIN IMMEDIATE transactions.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import sqlite_utils

from core.errors import MirrorDamagedError
from core.locks import file_lock
from core.mirror.schema import migrations
from core.storage import read_only_connection

BUSY_TIMEOUT_S = 30.0


def _read_only_fs(folder: Path) -> bool:
    """True when folder lives on a file system mounted read-only."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def mirror_damaged(path: Path, problem: str) -> MirrorDamagedError:
    return MirrorDamagedError(
        f"{path}: {problem}: the mirror was damaged outside Lightfast; recover with "
        "`lightfast doctor --repair` (it moves the file aside and rebuilds the records from the index)"
    )


@contextmanager
def damage_as_error(path: Path) -> Iterator[None]:
    """A page SQLite cannot read ("malformed", "not a database") as MirrorDamagedError.

    Only the exact DatabaseError type: locked, busy, full or read-only files are
    OperationalErrors, which core.storage and the lock code handle.
    """
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if type(exc) is not sqlite3.DatabaseError:
            raise
        raise mirror_damaged(path, str(exc)) from None


class _CheckedConnection(sqlite3.Connection):
    """Every statement of the mirror reports damage as MirrorDamagedError, never a traceback."""

    mirror_path: Path

    def execute(self, *args):
        with damage_as_error(self.mirror_path):
            return super().execute(*args)

    def executemany(self, *args):
        with damage_as_error(self.mirror_path):
            return super().executemany(*args)

    def executescript(self, *args):
        with damage_as_error(self.mirror_path):
            return super().executescript(*args)


def move_aside(path: Path, stamp: str) -> Path:
    """Rename a damaged SQLite file (and its -wal/-shm) to `<name>.damaged-<stamp>`; returns the new path."""
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = path.with_name(path.name + suffix)
        if src.exists():
            os.replace(src, target.with_name(target.name + suffix))
    return target


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class MirrorConnection:
    """One SQLite file; a connection per thread; schema migrated on open. The parts of
    `Mirror` (one per job: core/mirror/*.py) build on this."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.read_only = False
        with damage_as_error(self.path):
            self._open()

    def _open(self) -> None:
        if self.path.exists() and not os.access(self.path.parent, os.W_OK) or _read_only_fs(self.path.parent):
            # A read-only data dir can still be searched: open the file as immutable.
            self.read_only = True
            if migrations.pending(self.db):
                raise sqlite3.OperationalError("attempt to write a readonly database (schema needs migrating)")
            return
        # Two processes opening a new mirror must not both run the migrations.
        with file_lock(self.path.with_suffix(".migrate.lock"), what=str(self.path)):
            migrations.apply(self.db)

    # -- connections and transactions -------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.read_only:
                conn = read_only_connection(self.path)
                conn.row_factory = sqlite3.Row
            else:
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False,
                    factory=_CheckedConnection,
                )
                conn.mirror_path = self.path
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_utils.Database(self.conn)
            self._local.db = db
        return db

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so it never fails halfway on a busy lock."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with damage_as_error(self.path):  # a damaged page may be met while iterating
            return [dict(r) for r in self.conn.execute(sql, tuple(params))]

    def integrity_problem(self) -> str | None:
        """SQLite's quick_check: None when the file is sound, else its first complaint. Reads the whole file."""
        with damage_as_error(self.path):
            found = [r[0] for r in self.conn.execute("PRAGMA quick_check(5)")]
        return None if found == ["ok"] else "; ".join(found)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            self._local.db = None
