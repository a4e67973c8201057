"""The lexical side of a namespace: identifier-aware terms in SQLite FTS5 (BM25).

Terms are made here, in Python, and stored as space-separated text that FTS5's
`unicode61` tokenizer (with `_` and `.` as token characters, Porter stemming on
top) indexes one for one. A word like `LocalIndex._load` becomes the whole
`localindex._load`, its pieces `localindex` and `_load`, and their parts
`local`, `index`, `load`; snake_case and camelCase split the same way, so
both the exact identifier and its words match.

Each chunk is one FTS row with three columns, weighted in BM25: `path` (file
path and heading trail), `symbols` (names the chunk defines, core/symbols.py)
and `body` (the text). The row's terms are a pure function of the vector's
metadata, so the index can always be rebuilt from the vectors table: a
namespace written before this module existed (or with an older VERSION) is
rebuilt by its next writer, in the write transaction.

These functions take a connection inside the caller's transaction: the local
index writes lexical rows in the same SQLite transaction as the vectors.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from typing import Iterable, Sequence

#: Bump when the terms or the schema change: writers rebuild older lexical tables.
VERSION = "1"
#: BM25 weights of the path, symbols and body columns.
WEIGHTS = (2.0, 4.0, 1.0)
MAX_QUERY_TERMS = 64

_SCHEMA = f"""
CREATE TABLE lexical_ids (rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL);
CREATE VIRTUAL TABLE lexical USING fts5(path, symbols, body, tokenize = "porter unicode61 tokenchars '_.'");
INSERT INTO lexical (lexical, rank) VALUES ('rank', 'bm25({", ".join(map(str, WEIGHTS))})');
"""

_WORD = re.compile(r"\w+(?:\.\w+)*")  # a word, or a dotted name such as core.search or a.b.c
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
# Common English words that carry no evidence in a query (documents keep them).
STOPWORDS = frozenset("""
a an and are as at be been but by can could do does did for from has have how i if in into is it its
me my of on or our should so than that the their them then there these they this those to was we
what when where which while who why will with would you your
""".split())


def _parts(word: str) -> list[str]:
    """snake_case and camelCase parts of one identifier (no dots), lowercased."""
    out = []
    for piece in word.split("_"):
        out.extend(p.lower() for p in _CAMEL.findall(piece))
    return out


def terms(text: str) -> list[str]:
    """Every term of text, in order: whole identifiers, their dotted pieces and their parts."""
    out: list[str] = []
    for match in _WORD.finditer(text):
        out.extend(_word_terms(match.group(0)))
    return out


@functools.lru_cache(maxsize=65_536)  # words repeat: ingest spends its lexical time here
def _word_terms(word: str) -> tuple[str, ...]:
    out: list[str] = []
    pieces = word.split(".")
    if len(pieces) > 1:
        out.append(word.lower())
    for piece in pieces:
        if not piece:
            continue
        lowered = piece.lower()
        out.append(lowered)
        parts = _parts(piece)
        if len(parts) > 1 or (parts and parts[0] != lowered):
            out.extend(parts)
    return tuple(out)


def identifiers(query: str) -> list[str]:
    """The code-shaped words of a query (snake_case, camelCase, dotted, or followed by `(`)."""
    found = []
    for match in _WORD.finditer(query):
        word = match.group(0).strip(".")
        called = query[match.end() : match.end() + 1] == "("
        if "_" in word.strip("_") or "." in word or called or re.search(r"[a-z][A-Z]|[A-Z]{2,}[a-z]", word) \
                or re.fullmatch(r"_+\w+", word):
            found.append(word)
    return found


def identifier_likeness(query: str) -> float:
    """0 for plain prose, 1 when every word is code-shaped; how much a query reads like code."""
    words = [m.group(0) for m in _WORD.finditer(query)]
    if not words:
        return 0.0
    if len(words) == 1:
        return 1.0  # one word: the name of something, most likely
    return len(identifiers(query)) / len(words)


def match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression: any of the query's terms (stopwords dropped); None when none is left."""
    wanted = [t for t in dict.fromkeys(terms(query)) if t not in STOPWORDS]
    wanted = wanted[:MAX_QUERY_TERMS]
    if not wanted:
        return None
    return " OR ".join(f'"{t}"' for t in wanted)  # terms are \w and dots only: quoting is safe


def row_terms(metadata: dict) -> tuple[str, str, str]:
    """The (path, symbols, body) columns of one chunk, from its vector metadata."""
    path = f"{metadata.get('path', '')} {metadata.get('headings', '')}"
    symbols = metadata.get("symbols") or []
    if not isinstance(symbols, list):
        symbols = []
    return (" ".join(terms(path)), " ".join(terms(" ".join(map(str, symbols)))),
            " ".join(terms(str(metadata.get("text", "")))))


# -- storage (inside the caller's transaction) ------------------------------------------------------

def current(conn: sqlite3.Connection) -> bool:
    """Whether this namespace's lexical table exists at this VERSION (readers check this)."""
    row = conn.execute("SELECT value FROM meta WHERE key='lexical'").fetchone()
    return row is not None and row[0] == VERSION


def ensure(conn: sqlite3.Connection, rebuild: bool = False) -> bool:
    """Create or rebuild the lexical table from the vectors' metadata; True if it did.
    rebuild: even when it is current (rows out of step). Call inside the writer's transaction."""
    if current(conn) and not rebuild:
        return False
    conn.execute("DROP TABLE IF EXISTS lexical")
    conn.execute("DROP TABLE IF EXISTS lexical_ids")
    # One statement at a time: executescript would COMMIT the caller's transaction.
    for statement in filter(str.strip, _SCHEMA.split(";")):
        conn.execute(statement)
    cursor = conn.execute("SELECT id, metadata FROM vectors")
    while batch := cursor.fetchmany(1000):
        write(conn, rows((vid, json.loads(meta)) for vid, meta in batch), replace=False)
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('lexical', ?)", (VERSION,))
    return True


Row = tuple[str, str, str, str]  # (id, path terms, symbols terms, body terms)


def rows(records: Iterable[tuple[str, dict]]) -> list[Row]:
    """Lexical rows of (id, metadata) pairs; made before the write transaction (it is the slow part)."""
    return [(vid, *row_terms(meta)) for vid, meta in records]


def write(conn: sqlite3.Connection, new_rows: Sequence[Row], replace: bool = True) -> None:
    """Index rows, replacing any earlier row of the same id."""
    if replace:
        remove(conn, [r[0] for r in new_rows])
    conn.executemany("INSERT INTO lexical_ids (id) VALUES (?)", [(r[0],) for r in new_rows])
    conn.executemany(
        "INSERT INTO lexical (rowid, path, symbols, body) SELECT rowid, ?, ?, ? FROM lexical_ids WHERE id=?",
        [(*r[1:], r[0]) for r in new_rows],
    )


def remove(conn: sqlite3.Connection, ids: Iterable[str]) -> None:
    ids = list(ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        conn.execute(f"DELETE FROM lexical WHERE rowid IN (SELECT rowid FROM lexical_ids WHERE id IN ({marks}))", chunk)
        conn.execute(f"DELETE FROM lexical_ids WHERE id IN ({marks})", chunk)


def prune(conn: sqlite3.Connection) -> None:
    """Drop lexical rows whose vector is gone (compaction's sweep; normally there are none)."""
    conn.execute("DELETE FROM lexical WHERE rowid IN (SELECT rowid FROM lexical_ids WHERE id NOT IN "
                 "(SELECT id FROM vectors))")
    conn.execute("DELETE FROM lexical_ids WHERE id NOT IN (SELECT id FROM vectors)")


def out_of_step(conn: sqlite3.Connection) -> str | None:
    """What is wrong between the lexical rows and the vectors, or None when they agree
    (for integrity checks; a rebuild, `ensure` after a VERSION change, repairs it)."""
    if not current(conn):
        return "no lexical index at this version (the next write or `lightfast ingest` builds it)"
    missing = conn.execute("SELECT COUNT(*) FROM vectors WHERE id NOT IN (SELECT id FROM lexical_ids)").fetchone()[0]
    extra = conn.execute("SELECT COUNT(*) FROM lexical_ids WHERE id NOT IN (SELECT id FROM vectors)").fetchone()[0]
    ids, fts = (conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("lexical_ids", "lexical"))
    problems = [f"{n} {what}" for n, what in ((missing, "vectors without lexical rows"),
                                              (extra, "lexical rows without vectors"),
                                              (abs(ids - fts), "ids and FTS rows apart")) if n]
    return ", ".join(problems) or None


def search(conn: sqlite3.Connection, query: str, top_k: int) -> list[tuple[str, float]]:
    """(id, BM25 score, higher is better) of the best top_k rows matching any query term."""
    expression = match_expression(query)
    if expression is None:
        return []
    found = conn.execute("SELECT rowid, -rank FROM lexical WHERE lexical MATCH ? ORDER BY rank LIMIT ?",
                         (expression, int(top_k))).fetchall()
    if not found:
        return []
    ids = dict(conn.execute(f"SELECT rowid, id FROM lexical_ids WHERE rowid IN ({','.join('?' * len(found))})",
                            [rowid for rowid, _ in found]).fetchall())
    return [(ids[rowid], float(score)) for rowid, score in found if rowid in ids]


def metadata(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, dict]:
    """The vectors' metadata of these ids (those that exist)."""
    if not ids:
        return {}
    rows = conn.execute(f"SELECT id, metadata FROM vectors WHERE id IN ({','.join('?' * len(ids))})", list(ids))
    return {vid: json.loads(meta) for vid, meta in rows}
