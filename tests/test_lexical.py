"""The lexical index: identifier-aware terms, symbols per chunk, and FTS5 rows that never
leave step with the vectors (upserts, deletes, compaction, a kill, an older namespace).

Real SQLite files under tmp_path and a real subprocess for the kill; no mocks.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core import lexical
from core.chunking import chunk_text
from core.symbols import definitions, symbols_between
from core.vectors.base import IndexSpec, VectorRecord
from core.vectors.local import LocalBackend

DIM = 8
NS = "org_a:ws_b:store_c"
ROOT = Path(__file__).resolve().parents[1]


# -- terms ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("ensure_namespace", ["ensure_namespace", "ensure", "namespace"]),
    ("LocalIndex._load", ["localindex._load", "localindex", "local", "index", "_load", "load"]),
    ("HTTPServer", ["httpserver", "http", "server"]),
    ("parseJSON", ["parsejson", "parse", "json"]),
    ("core/vectors/local.py", ["core", "vectors", "local.py", "local", "py"]),
    ("__init__", ["__init__", "init"]),
    ("plain words stay", ["plain", "words", "stay"]),
])
def test_terms_keep_the_whole_identifier_and_its_parts(text, expected):
    assert lexical.terms(text) == expected


def test_identifiers_and_identifier_likeness():
    assert lexical.identifiers("where is ensure_namespace and LocalIndex._load, or search()?") == [
        "ensure_namespace", "LocalIndex._load", "search"]
    assert lexical.identifiers("how does ingest survive a kill") == []
    assert lexical.identifier_likeness("how does ingest survive a kill") == 0.0
    assert lexical.identifier_likeness("chunk_text") == 1.0
    assert 0 < lexical.identifier_likeness("where is chunk_text") < 1


def test_match_expression_drops_stopwords_and_quotes_every_term():
    assert lexical.match_expression("how is the index opened") == '"index" OR "opened"'
    assert lexical.match_expression("what is it") is None  # nothing but stopwords


# -- symbols --------------------------------------------------------------------------------------

PY = textwrap.dedent('''\
    LIMIT = 10


    class Store:
        def open(self):
            def helper():
                pass
            return helper

        async def close(self):
            pass


    def main():
        return Store()
''')


def test_python_definitions_come_from_ast_with_qualified_methods():
    assert definitions(PY, "pkg/store.py") == [
        (1, "LIMIT"), (4, "Store"), (5, "Store.open"), (10, "Store.close"), (14, "main")]
    assert definitions("# Store\n\ndef main(): pass\n", "README.md") == []  # prose has no symbols


def test_other_languages_and_broken_python_fall_back_to_a_line_pattern():
    ts = "export async function loadUser(id) {\n}\nclass Cache {}\nconst x = 1\n"
    assert definitions(ts, "src/user.ts") == [(1, "loadUser"), (3, "Cache")]
    assert definitions("def broken(:\n    pass\ndef fine():\n", "bad.py") == [(1, "broken"), (3, "fine")]
    go = "func (s *Server) ServeHTTP(w W, r R) {\n}\n"
    assert definitions(go, "server.go") == [(1, "ServeHTTP")]


def test_chunks_record_the_names_defined_inside_them():
    text = "\n".join(f"def function_{i}(x):\n    return x + {i}\n\n" for i in range(40))
    chunks = chunk_text(text, "many.py", 40, 0, lambda lines: [len(l.split()) for l in lines])
    assert len(chunks) > 1
    seen = [s for c in chunks for s in c.symbols]
    assert seen == [f"function_{i}" for i in range(40)]  # each in the chunk holding its def line, once
    for chunk in chunks:
        assert all(f"def {name}(" in chunk.text for name in chunk.symbols)
    assert symbols_between([(3, "a"), (3, "a"), (9, "b")], 1, 5) == ("a",)


# -- the FTS rows beside the vectors ----------------------------------------------------------------

@pytest.fixture
def backend(tmp_path):
    return LocalBackend(tmp_path / "indexes")


@pytest.fixture
def index(backend):
    return backend.ensure_index(IndexSpec("lex-v1", DIM))


def record(vid: str, text: str, path: str = "a.py", symbols=()) -> VectorRecord:
    vec = np.random.default_rng(abs(hash(vid)) % 2**32).standard_normal(DIM).astype(np.float32)
    return VectorRecord(vid, vec, {"path": path, "text": text, "symbols": list(symbols), "headings": ""})


def rows(index, ns=NS) -> tuple[set[str], set[str], int]:
    """(vector ids, lexical ids, FTS rows) straight from the namespace's meta.sqlite."""
    db = index.namespace_folder(ns) / "meta.sqlite"
    conn = sqlite3.connect(db)
    try:
        vectors = {r[0] for r in conn.execute("SELECT id FROM vectors")}
        ids = {r[0] for r in conn.execute("SELECT id FROM lexical_ids")}
        fts = conn.execute("SELECT COUNT(*) FROM lexical").fetchone()[0]
        return vectors, ids, fts
    finally:
        conn.close()


def in_step(index, ns=NS) -> set[str]:
    vectors, ids, fts = rows(index, ns)
    assert vectors == ids and fts == len(ids)
    assert index.lexical_out_of_step(ns) is None
    return vectors


def test_out_of_step_names_what_disagrees(index):
    index.upsert(NS, [record("a", "alpha"), record("b", "beta")])
    conn = sqlite3.connect(index.namespace_folder(NS) / "meta.sqlite", isolation_level=None)
    conn.execute("DELETE FROM lexical_ids WHERE id='b'")  # damage no Lightfast write makes
    conn.execute("INSERT INTO lexical_ids (id) VALUES ('ghost')")
    conn.close()
    assert index.lexical_out_of_step(NS) == "1 vectors without lexical rows, 1 lexical rows without vectors"


def found(index, query, k=10, ns=NS) -> list[str]:
    return [m.id for m in index.lexical_query(ns, query, k)]


def test_lexical_rows_follow_upserts_replacements_and_deletes(index):
    index.upsert(NS, [record("a", "def ensure_namespace(x): pass", symbols=["ensure_namespace"]),
                      record("b", "a namespace is made sure of here"),
                      record("c", "nothing to see")])
    assert in_step(index) == {"a", "b", "c"}
    assert found(index, "ensure_namespace")[0] == "a"
    assert set(found(index, "namespace")) == {"a", "b"}  # the part matches too
    index.upsert(NS, [record("a", "renamed to open_store", symbols=["open_store"])])  # replaced, not added
    assert in_step(index) == {"a", "b", "c"}
    assert "a" not in found(index, "ensure_namespace") and found(index, "open_store") == ["a"]
    index.delete(NS, ["b", "missing"])
    assert in_step(index) == {"a", "c"}
    assert found(index, "namespace") == []
    match = index.lexical_query(NS, "open_store", 1)[0]
    assert match.metadata["symbols"] == ["open_store"] and match.score > 0


def test_compaction_keeps_the_lexical_rows_in_step(index):
    index.upsert(NS, [record(f"r{i}", f"row number {i} about widget_{i}") for i in range(300)])
    index.delete(NS, [f"r{i}" for i in range(0, 300, 2)])
    index.compact(NS)
    assert in_step(index) == {f"r{i}" for i in range(1, 300, 2)}
    assert found(index, "widget_7", 1) == ["r7"] and "r8" not in found(index, "widget_8", 500)


def test_a_namespace_from_before_the_lexical_index_is_built_from_its_vectors(index):
    index.upsert(NS, [record("a", "def chunk_text(): pass", symbols=["chunk_text"]), record("b", "other words")])
    db = index.namespace_folder(NS) / "meta.sqlite"
    conn = sqlite3.connect(db, isolation_level=None)  # as an older Lightfast left it
    conn.execute("DROP TABLE lexical")
    conn.execute("DROP TABLE lexical_ids")
    conn.execute("DELETE FROM meta WHERE key='lexical'")
    conn.close()
    assert index.lexical_query(NS, "chunk_text", 5) is None  # search falls back to dense and says so
    index.delete(NS, ["b"])  # a delete never fails for want of the table
    assert index.lexical_query(NS, "chunk_text", 5) is None
    assert index.ensure_lexical(NS) is True
    assert index.ensure_lexical(NS) is False
    assert in_step(index) == {"a"} and found(index, "chunk_text") == ["a"]


def test_an_older_lexical_version_is_rebuilt_by_the_next_write(index, monkeypatch):
    index.upsert(NS, [record("a", "alpha beta")])
    monkeypatch.setattr(lexical, "VERSION", "next")
    assert index.lexical_query(NS, "alpha", 5) is None
    index.upsert(NS, [record("b", "gamma")])
    assert in_step(index) == {"a", "b"} and found(index, "alpha") == ["a"]


def test_queries_of_odd_text_never_break_fts_syntax(index):
    index.upsert(NS, [record("a", 'say "hello" AND NOT (x OR y*) ^near')])
    for query in ['"', "AND", "NOT (", "x*", "^", "a:b", "'; DROP TABLE vectors; --", "héllo wörld", "🙂"]:
        assert isinstance(index.lexical_query(NS, query, 5), list)
    assert found(index, '"hello"') == ["a"]
    assert index.lexical_query("org_a:ws_b:store_none", "hello", 5) == []


WRITER = textwrap.dedent('''
    import sys
    import numpy as np
    from pathlib import Path
    from core.vectors.local import LocalBackend
    from core.vectors.base import IndexSpec, VectorRecord
    index = LocalBackend(Path(sys.argv[1])).ensure_index(IndexSpec("lex-v1", 8))
    rng = np.random.default_rng(3)
    for batch in range(100000):
        recs = [VectorRecord(f"{batch}-{i}", rng.standard_normal(8).astype(np.float32),
                             {"path": f"f{batch}.py", "text": f"def fn_{batch}_{i}(): pass",
                              "symbols": [f"fn_{batch}_{i}"]}) for i in range(200)]
        index.upsert("org_a:ws_b:store_c", recs)
        if batch % 3 == 2:
            index.delete("org_a:ws_b:store_c", [f"{batch - 1}-{i}" for i in range(0, 200, 2)])
        print(batch, flush=True)
''')


@pytest.mark.parametrize("kill_after", [2, 7])
def test_a_writer_killed_mid_write_leaves_lexical_rows_in_step(backend, index, kill_after):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(backend.root)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(kill_after):
        assert proc.stdout.readline(), proc.stderr.read()
    proc.send_signal(signal.SIGKILL)  # somewhere inside a later upsert or delete
    proc.wait(timeout=30)
    ids = in_step(index)
    assert len(ids) >= kill_after * 100
    some = sorted(ids)[0]
    assert found(index, "fn_" + some.replace("-", "_"), 1) == [some]
    index.upsert(NS, [record("after", "def after_kill(): pass", symbols=["after_kill"])])
    assert in_step(index) == ids | {"after"} and found(index, "after_kill", 1) == ["after"]
