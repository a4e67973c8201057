"""One statement over many ids, in chunks: a query's host parameters stay far below SQLite's
limit (999 before SQLite 3.32), however many ids a caller passes."""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

CHUNK = 500


def execute_in(conn: sqlite3.Connection, sql: str, values: Sequence[Any], params: Sequence[Any] = ()) -> list[tuple]:
    """sql run once per chunk of values, and the rows it returned. sql holds `{marks}` where
    the IN list goes, after the placeholders of params (the same for each chunk)."""
    out: list[tuple] = []
    for start in range(0, len(values), CHUNK):
        chunk = list(values[start : start + CHUNK])
        out.extend(conn.execute(sql.format(marks=",".join("?" * len(chunk))), [*params, *chunk]))
    return out
