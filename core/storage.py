"""Turn a full disk or a read-only data dir into one clear error instead of a traceback.

The mirror and the local index only ever change in transactions and
append-then-commit steps, so a write that fails half way leaves the last
committed state; the next run, with space again, converges.
"""

from __future__ import annotations

import errno
import sqlite3
import urllib.parse
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from core.errors import StorageError

_STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}
_SQLITE_HINTS = ("disk is full", "readonly database", "read-only", "unable to open database", "disk i/o error")


@contextmanager
def storage_guard(home: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno not in _STORAGE_ERRNOS:
            raise
        raise StorageError(_message(home, exc.strerror or str(exc))) from None
    except sqlite3.OperationalError as exc:
        if not any(h in str(exc).lower() for h in _SQLITE_HINTS):
            raise
        raise StorageError(_message(home, str(exc))) from None


def _message(home: Path, reason: str) -> str:
    return (f"cannot write to the data dir {home}: {reason}; free some space or make it writable "
            "(or point LIGHTFAST_HOME elsewhere), then run again: nothing committed was lost")


def read_only_connection(db: Path) -> sqlite3.Connection:
    """Open a SQLite file on a read-only file system, so a read-only data dir can still be searched.

    mode=ro reads a WAL left behind by a process that did not close cleanly; when SQLite
    cannot even do that (no -shm file can be made), the file is opened as immutable.
    """
    path = urllib.parse.quote(str(db))  # namespace folders contain '%': escape it for the URI
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        return sqlite3.connect(f"file:{path}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)
