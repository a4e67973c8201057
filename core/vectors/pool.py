"""Pooled SQLite connections to namespace incarnations, shared by the threads of one process.

Threads share the pool, never a connection; a connection left inside a transaction is closed,
never handed on; after a fork the parent's connections are abandoned (SQLite connections must
not cross a fork)."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

IDLE_CONNECTIONS = 32  # pooled connections kept per index


class ConnectionPool:
    def __init__(self, open: Callable[[Path], sqlite3.Connection]):
        self._open = open
        self._lock = threading.Lock()
        self._idle: OrderedDict[str, list[sqlite3.Connection]] = OrderedDict()
        self._idle_count = 0
        self._pid = os.getpid()

    @contextmanager
    def connection(self, folder: Path) -> Iterator[sqlite3.Connection]:
        """Borrow a connection to one incarnation folder."""
        if self._pid != os.getpid():  # forked: abandon the parent's connections
            with self._lock:
                self._idle, self._idle_count, self._pid = OrderedDict(), 0, os.getpid()
        key = str(folder)
        conn = None
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                conn = idle.pop()
                self._idle_count -= 1
        if conn is None:
            conn = self._open(folder)
        try:
            yield conn
        finally:
            if conn.in_transaction:  # interrupted half-way: never hand that on
                conn.close()
            else:
                self._give_back(key, conn)

    def _give_back(self, key: str, conn: sqlite3.Connection) -> None:
        closing = []
        with self._lock:
            self._idle.setdefault(key, []).append(conn)
            self._idle.move_to_end(key)
            self._idle_count += 1
            while self._idle_count > IDLE_CONNECTIONS:
                _, conns = next(iter(self._idle.items()))
                closing.append(conns.pop(0))
                self._idle_count -= 1
                if not conns:
                    self._idle.popitem(last=False)
        for c in closing:
            c.close()

    def close(self, folder: Path | None) -> None:
        """Close the idle connections to an incarnation that went away."""
        with self._lock:
            conns = self._idle.pop(str(folder), []) if folder is not None else []
            self._idle_count -= len(conns)
        for c in conns:
            c.close()
