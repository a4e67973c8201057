"""Exact (brute-force) search over a namespace's committed rows, as of one generation.

A View is what a reader keeps of a namespace between queries: memory maps of its slabs and
which rows are live. A query scores every row, masks dead rows and rows a filter drops, and
looks up the ids of its hits only, from the reader's SQLite snapshot.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from core.errors import InvalidArgumentError
from core.vectors import layout
from core.vectors.damage import meta_damaged, rows_damaged
from core.vectors.filters import matches
from core.vectors.slabs import slab_path
from core.vectors.sql import execute_in

_MASKS = 16  # filter masks cached per view


@dataclass
class View:
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
        return slab_path(self.folder, self.place(position)[0])


def build_view(conn: sqlite3.Connection, key: tuple[str, int], folder: Path, namespace: str, version: int,
               map_slab: Callable[[int, int, bool], np.ndarray], verified: set, metric: str) -> View:
    """The view at the snapshot's generation: slabs mapped, live rows from the dead-row bitmaps,
    and each segment with live rows not in verified checked against its checksum."""
    slabs = conn.execute("SELECT slab, rows FROM slabs ORDER BY slab").fetchall()
    live = layout.live_mask(conn, slabs, version)
    starts = np.cumsum([0] + [n for _, n in slabs], dtype=np.int64)[:-1]
    blocks = [map_slab(s, n, bool(live[o : o + n].any())) for (s, n), o in zip(slabs, starts)]
    live_count = int(live.sum())
    ids = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    if ids != live_count:
        raise meta_damaged(folder / "meta.sqlite", namespace,
                           f"{ids} ids but {live_count} live rows: its dead-row bitmaps disagree with its ids")
    view = View(key, blocks, [s for s, _ in slabs], {s: n for n, (s, _) in enumerate(slabs)}, starts, live,
                np.flatnonzero(~live), live_count, folder, namespace)
    if version >= layout.VERSION:  # segments checked before, in this process, are not read again
        bad = layout.first_mismatch(layout.segments(conn), view.block_of, view.live_of, verified)
        if bad is not None:
            raise checksum_error(folder, namespace, bad)
    if metric == "euclidean":
        view.sqnorms = np.concatenate([np.einsum("ij,ij->i", b, b) for b in blocks]) if blocks else np.zeros(0)
    return view


def checksum_error(folder: Path, namespace: str, segment: layout.Segment):
    slab, start, rows, _ = segment
    return rows_damaged(slab_path(folder, slab), namespace,
                        f"rows {start} to {start + rows - 1} (written together) no longer match their "
                        "checksum: their bytes changed after they were written")


def keep_mask(view: View, conn: sqlite3.Connection, flt: dict[str, Any], lock: threading.Lock) -> np.ndarray:
    """Rows that pass a metadata filter, cached per view and filter."""
    if not isinstance(flt, dict):
        raise InvalidArgumentError(f"a filter must be an object like {{'path': 'a.md'}}, got {flt!r}")
    try:
        fkey = json.dumps(flt, sort_keys=True)
    except (TypeError, ValueError):
        fkey = None
    if fkey is not None:
        with lock:
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
        with lock:
            view.masks[fkey] = keep
            while len(view.masks) > _MASKS:
                view.masks.popitem(last=False)
    return keep


def scores(view: View, q: np.ndarray, metric: str) -> np.ndarray:
    """Every row's score (dead rows too); a live row scoring NaN or infinity is damage."""
    with np.errstate(invalid="ignore", over="ignore"):  # damaged rows: _check_finite reports them
        found = _raw_scores(view, q, metric)
    _check_finite(view, found)
    return found


def _raw_scores(view: View, q: np.ndarray, metric: str) -> np.ndarray:
    if len(view.blocks) == 1:
        dots = view.blocks[0] @ q
    else:
        dots = np.empty(len(view.live), dtype=np.float32)
        start = 0
        for block in view.blocks:
            np.dot(block, q, out=dots[start : start + len(block)])
            start += len(block)
    if metric == "euclidean":
        return np.maximum(view.sqnorms - 2 * dots + float(q @ q), 0)
    return dots


def _check_finite(view: View, scores: np.ndarray) -> None:
    """A live row scoring NaN or infinity holds bytes no upsert wrote (upserts refuse them)."""
    if np.isfinite(scores).all():
        return
    bad = ~np.isfinite(scores)
    bad[view.dead] = False
    rows = np.flatnonzero(bad)
    if len(rows):
        files = sorted({str(view.slab_file(int(r))) for r in rows[:100]})
        raise rows_damaged(Path(files[0]), view.namespace,
                           f"{len(rows)} row{'s' * (len(rows) != 1)} hold{'s' * (len(rows) == 1)} NaN or "
                           f"infinite values" + (f" (also in {', '.join(files[1:])})" if len(files) > 1 else ""))


def best(view: View, scores: np.ndarray, keep: np.ndarray | None, top_k: int, candidates: int,
         metric: str) -> list[int]:
    """Positions of the top_k live rows (that keep allows), best first."""
    ranked = -scores if metric == "euclidean" else scores.copy()  # higher is better
    ranked[view.dead] = -np.inf
    if keep is not None:
        ranked[~keep] = -np.inf
    k = min(int(top_k), candidates)
    chosen = np.argpartition(-ranked, k - 1)[:k] if k < len(ranked) else np.arange(len(ranked))
    chosen = chosen[np.argsort(-ranked[chosen], kind="stable")]
    return [int(i) for i in chosen if view.live[i] and (keep is None or keep[i])][:k]


def rows_at(conn: sqlite3.Connection, view: View, positions: Sequence[int]) -> dict[int, tuple[str, dict]]:
    """position -> (id, metadata) of live rows, from the reader's snapshot (the place index)."""
    by_slab: dict[int, dict[int, int]] = {}
    where = np.asarray(positions, dtype=np.int64)
    blocks = np.searchsorted(view.starts, where, side="right") - 1  # as View.place, for all at once
    for pos, block, row in zip(positions, blocks.tolist(), (where - view.starts[blocks]).tolist()):
        by_slab.setdefault(view.slabs[block], {})[row] = pos
    out: dict[int, tuple[str, dict]] = {}
    for slab, rows in by_slab.items():
        sql = "SELECT row, id, metadata FROM vectors WHERE slab=? AND row IN ({marks})"
        for row, vid, meta in execute_in(conn, sql, list(rows), [slab]):
            out[rows[row]] = (vid, json.loads(meta))
    missing = [pos for pos in positions if pos not in out]
    if missing:
        slab, row = view.place(missing[0])
        raise meta_damaged(view.folder / "meta.sqlite", view.namespace,
                           f"row {row} of slab {slab} is marked live but no id points at it")
    return out
