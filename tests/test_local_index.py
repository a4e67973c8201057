"""The local shared index: the five operations, isolation, exactness, and safety across threads and processes.

Real files under tmp_path, real subprocesses; no mocks and no timed asserts.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from core.errors import DimensionMismatchError, IndexDamagedError, LightfastError, NotFoundError
from core.vectors import compaction, layout
from core.vectors import slabs as slab_files
from core.vectors.base import IndexSpec, NamespaceStats, VectorRecord
from core.vectors.local import LocalBackend, LocalIndex, encode_namespace

DIM = 16
NS = "org_a:ws_b:store_c"
ROOT = Path(__file__).resolve().parents[1]


def unit(rng, n=1, dim=DIM):
    m = rng.standard_normal((n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def all_ids(index, ns):
    ids, token = [], None
    while True:
        page, token = index.list_ids(ns, limit=1000, pagination_token=token)
        ids += page
        if not token:
            return ids


@pytest.fixture
def backend(tmp_path):
    return LocalBackend(tmp_path / "indexes")


@pytest.fixture
def index(backend):
    return backend.ensure_index(IndexSpec("test-v1", DIM))


def run_python(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# -- the five operations and the rest of the interface -----------------------------------------------

def test_the_designs_isolation_test(index):
    ns1, ns2 = "org_test1:ws_main:store_docs", "org_test2:ws_main:store_docs"
    v = np.array([0.1, 0.2] + [0.0] * (DIM - 2), dtype=np.float32)
    index.upsert(ns1, [VectorRecord("doc1", v, {"text": "secret1"})])
    index.upsert(ns2, [VectorRecord("doc2", v, {"text": "secret2"})])
    results = index.query(ns1, v, 10)
    assert [m.id for m in results] == ["doc1"]
    assert all(m.metadata["text"] == "secret1" for m in results)


def test_the_five_operations(index):
    rng = np.random.default_rng(0)
    vectors = unit(rng, 30)
    assert index.upsert(NS, [VectorRecord(f"v{i:02}", vectors[i], {"i": i}) for i in range(30)]) == 30
    hits = index.query(NS, vectors[7], 3)
    assert hits[0].id == "v07" and hits[0].metadata == {"i": 7} and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    index.delete(NS, ["v07", "v08", "never-existed"])
    assert index.namespace_stats(NS).vector_count == 28
    assert "v07" not in {h.id for h in index.query(NS, vectors[7], 30)}
    assert set(index.fetch(NS, ["v06", "v07"])) == {"v06"}
    index.delete_namespace(NS)
    assert index.namespace_stats(NS).vector_count == 0
    assert index.query(NS, vectors[0], 5) == [] and index.list_namespaces() == []
    index.delete_namespace(NS)  # a no-op when absent
    assert index.namespace_stats("org_x:never:made").vector_count == 0


def test_no_cross_namespace_hits_over_100_namespaces(index):
    rng = np.random.default_rng(1)
    canaries = {}
    for n in range(100):
        ns = f"org_o{n % 7}:ws_w{n % 3}:store_s{n}"
        canaries[ns] = unit(rng, 3)
        index.upsert(ns, [VectorRecord(f"{ns}#{i}", canaries[ns][i], {"owner": ns}) for i in range(3)])
    every_canary = np.concatenate(list(canaries.values()))
    leaks = 0
    for ns, own in canaries.items():
        for canary in every_canary:
            hits = index.query(ns, canary, 10)
            assert len(hits) == 3
            leaks += sum(h.metadata["owner"] != ns or not h.id.startswith(ns + "#") for h in hits)
        for i in range(3):
            assert index.query(ns, own[i], 1)[0].id == f"{ns}#{i}"
    assert leaks == 0
    listed = index.list_namespaces()
    assert len(listed) == 100 and {s.vector_count for s in listed} == {3}
    assert {s.namespace for s in index.list_namespaces(prefix="org_o3:")} == {
        ns for ns in canaries if ns.startswith("org_o3:")}


def test_upsert_replaces_and_new_values_win(index):
    index.upsert(NS, [VectorRecord("x", np.eye(DIM, dtype=np.float32)[0], {"v": 1}),
                      VectorRecord("y", np.eye(DIM, dtype=np.float32)[2], {"v": 0})])
    index.upsert(NS, [VectorRecord("x", np.eye(DIM, dtype=np.float32)[1] * 3, {"v": 2})])
    assert index.namespace_stats(NS).vector_count == 2
    got = index.fetch(NS, ["x", "missing"])
    assert list(got) == ["x"] and got["x"].metadata == {"v": 2}
    assert np.allclose(got["x"].values, np.eye(DIM)[1])  # cosine indexes store unit vectors
    hit = index.query(NS, np.eye(DIM, dtype=np.float32)[1], 1)[0]
    assert (hit.id, hit.metadata) == ("x", {"v": 2}) and hit.score == pytest.approx(1.0)
    old = {h.id: h.score for h in index.query(NS, np.eye(DIM, dtype=np.float32)[0], 2)}
    assert old["x"] == pytest.approx(0.0, abs=1e-6)  # the old vector is gone
    # Within one call the last record of an id wins.
    index.upsert(NS, [VectorRecord("z", np.ones(DIM), {"n": 1}), VectorRecord("z", np.ones(DIM), {"n": 2})])
    assert index.fetch(NS, ["z"])["z"].metadata == {"n": 2} and index.namespace_stats(NS).vector_count == 3


@pytest.mark.parametrize("metric", ["cosine", "dotproduct", "euclidean"])
def test_results_stay_exact_through_deletes_and_compaction(backend, metric, monkeypatch):
    monkeypatch.setattr(slab_files, "SLAB_ROWS", 300)  # several slabs, and slabs that fill up
    monkeypatch.setattr(compaction, "COMPACT_MIN_DEAD", 200)
    index = backend.ensure_index(IndexSpec(f"exact-{metric}", DIM, metric=metric))
    rng = np.random.default_rng(2)
    truth: dict[str, np.ndarray] = {}
    for round_ in range(6):
        vectors = rng.standard_normal((400, DIM)).astype(np.float32)
        ids = [f"id{(round_ * 250 + i) % 1500:05}" for i in range(400)]
        index.upsert(NS, [VectorRecord(i, v, {"r": round_}) for i, v in zip(ids, vectors)])
        truth.update(zip(ids, vectors))
        doomed = sorted(truth)[round_::2]
        index.delete(NS, doomed)
        for d in doomed:
            truth.pop(d)
        check_exact(index, metric, truth, rng)
    index.compact(NS)
    check_exact(index, metric, truth, rng)
    slabs = sorted(index.namespace_folder(NS).glob("slab-*.f32"))
    assert sum(s.stat().st_size for s in slabs) == len(truth) * DIM * 4  # no dead bytes left


def check_exact(index, metric, truth, rng):
    assert index.namespace_stats(NS).vector_count == len(truth)
    ids = sorted(truth)
    matrix = np.stack([truth[i] for i in ids])
    if metric == "cosine":
        matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    for q in rng.standard_normal((5, DIM)).astype(np.float32):
        if metric == "euclidean":
            scores = ((matrix - q) ** 2).sum(axis=1)
            order = np.argsort(scores)
        else:
            qq = q / np.linalg.norm(q) if metric == "cosine" else q
            scores = matrix @ qq
            order = np.argsort(-scores)
        hits = index.query(NS, q, 10)
        assert [h.id for h in hits] == [ids[i] for i in order[:10]]
        assert np.allclose([h.score for h in hits], scores[order[:10]], rtol=1e-4, atol=1e-4)


def test_calls_with_more_ids_than_one_sqlite_statement_takes(index, monkeypatch):
    """fetch, query hits, delete and the dead-row bitmaps look ids up 500 at a time (core/vectors/sql.py)."""
    monkeypatch.setattr(compaction, "COMPACT_MIN_DEAD", 10**9)  # dead rows stay: the bitmaps must mark them
    rng = np.random.default_rng(31)
    vectors = unit(rng, 1234)
    ids = [f"m{i:04}" for i in range(1234)]
    index.upsert(NS, [VectorRecord(vid, v, {"i": i}) for i, (vid, v) in enumerate(zip(ids, vectors))])
    fetched = index.fetch(NS, ids)
    assert list(fetched) == ids and all(np.allclose(fetched[v].values, vectors[i], atol=1e-6) for i, v in enumerate(ids))
    assert sorted(h.id for h in index.query(NS, vectors[0], 2000)) == ids
    index.delete(NS, ids[:1100])
    kept = ids[1100:]
    assert index.namespace_stats(NS).vector_count == 134 and index.fetch(NS, ids).keys() == set(kept)
    assert sorted(h.id for h in LocalIndex(index.folder).query(NS, vectors[0], 2000)) == kept  # a new reader: bitmaps


def test_automatic_compaction_bounds_dead_rows(index, monkeypatch):
    monkeypatch.setattr(compaction, "COMPACT_MIN_DEAD", 100)
    rng = np.random.default_rng(3)
    for _ in range(10):  # every round rewrites the same 100 ids
        index.upsert(NS, [VectorRecord(f"k{i}", v) for i, v in enumerate(unit(rng, 100))])
    folder = index.namespace_folder(NS)
    rows = sum(p.stat().st_size for p in folder.glob("slab-*.f32")) // (DIM * 4)
    assert rows <= 300 and index.namespace_stats(NS).vector_count == 100


def test_bytes_left_by_a_dead_writer_are_ignored_then_removed(index):
    rng = np.random.default_rng(4)
    vectors = unit(rng, 10)
    index.upsert(NS, [VectorRecord(f"a{i}", vectors[i]) for i in range(10)])
    folder = index.namespace_folder(NS)
    slab = next(folder.glob("slab-*.f32"))
    with open(slab, "ab") as f:  # what a writer killed after its append but before its commit leaves
        f.write(np.full((5, DIM), 7.0, dtype=np.float32).tobytes())
    (folder / "slab-000099.f32").write_bytes(b"\0" * DIM * 4 * 3)
    assert index.namespace_stats(NS).vector_count == 10
    assert len(index.query(NS, vectors[0], 100)) == 10
    index.upsert(NS, [VectorRecord("b", vectors[1] * -1)])  # the next writer overwrites the junk
    assert slab.stat().st_size == 11 * DIM * 4
    assert np.allclose(index.fetch(NS, ["b"])["b"].values, -vectors[1], atol=1e-6)
    index.compact(NS)
    assert not (folder / "slab-000099.f32").exists()
    assert sorted(all_ids(index, NS)) == sorted([f"a{i}" for i in range(10)] + ["b"])


def test_filters(index):
    rng = np.random.default_rng(5)
    vectors = unit(rng, 60)
    index.upsert(NS, [VectorRecord(f"d{i:02}", vectors[i], {"path": f"f{i % 3}.md", "n": i, **({"tag": "x"} if i < 5 else {})})
                      for i in range(60)])

    def ns(flt):
        return sorted(h.metadata["n"] for h in index.query(NS, vectors[0], 100, filter=flt))

    assert ns({"path": "f1.md"}) == list(range(1, 60, 3))
    assert ns({"path": {"$eq": "f1.md"}, "n": {"$lt": 10}}) == [1, 4, 7]
    assert ns({"path": {"$ne": "f0.md"}, "n": {"$lte": 5}}) == [1, 2, 4, 5]
    assert ns({"n": {"$in": [3, 40, 99]}}) == [3, 40]
    assert ns({"n": {"$nin": list(range(2, 60))}}) == [0, 1]
    assert ns({"n": {"$gt": 57}}) == [58, 59] and ns({"n": {"$gte": 58}}) == [58, 59]
    assert ns({"tag": {"$exists": True}}) == [0, 1, 2, 3, 4]
    assert len(ns({"tag": {"$exists": False}})) == 55
    assert ns({"$or": [{"n": {"$lt": 2}}, {"n": {"$in": [50, 51]}}]}) == [0, 1, 50, 51]
    assert ns({"$and": [{"n": {"$gte": 10}}, {"n": {"$lt": 13}}, {"path": "f2.md"}]}) == [11]
    assert ns({"path": "nope.md"}) == []
    hits = index.query(NS, vectors[0], 2, filter={"path": "f0.md"})
    assert [h.id for h in hits][0] == "d00" and len(hits) == 2
    with pytest.raises(LightfastError, match=r"unknown filter operator '\$regex'"):
        index.query(NS, vectors[0], 3, filter={"path": {"$regex": "f.*"}})


def test_list_ids_pagination(index):
    rng = np.random.default_rng(6)
    vectors = unit(rng, 250)
    index.upsert(NS, [VectorRecord(f"doc{i % 5}:{i:03}", vectors[i]) for i in range(250)])
    pages, token = [], None
    while True:
        page, token = index.list_ids(NS, limit=100, pagination_token=token)
        pages.append(page)
        if not token:
            break
    assert [len(p) for p in pages] == [100, 100, 50]
    flat = sum(pages, [])
    assert flat == sorted(flat) and len(set(flat)) == 250
    assert index.list_ids(NS, limit=50)[1] == index.list_ids(NS, limit=50)[0][-1]
    prefixed, token = index.list_ids(NS, prefix="doc3:", limit=30)
    rest, end = index.list_ids(NS, prefix="doc3:", limit=30, pagination_token=token)
    assert len(prefixed) == 30 and len(rest) == 20 and end is None
    assert all(i.startswith("doc3:") for i in prefixed + rest)
    assert index.list_ids(NS, limit=250) == (flat, None)
    assert index.list_ids("org_x:none:none") == ([], None)


def test_namespace_names_any_characters_and_long(index):
    names = ["Org:WS:Store", "org:ws:store", "a/b\\c%2F:d", ".hidden", "ünï:cødé", "x" * 512, "x" * 511 + "y"]
    for n, name in enumerate(names):
        index.upsert(name, [VectorRecord(f"id{n}", np.eye(DIM, dtype=np.float32)[n])])
    assert [s.namespace for s in index.list_namespaces()] == sorted(names)
    for n, name in enumerate(names):
        assert [h.id for h in index.query(name, np.ones(DIM, dtype=np.float32), 5)] == [f"id{n}"]
    slots = [encode_namespace(n) for n in names]
    assert len(set(s.lower() for s in slots)) == len(names)  # distinct even on case-insensitive disks
    assert all(len(s) <= 200 and "/" not in s and not s.startswith(".") for s in slots)
    assert index.list_namespaces(prefix="x" * 511) == [NamespaceStats(n, 1) for n in sorted(names[-2:])]


# -- errors ------------------------------------------------------------------------------------------

def test_clear_errors(index, backend):
    with pytest.raises(DimensionMismatchError, match=f"'{NS}', id 'x'.*8 dimensions.*16-dimensional"):
        index.upsert(NS, [VectorRecord("x", np.ones(8, dtype=np.float32))])
    with pytest.raises(DimensionMismatchError):
        index.query(NS, np.ones(8, dtype=np.float32), 3)
    with pytest.raises(LightfastError, match="invalid vector id 'ééé' in namespace"):
        index.upsert(NS, [VectorRecord("é" * 3, np.ones(DIM, dtype=np.float32))])
    for bad_id in ["", "a" * 513, "nul\0"]:
        with pytest.raises(LightfastError, match="invalid vector id"):
            index.upsert(NS, [VectorRecord(bad_id, np.ones(DIM, dtype=np.float32))])
    for bad_ns in ["bad\0ns", "", "n" * 513]:
        with pytest.raises(LightfastError, match="invalid namespace"):
            index.upsert(bad_ns, [VectorRecord("x", np.ones(DIM, dtype=np.float32))])
    with pytest.raises(LightfastError, match=f"'{NS}', id 'y'.*finite"):
        index.upsert(NS, [VectorRecord("ok", np.ones(DIM)), VectorRecord("y", np.full(DIM, np.nan))])
    with pytest.raises(LightfastError, match="id 'm'.*not JSON-serialisable"):
        index.upsert(NS, [VectorRecord("m", np.ones(DIM), {"when": object()})])
    with pytest.raises(LightfastError, match="top_k"):
        index.query(NS, np.ones(DIM), 0)
    assert index.namespace_stats(NS).vector_count == 0  # nothing half-written by the failures
    with pytest.raises(NotFoundError, match="does not exist"):
        backend.index("missing-v1")
    with pytest.raises(LightfastError, match="invalid index name"):
        backend.index("../escape")


@pytest.mark.parametrize("name", ["../../../x", "/tmp/abs-index", "..", "a/b", "Upper-Case", "under_score",
                                  "x" * 46, "-leading", "trailing-"])
def test_index_names_follow_pinecones_rule_so_none_is_a_path(backend, tmp_path, name):
    with pytest.raises(LightfastError, match="invalid index name .*Pinecone's rule"):
        backend.create_index(IndexSpec(name, DIM))
    with pytest.raises(LightfastError, match="invalid index name"):
        backend.index(name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["indexes"]  # nothing written beside the root
    assert list(backend.root.iterdir()) == []


def test_no_index_or_namespace_folder_resolves_outside_the_data_dir(backend, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, backend.root / "linked-v1")  # an index folder that is a symlink out
    with pytest.raises(LightfastError, match="outside .*indexes"):
        backend.create_index(IndexSpec("linked-v1", DIM))
    index = backend.ensure_index(IndexSpec("test-v1", DIM))
    os.symlink(outside, index.folder / "ns" / encode_namespace(NS))  # a namespace slot that is a symlink out
    with pytest.raises(LightfastError, match=f"folder of namespace '{NS}' .* outside"):
        index.upsert(NS, [VectorRecord("a", np.ones(DIM))])
    with pytest.raises(LightfastError, match="outside"):
        index.query(NS, np.ones(DIM), 1)
    assert list(outside.iterdir()) == []


def test_index_lifecycle_and_deletion_protection(backend, tmp_path):
    backend.create_index(IndexSpec("protected", DIM, deletion_protection=True, tags={"env": "test"}))
    backend.create_index(IndexSpec("protected", DIM, deletion_protection=True, tags={"env": "test"}))  # idempotent
    meta = json.loads((backend.root / "protected" / "index.json").read_text())
    assert (meta["name"], meta["dimension"], meta["metric"], meta["tags"]) == ("protected", DIM, "cosine", {"env": "test"})
    assert meta["deletion_protection"] is True and meta["created_at"]
    with pytest.raises(LightfastError, match="deletion protection"):
        backend.delete_index("protected")
    assert backend.index_exists("protected")
    with pytest.raises(DimensionMismatchError, match="exists with 16-dimensional"):
        backend.create_index(IndexSpec("protected", 32))
    backend.create_index(IndexSpec("protected", DIM, deletion_protection=False))  # configuration is applied
    assert backend.index("protected").deletion_protection is False
    backend.delete_index("protected")
    assert backend.list_indexes() == [] and not backend.index_exists("protected")
    with pytest.raises(NotFoundError):
        backend.index("protected")


def test_two_processes_creating_one_index_race_safely(backend):
    script = textwrap.dedent("""
        import sys
        from pathlib import Path
        from core.vectors.base import IndexSpec
        from core.vectors.local import LocalBackend
        backend = LocalBackend(Path(sys.argv[1]))
        for i in range(30):
            backend.create_index(IndexSpec(f"race-{i}", 8, tags={"n": str(i)}))
        print(len(backend.list_indexes()))
    """)
    procs = [run_python(script, str(backend.root)) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert len(backend.list_indexes()) == 30
    assert not list(backend.root.glob("*/.index.json.*"))  # no temp files left
    assert backend.index("race-7").tags == {"n": "7"}


# -- concurrency and crashes -------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, numpy as np
    from pathlib import Path
    from core.vectors.base import IndexSpec, VectorRecord
    from core.vectors.local import LocalBackend
    root, seed, batches, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    index = LocalBackend(Path(root)).ensure_index(IndexSpec("test-v1", {dim}))
    for batch in range(batches):
        m = np.random.default_rng([seed, batch]).standard_normal((size, {dim})).astype(np.float32)
        # ids "shared-*" are written by both writers; the rest are each writer's own
        ids = [f"shared-{{batch}}-{{i}}" if i < 5 else f"{{seed}}-{{batch}}-{{i}}" for i in range(size)]
        index.upsert("{ns}", [VectorRecord(ids[i], m[i], {{"seed": seed}}) for i in range(size)])
        print(batch, flush=True)
""").format(dim=DIM, ns=NS)


def test_two_processes_upserting_one_namespace_end_with_the_union(backend, index):
    rng = np.random.default_rng(7)
    index.upsert(NS, [VectorRecord("before", unit(rng)[0])])
    assert len(index.query(NS, np.ones(DIM), 10)) == 1  # this process now holds a cached view
    procs = [run_python(WRITER, str(backend.root), str(seed), "25", "40") for seed in (1, 2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    expected = {"before"} | {f"shared-{b}-{i}" for b in range(25) for i in range(5)}
    expected |= {f"{s}-{b}-{i}" for s in (1, 2) for b in range(25) for i in range(5, 40)}
    ids = all_ids(index, NS)
    assert len(ids) == len(expected) and set(ids) == expected
    assert index.namespace_stats(NS).vector_count == len(expected)
    assert {h.id for h in index.query(NS, np.ones(DIM), 5000)} == expected  # the cached view was refreshed


def test_threads_writing_and_reading_one_index(index):
    errors = []

    def work(t):
        try:
            rng = np.random.default_rng(t)
            for b in range(15):
                ns = NS if t % 2 else f"{NS}-{t}"
                index.upsert(ns, [VectorRecord(f"t{t}-{b}-{i}", v) for i, v in enumerate(unit(rng, 10))])
                index.query(ns, unit(rng)[0], 5)
                if b % 5 == 4:
                    index.delete(ns, [f"t{t}-{b}-0"])
        except Exception as exc:  # any error here is a bug
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert index.namespace_stats(NS).vector_count == 3 * (150 - 3)
    assert sum(s.vector_count for s in index.list_namespaces()) == 6 * (150 - 3)


@pytest.mark.parametrize("kill_after", [1, 4, 9])
def test_a_writer_killed_mid_upsert_leaves_the_index_readable(backend, index, kill_after):
    size = 200
    proc = run_python(WRITER, str(backend.root), "7", "100000", str(size))
    printed = []
    while len(printed) < kill_after:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        printed.append(int(line))
    proc.send_signal(signal.SIGKILL)  # somewhere inside a later upsert
    proc.wait(timeout=30)
    count = index.namespace_stats(NS).vector_count
    committed = (count // size)
    assert count % size == 0 and committed >= kill_after  # whole upserts only
    for batch in range(committed):  # every committed id is there and findable by its own vector
        m = np.random.default_rng([7, batch]).standard_normal((size, DIM)).astype(np.float32)
        ids = [f"shared-{batch}-{i}" if i < 5 else f"7-{batch}-{i}" for i in range(size)]
        for i in (0, 17, size - 1):
            assert index.query(NS, m[i], 1)[0].id == ids[i]
        assert len(index.fetch(NS, ids)) == size
    hits = index.query(NS, np.ones(DIM, dtype=np.float32), count)
    assert len(hits) == count and all(np.isfinite(h.score) for h in hits)
    # The next writer works, over whatever bytes the killed one left.
    index.upsert(NS, [VectorRecord("after-kill", np.ones(DIM, dtype=np.float32))])
    assert index.query(NS, np.ones(DIM, dtype=np.float32), 1)[0].id == "after-kill"
    assert np.allclose(index.fetch(NS, ["after-kill"])["after-kill"].values, np.ones(DIM) / np.sqrt(DIM), atol=1e-6)
    assert index.namespace_stats(NS).vector_count == count + 1
    index.compact(NS)
    slabs = index.namespace_folder(NS).glob("slab-*.f32")
    assert sum(p.stat().st_size for p in slabs) == (count + 1) * DIM * 4


def test_delete_namespace_under_a_concurrent_reader(index):
    rng = np.random.default_rng(8)
    index.upsert(NS, [VectorRecord(f"v{i}", v) for i, v in enumerate(unit(rng, 500))])
    errors, seen = [], []
    stop = threading.Event()
    started = threading.Event()

    def reader():
        r = np.random.default_rng(9)
        while not stop.is_set():
            try:
                seen.append(len(index.query(NS, unit(r)[0], 5)))
                index.namespace_stats(NS)
                index.list_ids(NS, limit=10)
                started.set()
            except Exception as exc:  # any error here is a bug
                errors.append(exc)
                started.set()

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    started.wait(30)
    index.delete_namespace(NS)
    # Once delete_namespace returns, every query sees an empty namespace.
    assert index.query(NS, unit(rng)[0], 5) == [] and index.namespace_stats(NS).vector_count == 0
    stop.set()
    for t in threads:
        t.join()
    assert errors == [] and set(seen) <= {0, 5}
    assert not list((index.folder / ".trash").iterdir())
    index.upsert(NS, [VectorRecord("again", unit(rng)[0])])
    assert [m.id for m in index.query(NS, unit(rng)[0], 5)] == ["again"]


def test_a_stale_reader_cannot_damage_a_recreated_namespace(backend, index):
    """A reader holding connections and caches of a deleted namespace neither sees nor damages
    the namespace re-created under the same name (SQLite finds `-wal`/`-shm` files by path)."""
    rng = np.random.default_rng(10)
    index.upsert(NS, [VectorRecord(f"old{i}", v) for i, v in enumerate(unit(rng, 50))])
    stale = LocalIndex(index.folder)  # another reader, with its own connections
    assert len(stale.query(NS, unit(rng)[0], 5)) == 5
    index.delete_namespace(NS)
    index.upsert(NS, [VectorRecord(f"new{i}", v) for i, v in enumerate(unit(rng, 20))])
    assert stale.query(NS, unit(rng)[0], 100)[0].id.startswith("new")  # drops its stale connections
    stale._drop(NS, None)
    del stale
    fresh = LocalIndex(index.folder)
    assert sorted(all_ids(fresh, NS)) == sorted(f"new{i}" for i in range(20))
    assert len(fresh.query(NS, unit(rng)[0], 100)) == 20


def test_a_reader_in_another_process_sees_each_commit(backend, index):
    script = textwrap.dedent("""
        import sys, numpy as np
        from pathlib import Path
        from core.vectors.local import LocalBackend
        index = LocalBackend(Path(sys.argv[1])).index("test-v1")
        for line in sys.stdin:
            print(len(index.query("{ns}", np.ones({dim}, dtype=np.float32), 1000)), flush=True)
    """).format(ns=NS, dim=DIM)
    reader = subprocess.Popen([sys.executable, "-c", script, str(backend.root)], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rng = np.random.default_rng(11)
    try:
        for step in range(1, 6):
            index.upsert(NS, [VectorRecord(f"s{step}-{i}", v) for i, v in enumerate(unit(rng, 10))])
            reader.stdin.write("go\n")
            reader.stdin.flush()
            assert int(reader.stdout.readline()) == 10 * step
        index.delete_namespace(NS)
        reader.stdin.write("go\n")
        reader.stdin.flush()
        assert int(reader.stdout.readline()) == 0
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
    assert reader.returncode == 0, reader.stderr.read()


def _child_upserts(index, queue):
    try:
        index.upsert(NS, [VectorRecord("from-child", np.ones(DIM, dtype=np.float32))])
        queue.put(len(index.query(NS, np.ones(DIM, dtype=np.float32), 100)))
    except Exception as exc:  # reported to the parent
        queue.put(repr(exc))


def test_a_forked_child_does_not_reuse_the_parents_connections(index):
    import multiprocessing

    index.upsert(NS, [VectorRecord(f"p{i}", v) for i, v in enumerate(unit(np.random.default_rng(12), 5))])
    assert len(index.query(NS, np.ones(DIM), 10)) == 5  # the parent now pools connections
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_upserts, args=(index, queue))
    child.start()
    assert queue.get(timeout=60) == 6
    child.join(60)
    assert child.exitcode == 0
    assert len(index.query(NS, np.ones(DIM), 10)) == 6


# -- checksums, dead-row bitmaps and the layout upgrade ----------------------------------------------

def as_layout_1(folder: Path) -> None:
    """Strip a namespace back to layout 1 (no checksums, bitmaps or place index), as older versions wrote it."""
    conn = sqlite3.connect(folder / "meta.sqlite")
    try:
        conn.executescript("DROP TABLE segments; DROP TABLE dead_rows; DROP INDEX vectors_place; PRAGMA user_version=1;")
    finally:
        conn.close()


def layout_version(folder: Path) -> int:
    conn = sqlite3.connect(folder / "meta.sqlite")
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def flip_row(folder: Path, slab: int, row: int, raw: bytes = b"\x01" * 4 * DIM) -> Path:
    path = folder / f"slab-{slab:06d}.f32"
    with open(path, "r+b") as f:
        f.seek(row * DIM * 4)
        f.write(raw)
    return path


def test_deletes_in_any_order_keep_every_dead_row(index):
    """Each delete rewrites its slab's bitmap: a later delete of an earlier row keeps the later rows' bits."""
    rng = np.random.default_rng(20)
    vectors = unit(rng, 40)
    index.upsert(NS, [VectorRecord(f"r{i:02}", vectors[i]) for i in range(40)])
    gone = [37, 21, 5, 30, 0]
    for i in gone:  # one call each, rows out of order
        index.delete(NS, [f"r{i:02}"])
    index.upsert(NS, [VectorRecord("r10", vectors[10] * -1)])  # a replaced row is dead too
    expected = sorted(f"r{i:02}" for i in range(40) if i not in gone)
    for reader in (index, LocalIndex(index.folder)):
        hits = reader.query(NS, vectors[21], 100)
        assert sorted(h.id for h in hits) == expected
        assert hits[0].id != "r21" and reader.query(NS, -vectors[10], 1)[0].id == "r10"


def test_each_segment_is_checked_once_per_process(index, monkeypatch):
    monkeypatch.setattr(layout, "SEGMENT_ROWS", 10)  # each upsert below its own segment
    rng = np.random.default_rng(21)
    for b in range(3):
        index.upsert(NS, [VectorRecord(f"b{b}-{i}", v) for i, v in enumerate(unit(rng, 10))])
    checked: list[int] = []
    real = layout.checksum
    monkeypatch.setattr(layout, "checksum", lambda block: checked.append(len(block)) or real(block))
    reader = LocalIndex(index.folder)
    reader.query(NS, unit(rng)[0], 5)
    assert checked == [10, 10, 10]  # every segment, at open
    checked.clear()
    index.upsert(NS, [VectorRecord(f"b3-{i}", v) for i, v in enumerate(unit(rng, 4))])  # the writer's own: 4
    reader.query(NS, unit(rng)[0], 5)  # a new generation: only the new segment is read
    assert checked == [4, 4]


def test_compaction_rewrites_checksums_and_never_launders_damage(index, monkeypatch):
    monkeypatch.setattr(compaction, "COMPACT_MIN_DEAD", 10**9)  # only explicit compactions here
    monkeypatch.setattr(layout, "SEGMENT_ROWS", 20)  # each upsert below its own segment
    rng = np.random.default_rng(22)
    vectors = unit(rng, 60)
    for b in range(3):
        index.upsert(NS, [VectorRecord(f"c{i:02}", vectors[i]) for i in range(b * 20, b * 20 + 20)])
    index.delete(NS, [f"c{i:02}" for i in range(0, 60, 2)])
    folder = index.namespace_folder(NS)
    slab = flip_row(folder, 1, 21)  # c21: live, in the second segment
    with pytest.raises(IndexDamagedError, match=r"slab-000001.f32: rows 20 to 39 .*no longer match their checksum"):
        index.compact(NS)  # refuses to copy the damaged rows under a fresh checksum
    with pytest.raises(IndexDamagedError, match="rows 20 to 39"):
        LocalIndex(index.folder).query(NS, vectors[1], 5)
    index.upsert(NS, [VectorRecord(f"c{i:02}", vectors[i]) for i in range(21, 40, 2)])  # re-write that segment's ids
    assert slab.exists() and [h.id for h in LocalIndex(index.folder).query(NS, vectors[21], 1)] == ["c21"]
    index.compact(NS)  # now it copies only sound rows
    assert not slab.exists()
    conn = sqlite3.connect(folder / "meta.sqlite")
    segments = conn.execute("SELECT slab, start, rows FROM segments").fetchall()
    assert conn.execute("SELECT COUNT(*) FROM dead_rows").fetchone()[0] == 0
    conn.close()
    assert [(start, rows) for _, start, rows in segments] == [(0, 30)]  # one per new slab
    reader = LocalIndex(index.folder)
    assert sorted(h.id for h in reader.query(NS, vectors[1], 100)) == sorted(f"c{i:02}" for i in range(1, 60, 2))
    flip_row(folder, segments[0][0], 29)
    with pytest.raises(IndexDamagedError, match="rows 0 to 29"):  # the new checksums are checked too
        LocalIndex(index.folder).query(NS, vectors[1], 5)


def test_damage_in_rows_nobody_points_at_is_ignored(index, monkeypatch):
    monkeypatch.setattr(layout, "SEGMENT_ROWS", 10)  # each upsert below its own segment
    rng = np.random.default_rng(23)
    vectors = unit(rng, 20)
    index.upsert(NS, [VectorRecord(f"d{i}", vectors[i]) for i in range(10)])
    index.upsert(NS, [VectorRecord(f"d{i}", vectors[i]) for i in range(10, 20)])
    index.upsert(NS, [VectorRecord(f"d{i}", vectors[i]) for i in range(10)])  # rows 0-9 now dead
    flip_row(index.namespace_folder(NS), 1, 3, b"\xff" * 4 * DIM)
    assert sorted(h.id for h in LocalIndex(index.folder).query(NS, vectors[3], 100)) == sorted(f"d{i}" for i in range(20))


def test_rewriting_every_id_recovers_even_in_the_process_that_trusted_the_damaged_bytes(index):
    """What `ingest --full` does, in a long-lived process (TUI, MCP server, watcher) that wrote and
    read the segment before it was damaged: the new rows must not extend the damaged segment."""
    rng = np.random.default_rng(27)
    vectors = unit(rng, 30)
    for b in range(3):
        index.upsert(NS, [VectorRecord(f"t{i:02}", vectors[i]) for i in range(b * 10, b * 10 + 10)])
    assert len(index.query(NS, vectors[0], 100)) == 30  # checked, and trusted from now on in this process
    folder = index.namespace_folder(NS)
    flip_row(folder, 1, 3)
    with pytest.raises(IndexDamagedError, match="rows 0 to 29"):
        LocalIndex(index.folder).query(NS, vectors[0], 5)
    index.upsert(NS, [VectorRecord(f"t{i:02}", vectors[i]) for i in range(30)])
    conn = sqlite3.connect(folder / "meta.sqlite")
    assert conn.execute("SELECT start, rows FROM segments ORDER BY start").fetchall() == [(0, 30), (30, 30)]
    conn.close()
    for reader in (index, LocalIndex(index.folder)):
        hits = reader.query(NS, vectors[3], 100)
        assert hits[0].id == "t03" and len(hits) == 30


def test_small_upserts_grow_one_segment_whose_every_part_is_checked(index, monkeypatch):
    monkeypatch.setattr(layout, "SEGMENT_ROWS", 64)
    rng = np.random.default_rng(26)
    vectors = unit(rng, 150)
    for i in range(150):  # one vector per upsert, as a watcher might write
        index.upsert(NS, [VectorRecord(f"s{i:03}", vectors[i])])
    folder = index.namespace_folder(NS)
    conn = sqlite3.connect(folder / "meta.sqlite")
    segments = conn.execute("SELECT start, rows FROM segments ORDER BY start").fetchall()
    conn.close()
    assert segments == [(0, 64), (64, 64), (128, 22)]  # grown by appends, not one per upsert
    assert len(LocalIndex(index.folder).query(NS, vectors[0], 200)) == 150
    for row in (0, 63, 64, 149):  # the first and last block of a grown segment alike
        good = (folder / "slab-000001.f32").read_bytes()
        flip_row(folder, 1, row)
        first = {0: 0, 63: 0, 64: 64, 149: 128}[row]
        with pytest.raises(IndexDamagedError, match=f"rows {first} to "):
            LocalIndex(index.folder).query(NS, vectors[0], 5)
        (folder / "slab-000001.f32").write_bytes(good)
    assert len(LocalIndex(index.folder).query(NS, vectors[0], 200)) == 150


@pytest.mark.parametrize("read_only", [False, True], ids=["upgraded", "read-only-disk"])
def test_a_layout_1_namespace_keeps_working(index, read_only):
    rng = np.random.default_rng(24)
    vectors = unit(rng, 50)
    index.upsert(NS, [VectorRecord(f"e{i:02}", vectors[i], {"n": i}) for i in range(50)])
    index.delete(NS, ["e07", "e30"])
    index.upsert(NS, [VectorRecord("e08", vectors[9], {"n": 8})])
    before = [(h.id, h.metadata) for h in index.query(NS, vectors[8], 50)]
    folder = index.namespace_folder(NS)
    as_layout_1(folder)
    reader = LocalIndex(index.folder)
    reader._read_only = read_only  # as on a read-only mount: read as it is, never written
    assert [(h.id, h.metadata) for h in reader.query(NS, vectors[8], 50)] == before
    assert sorted(h.metadata["n"] for h in reader.query(NS, vectors[0], 50, filter={"n": {"$lt": 5}})) == [0, 1, 2, 3, 4]
    assert layout_version(folder) == (1 if read_only else 2)
    if not read_only:  # upgraded in place: checksums of every live slab, bitmaps of its dead rows
        flip_row(folder, 1, 20)
        with pytest.raises(IndexDamagedError, match="rows 0 to 50 .*checksum"):
            LocalIndex(index.folder).query(NS, vectors[8], 5)


def test_a_layout_1_namespace_with_a_truncated_slab_upgrades_and_recovers(index):
    rng = np.random.default_rng(28)
    vectors = unit(rng, 20)
    index.upsert(NS, [VectorRecord(f"u{i:02}", vectors[i]) for i in range(20)])
    folder = index.namespace_folder(NS)
    as_layout_1(folder)
    with open(folder / "slab-000001.f32", "r+b") as f:
        f.truncate(5 * DIM * 4)
    with pytest.raises(IndexDamagedError, match="slab-000001.f32: holds 5 rows .*truncated"):
        LocalIndex(index.folder).query(NS, vectors[0], 5)
    assert layout_version(folder) == 2  # upgraded all the same: the short slab has no checksum
    index.upsert(NS, [VectorRecord(f"u{i:02}", vectors[i]) for i in range(20)])  # what ingest --full does
    hits = LocalIndex(index.folder).query(NS, vectors[7], 100)
    assert hits[0].id == "u07" and len(hits) == 20


HOLD = textwrap.dedent("""
    import sys, numpy as np
    from pathlib import Path
    import core.vectors.layout as layout
    import core.vectors.local as local
    import core.vectors.slabs as slabs
    from core.vectors.base import IndexSpec, VectorRecord
    root, where, action, slab_rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    slabs.SLAB_ROWS = slab_rows
    index = local.LocalBackend(Path(root)).ensure_index(IndexSpec("test-v1", {dim}))

    def hold(real):
        def held(*args, **kwargs):
            out = real(*args, **kwargs)
            print(where, flush=True)
            sys.stdin.readline()  # held here until the parent kills this process
            return out
        return held

    if where == "appended":  # rows written and fsynced, the transaction not begun
        local.LocalIndex._append = hold(local.LocalIndex._append)
    elif where == "committing":  # inside the write transaction, before COMMIT
        layout.retire = hold(layout.retire)
    elif where == "compacting":  # new slabs written, their transaction open
        layout.rewrite = hold(layout.rewrite)
    elif where == "upgrading":  # layout 1 to 2, inside its transaction
        layout.upgrade = hold(layout.upgrade)
    if action == "upsert":
        m = np.random.default_rng(99).standard_normal((50, {dim})).astype(np.float32)
        index.upsert("{ns}", [VectorRecord(f"late-{{i}}", m[i]) for i in range(50)])
    elif action == "compact":
        index.compact("{ns}")
    else:
        index.query("{ns}", np.ones({dim}, dtype=np.float32), 1)
    print("not held", flush=True)
""").format(dim=DIM, ns=NS)


@pytest.mark.parametrize("where,action,slab_rows", [
    ("appended", "upsert", 65_536),  # past the committed rows of the last slab
    ("appended", "upsert", 40),  # into a new slab file no row points at
    ("committing", "upsert", 65_536),
    ("compacting", "compact", 65_536),
    ("upgrading", "read", 65_536),
])
def test_a_kill_between_append_and_commit_leaves_a_readable_namespace(backend, index, where, action, slab_rows):
    rng = np.random.default_rng(25)
    vectors = unit(rng, 40)
    index.upsert(NS, [VectorRecord(f"k{i:02}", vectors[i], {"i": i}) for i in range(40)])
    index.delete(NS, [f"k{i:02}" for i in range(0, 40, 3)])  # dead rows, so compaction has work
    expected = sorted(f"k{i:02}" for i in range(40) if i % 3)
    folder = index.namespace_folder(NS)
    if where == "upgrading":
        as_layout_1(folder)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(backend.root), where, action, str(slab_rows)],
                            cwd=ROOT, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    marker = proc.stdout.readline().strip()
    assert marker == where, proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdin.close()
    if where == "upgrading":
        assert layout_version(folder) == 1  # rolled back whole
    else:  # the killed writer's bytes are there, past what any committed row points at
        assert sum(p.stat().st_size for p in folder.glob("slab-*.f32")) > 40 * DIM * 4
    reader = LocalIndex(index.folder)  # a new process's view: every checksum checked
    assert sorted(all_ids(reader, NS)) == expected and reader.namespace_stats(NS).vector_count == len(expected)
    assert reader.query(NS, vectors[5], 1)[0].id == "k05"
    assert {h.id for h in reader.query(NS, vectors[5], 100)} == set(expected)
    assert np.allclose(reader.fetch(NS, ["k05"])["k05"].values, vectors[5], atol=1e-6)
    # The next writer works over whatever the killed one left, and compaction leaves no stray byte.
    index.upsert(NS, [VectorRecord("after", vectors[0])])
    index.compact(NS)
    fresh = LocalIndex(index.folder)
    assert sorted(all_ids(fresh, NS)) == sorted(expected + ["after"])
    assert fresh.query(NS, vectors[0], 1)[0].id == "after"
    assert sum(p.stat().st_size for p in folder.glob("slab-*.f32")) == (len(expected) + 1) * DIM * 4
    assert layout_version(folder) == 2
