"""Slab files: a namespace's float32 rows, appended after the committed rows and memory-mapped.

    <incarnation>/slab-000001.f32 ...   SLAB_ROWS rows each, row-major float32, no header

A writer appends past the committed row count and fsyncs before its SQLite transaction points
ids at the rows; bytes past the committed count are a killed writer's, dropped by the next
append. Which rows are committed, live and intact is recorded in meta.sqlite
(core/vectors/layout.py).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable

import numpy as np

from core.vectors.damage import rows_damaged

SLAB_ROWS = 65_536  # rows per slab file


def slab_path(folder: Path, slab: int) -> Path:
    return folder / f"slab-{slab:06d}.f32"


def slab_number(path: Path) -> int | None:
    try:
        return int(path.stem.split("-")[1])
    except (IndexError, ValueError):
        return None


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(text)
    os.replace(tmp, path)


def append(folder: Path, slab: int, committed_rows: int, block: np.ndarray) -> None:
    """Write block after the committed rows, dropping any bytes a killed writer left there."""
    path = slab_path(folder, slab)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        offset = committed_rows * block.shape[1] * 4
        os.ftruncate(fd, offset)
        data = memoryview(np.ascontiguousarray(block, dtype=np.float32)).cast("B")
        while data:
            written = os.pwrite(fd, data, offset)
            data, offset = data[written:], offset + written
        os.fsync(fd)
    finally:
        os.close(fd)
    if committed_rows == 0:
        fsync_dir(folder)  # a new file: make its name durable too


def intact(folder: Path, slab: int, rows: int, dimension: int) -> bool:
    """The slab file holds at least rows rows."""
    try:
        return os.stat(slab_path(folder, slab)).st_size >= rows * dimension * 4
    except FileNotFoundError:
        return False


def map_rows(folder: Path, slab: int, rows: int, dimension: int, namespace_of: Callable[[Path], str],
             live: bool = True) -> np.ndarray:
    """The slab's committed rows. A slab shorter than that is damage, unless none of its rows
    is live (then it reads as zeros: its rows are dead, e.g. after `ingest --full`)."""
    if rows == 0:
        return np.zeros((0, dimension), dtype=np.float32)
    row_bytes = dimension * 4
    path = slab_path(folder, slab)
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        if live:
            raise  # compaction may have replaced it under this reader: LocalIndex._snapshot looks again
        size = 0
    if size < rows * row_bytes:
        if not live:
            return np.broadcast_to(np.zeros(dimension, dtype=np.float32), (rows, dimension))
        raise rows_damaged(path, namespace_of(folder),
                           f"holds {size // row_bytes} rows ({size:,} bytes) but its namespace "
                           f"committed {rows} ({rows * row_bytes:,} bytes); it was truncated")
    return np.asarray(np.memmap(path, dtype=np.float32, mode="r", shape=(rows, dimension)))
