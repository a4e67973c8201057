"""Compaction: live rows rewritten into fresh slabs, dead rows and orphan slab files removed.

Runs under the namespace's writer lock: explicitly (`LocalIndex.compact`), or after a write
when dead rows outnumber live ones. New slabs are written and fsynced first, then one
transaction points every id at them; only then are the old files removed, so a kill at any
point leaves a readable namespace.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable

import numpy as np

from core import lexical
from core.vectors import layout, slabs
from core.vectors.writer import write_transaction

COMPACT_MIN_DEAD = 1_024  # compaction runs when dead rows exceed live rows and this


def worth_it(conn: sqlite3.Connection) -> bool:
    total = conn.execute("SELECT COALESCE(SUM(rows), 0) FROM slabs").fetchone()[0]
    live = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    dead = total - live
    return dead > live and dead >= COMPACT_MIN_DEAD


def compact(folder: Path, conn: sqlite3.Connection, dimension: int,
            map_slab: Callable[[int, int], np.ndarray],
            append: Callable[[Path, int, int, np.ndarray], None],
            damaged: Callable[[layout.Segment], Exception]) -> None:
    """map_slab(slab, rows) maps committed rows; append writes a new slab; damaged(segment)
    is the error for a segment whose bytes no longer match their checksum."""
    sizes = dict(conn.execute("SELECT slab, rows FROM slabs").fetchall())
    next_slab = int(conn.execute("SELECT value FROM meta WHERE key='next_slab'").fetchone()[0])
    rows = conn.execute("SELECT id, slab, row FROM vectors ORDER BY slab, row").fetchall()
    used = {r[1] for r in rows}  # slabs without live rows are not read (a damaged one may be short)
    maps = {s: map_slab(s, n) for s, n in sizes.items() if s in used}
    old_slab = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    old_row = np.fromiter((r[2] for r in rows), dtype=np.int64, count=len(rows))
    _check_before_copy(conn, sizes, old_slab, old_row, maps, damaged)
    new_slabs: dict[int, int] = {}
    new_segments = []
    updates = []
    for start in range(0, len(rows), slabs.SLAB_ROWS):
        stop = min(start + slabs.SLAB_ROWS, len(rows))
        block = np.empty((stop - start, dimension), dtype=np.float32)
        part_slab, part_row = old_slab[start:stop], old_row[start:stop]
        for s in np.unique(part_slab):
            where = part_slab == s
            block[where] = maps[int(s)][part_row[where]]
        slab, next_slab = next_slab, next_slab + 1
        append(folder, slab, 0, block)
        new_slabs[slab] = stop - start
        new_segments.append((slab, 0, stop - start, layout.checksum(block)))
        updates.extend((slab, k, rows[start + k][0]) for k in range(stop - start))
    maps.clear()
    with write_transaction(conn):
        conn.execute("DELETE FROM slabs")
        conn.executemany("INSERT INTO slabs (slab, rows) VALUES (?, ?)", new_slabs.items())
        conn.executemany("UPDATE vectors SET slab=?, row=? WHERE id=?", updates)
        conn.execute("UPDATE meta SET value=? WHERE key='next_slab'", (str(next_slab),))
        layout.rewrite(conn, new_segments)
        if lexical.current(conn):
            lexical.prune(conn)
    for path in folder.glob("slab-*.f32"):  # the old slabs and orphans of killed writers
        if slabs.slab_number(path) not in new_slabs:
            path.unlink(missing_ok=True)


def _check_before_copy(conn: sqlite3.Connection, sizes: dict[int, int], old_slab: np.ndarray, old_row: np.ndarray,
                       maps: dict[int, np.ndarray], damaged: Callable[[layout.Segment], Exception]) -> None:
    """Compaction copies live rows under fresh checksums: check the old ones first, so it
    never launders damaged bytes into rows that look sound. Read from disk whatever this
    process trusted before: compaction reads every live row anyway."""
    live = {s: np.zeros(n, dtype=bool) for s, n in sizes.items()}
    for s in np.unique(old_slab):
        live[int(s)][old_row[old_slab == s]] = True
    bad = layout.first_mismatch(layout.segments(conn), maps.__getitem__,
                                lambda s: live.get(s, np.zeros(0, dtype=bool)), set())
    if bad is not None:
        raise damaged(bad)
