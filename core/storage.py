"""Turn a full disk or a read-only data dir into one clear error instead of a traceback.

The mirror and the local index only ever change in transactions and
append-then-commit steps, so a write that fails half way leaves the last
committed state; the next run, with space again, converges.
"""

from __future__ import annotations

import errno
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from core.errors import LightfastError

_STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}
_SQLITE_HINTS = ("disk is full", "readonly database", "read-only", "unable to open database", "disk i/o error")


class StorageError(LightfastError):
    exit_code = 8


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
