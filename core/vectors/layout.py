"""What a reader needs to open a namespace without reading its ids, and to trust its bytes.

Three things in the namespace's meta.sqlite, written in the same transaction as the `vectors`
rows they describe, so a reader's snapshot always sees them agree:

    segments        (slab, start, rows, crc32 of their bytes) covering every committed row
    dead_rows       per slab, a bitmap of the rows no id points at any more (replaced, deleted)
    vectors_place   an index on vectors (slab, row): a query looks up the ids of its hits only

A writer appending right after a segment of fewer than SEGMENT_ROWS rows extends it, its crc
continued over the new block (crc32(a + b) is crc32(b, crc32(a))), so however small the
upserts a namespace has about one segment per SEGMENT_ROWS rows. It first reads that segment
again (at most SEGMENT_ROWS rows, about a millisecond), whatever this process saw before: live
rows appended to a damaged segment would keep it failing after `ingest --full`, so a segment
that no longer matches is left as it is and the block starts a new one.

So opening a namespace reads a few small rows, maps the slabs, and checks each segment that
holds a live row against its checksum, once per process (a committed segment changes only by
growing, and is then checked again). A segment whose rows are all dead is not checked:
`ingest --full` re-writes every id, which makes a damaged segment dead, and it reads again.

The checksum is zlib.crc32, measured against xxhash's xxh3 on 154 MB of rows (100k x 384):
crc32 3.7 GB/s, xxh3 11 GB/s, np.load of the same matrix 3.6 GB/s. crc32 keeps a cold open
within the 2x-of-np.load budget (bench/local_index.py) without a new dependency; xxh3 would
be a migration (a new VERSION) if that budget ever needs it.

Layout version 1 had none of this: such a namespace is upgraded in place, under its writer
lock, by the first process that opens it (see LocalIndex._ensure_layout); on a read-only disk
it is read as it is (live rows from every id's place, nothing to check). The upgrade checksums
the bytes as it finds them (it cannot know older damage; NaN rows are still caught by the
query's finiteness check) and skips slabs already too short (reads name those as truncated).
"""

from __future__ import annotations

import sqlite3
import zlib
from typing import Callable, Iterable, Sequence

import numpy as np

from core.vectors.sql import execute_in

VERSION = 2  # PRAGMA user_version of a namespace's meta.sqlite with this layout
SEGMENT_ROWS = 4_096  # a segment grows by appends up to this (6 MB of 384-d rows, ~2 ms of crc32)

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS segments (slab INTEGER NOT NULL, start INTEGER NOT NULL, "
    "rows INTEGER NOT NULL, crc32 INTEGER NOT NULL, PRIMARY KEY (slab, start))",
    "CREATE TABLE IF NOT EXISTS dead_rows (slab INTEGER PRIMARY KEY, bits BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS vectors_place ON vectors (slab, row)",
]

Segment = tuple[int, int, int, int]  # slab, first row, rows, crc32
Appended = tuple[int, int, np.ndarray]  # slab, first row, the rows written there


def checksum(block: np.ndarray, crc: int = 0) -> int:
    """crc32 of a block of rows exactly as they lie in the slab file (continuing crc)."""
    return zlib.crc32(memoryview(np.ascontiguousarray(block, dtype=np.float32)).cast("B"), crc)


def version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


# -- writes (inside the writer's transaction) --------------------------------------------------------

def record(conn: sqlite3.Connection, appended: Iterable[Appended], read: Callable[[int, int, int], np.ndarray]) -> None:
    """The checksums of blocks just appended; in the transaction that makes their rows visible.
    read(slab, start, rows) gives committed rows from the slab file."""
    for slab, start, block in appended:
        last = conn.execute("SELECT slab, start, rows, crc32 FROM segments WHERE slab=? ORDER BY start DESC LIMIT 1",
                            (slab,)).fetchone()
        if last is not None and last[1] + last[2] == start and last[2] < SEGMENT_ROWS \
                and checksum(read(*last[:3])) == last[3]:
            segment = (slab, last[1], last[2] + len(block), checksum(block, last[3]))
            conn.execute("UPDATE segments SET rows=?, crc32=? WHERE slab=? AND start=?",
                         (segment[2], segment[3], slab, segment[1]))
        else:
            segment = (slab, start, len(block), checksum(block))
            conn.execute("INSERT INTO segments (slab, start, rows, crc32) VALUES (?, ?, ?, ?)", segment)


def retire(conn: sqlite3.Connection, ids: Sequence[str]) -> None:
    """Mark the rows these ids point at now as dead; call before their `vectors` rows change."""
    places: dict[int, list[int]] = {}
    for slab, row in execute_in(conn, "SELECT slab, row FROM vectors WHERE id IN ({marks})", ids):
        places.setdefault(slab, []).append(row)
    for slab, rows in places.items():
        found = conn.execute("SELECT bits FROM dead_rows WHERE slab=?", (slab,)).fetchone()
        bits = found[0] if found else b""
        dead = _unpack(bits, max(len(bits) * 8, max(rows) + 1))  # never shorter: keep every earlier bit
        dead[rows] = True
        conn.execute("INSERT OR REPLACE INTO dead_rows (slab, bits) VALUES (?, ?)",
                     (slab, np.packbits(dead, bitorder="little").tobytes()))


def rewrite(conn: sqlite3.Connection, segments: Iterable[Segment]) -> None:
    """After compaction: the new slabs' checksums (taken as each was written), and no dead rows."""
    conn.execute("DELETE FROM segments")
    conn.execute("DELETE FROM dead_rows")
    conn.executemany("INSERT INTO segments (slab, start, rows, crc32) VALUES (?, ?, ?, ?)", segments)


def upgrade(conn: sqlite3.Connection, read: Callable[[int, int], np.ndarray | None]) -> None:
    """Layout 1 to 2, inside the caller's write transaction. read(slab, rows) gives the slab's
    committed rows, or None when the file is too short to hold them."""
    for statement in SCHEMA:
        conn.execute(statement)
    slabs = conn.execute("SELECT slab, rows FROM slabs ORDER BY slab").fetchall()
    referenced: dict[int, np.ndarray] = {s: np.zeros(n, dtype=bool) for s, n in slabs}
    for slab, row in conn.execute("SELECT slab, row FROM vectors"):
        referenced[slab][row] = True
    conn.execute("DELETE FROM dead_rows")
    conn.execute("DELETE FROM segments")
    for slab, rows in slabs:
        if not referenced[slab].all():
            conn.execute("INSERT INTO dead_rows (slab, bits) VALUES (?, ?)",
                         (slab, np.packbits(~referenced[slab], bitorder="little").tobytes()))
        block = read(slab, rows) if referenced[slab].any() else None
        if block is not None:
            conn.execute("INSERT INTO segments (slab, start, rows, crc32) VALUES (?, ?, ?, ?)",
                         (slab, 0, rows, checksum(block)))
    conn.execute(f"PRAGMA user_version={VERSION}")


# -- reads (inside the reader's snapshot) ------------------------------------------------------------

def _unpack(bits: bytes, length: int) -> np.ndarray:
    """A dead-row bitmap as bools, cut or padded (rows past the bitmap are live) to length."""
    dead = np.unpackbits(np.frombuffer(bits, dtype=np.uint8), bitorder="little").astype(bool)
    if len(dead) >= length:
        return dead[:length].copy()
    return np.concatenate([dead, np.zeros(length - len(dead), dtype=bool)])


def live_mask(conn: sqlite3.Connection, slabs: Sequence[tuple[int, int]], layout: int) -> np.ndarray:
    """Which committed rows some id points at, over the slabs in order (one bool per row)."""
    offsets = dict(zip((s for s, _ in slabs), np.cumsum([0] + [n for _, n in slabs]).tolist()))
    live = np.ones(sum(n for _, n in slabs), dtype=bool)
    if layout >= 2:
        rows = dict(slabs)
        for slab, bits in conn.execute("SELECT slab, bits FROM dead_rows"):
            if slab in rows:
                live[offsets[slab] : offsets[slab] + rows[slab]] = ~_unpack(bits, rows[slab])
        return live
    live[:] = False  # layout 1 (a read-only disk, so not upgraded): from every row's place
    pos = [offsets[s] + r for s, r in conn.execute("SELECT slab, row FROM vectors")]
    live[np.asarray(pos, dtype=np.int64)] = True
    return live


def segments(conn: sqlite3.Connection) -> list[Segment]:
    return conn.execute("SELECT slab, start, rows, crc32 FROM segments ORDER BY slab, start").fetchall()


def first_mismatch(segments: Iterable[Segment], block_of: Callable[[int], np.ndarray],
                   live_of: Callable[[int], np.ndarray], verified: set) -> Segment | None:
    """The first segment holding a live row whose bytes no longer match its checksum.

    verified holds segments already checked in this process (keyed by their incarnation
    folder by the caller, since slab numbers repeat across namespaces)."""
    for segment in segments:
        if segment in verified:
            continue
        slab, start, rows, crc = segment
        if not live_of(slab)[start : start + rows].any():
            continue
        if checksum(block_of(slab)[start : start + rows]) != crc:
            return segment
        verified.add(segment)
    return None
