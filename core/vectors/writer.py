"""A namespace's writer: its lock, its incarnation folders, and write transactions.

    <index>/ns/<slot>/lock        flock held by the namespace's one writer
    <index>/ns/<slot>/name        the real namespace name (slots may be hashed)
    <index>/ns/<slot>/d-<uid>/    the current incarnation; tmp-<uid>/ while being created

A delete renames the whole slot away, so a writer that waited for the lock checks that the
lock file it holds is still the slot's before going on.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import time
import urllib.parse
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from core import lexical
from core.errors import NamespaceFolderError, NotFoundError
from core.vectors import layout
from core.vectors.slabs import fsync_dir, write_atomic

SCHEMA_VERSION = 2  # 2: checksums, dead-row bitmaps and the (slab, row) index of core/vectors/layout.py
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE slabs (slab INTEGER PRIMARY KEY, rows INTEGER NOT NULL);
CREATE TABLE vectors (id TEXT PRIMARY KEY, slab INTEGER NOT NULL, row INTEGER NOT NULL, metadata TEXT NOT NULL);
"""


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@contextmanager
def slot_lock(slot: Path, create: bool, index_name: str) -> Iterator[bool]:
    """Hold the slot's writer lock (creating the slot if asked); yields False when the slot
    does not exist and create is False. Leftovers of a creator killed half-way are removed."""
    while True:
        if create:
            try:
                slot.mkdir(exist_ok=True)
            except FileNotFoundError:
                raise NotFoundError(f"local index '{index_name}' was deleted (no {slot.parent})") from None
        try:
            fd = os.open(slot / "lock", os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
        except (FileNotFoundError, NotADirectoryError):
            if create:
                continue  # the slot was renamed away between mkdir and open
            yield False
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
            yield True
            return
        finally:
            os.close(fd)


def find_incarnation(slot: Path) -> Path | None:
    try:
        found = [e for e in os.listdir(slot) if e.startswith("d-")]
    except (FileNotFoundError, NotADirectoryError):
        return None
    if len(found) > 1:
        raise NamespaceFolderError(f"namespace folder {slot} holds {len(found)} incarnations; expected one")
    return slot / found[0] if found else None


def create_incarnation(slot: Path, namespace: str, connect: Callable[[Path], sqlite3.Connection]) -> Path:
    """A new, empty incarnation, made in a tmp folder and renamed into place (the lock held).
    connect(folder) creates and opens the folder's meta.sqlite."""
    uid = uuid.uuid4().hex
    tmp = slot / f"tmp-{uid}"
    tmp.mkdir()
    conn = connect(tmp)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        for statement in layout.SCHEMA:
            conn.execute(statement)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("name", namespace), ("uid", uid), ("generation", "0"), ("next_slab", "1"), ("created_at", now()),
        ])
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        lexical.ensure(conn)  # the word index from the start, its schema written before the rename
    finally:
        conn.close()  # closed before the rename, so no connection knows the tmp path
    write_atomic(slot / "name", namespace)
    final = slot / f"d-{uid}"
    os.rename(tmp, final)
    fsync_dir(slot)
    return final


def check_name_file(slot: Path, namespace: str, index_name: str) -> None:
    """The slot's name file says it is namespace's (meta.sqlite may be damaged: not read)."""
    try:
        name = (slot / "name").read_text()
    except (OSError, UnicodeDecodeError):
        name = None if slot.name.startswith("~") else urllib.parse.unquote(slot.name)
    if name != namespace:
        raise NamespaceFolderError(f"namespace folder {slot.name} of index '{index_name}' belongs to {name!r}, "
                                   f"not {namespace!r}")


def check_owner(conn: sqlite3.Connection, folder: Path, namespace: str, index_name: str) -> None:
    """The incarnation's meta.sqlite says it is namespace's."""
    row = conn.execute("SELECT value FROM meta WHERE key='name'").fetchone()
    if row is None or row[0] != namespace:
        raise NamespaceFolderError(
            f"namespace folder {folder.parent.name} of index '{index_name}' belongs to "
            f"{row[0] if row else '?'!r}, not {namespace!r}"
        )


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction that also bumps the generation readers cache by."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
