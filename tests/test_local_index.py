"""The local shared index: the five operations, isolation, exactness, and safety across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from core.errors import DimensionMismatchError, LightfastError
from core.vectors.base import IndexSpec, VectorRecord
from core.vectors.local import LocalBackend

DIM = 16


def unit(rng, n=1):
    m = rng.standard_normal((n, DIM)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@pytest.fixture
def backend(tmp_path):
    return LocalBackend(tmp_path / "indexes")


@pytest.fixture
def index(backend):
    return backend.ensure_index(IndexSpec("test-v1", DIM))


def test_the_designs_isolation_test(index):
    ns1, ns2 = "org_test1:ws_main:store_docs", "org_test2:ws_main:store_docs"
    v = np.array([0.1, 0.2] + [0.0] * (DIM - 2), dtype=np.float32)
    index.upsert(ns1, [VectorRecord("doc1", v, {"text": "secret1"})])
    index.upsert(ns2, [VectorRecord("doc2", v, {"text": "secret2"})])
    matches = index.query(ns1, v, 10)
    assert [m.id for m in matches] == ["doc1"]
    assert all(m.metadata["text"] == "secret1" for m in matches)


def test_no_cross_namespace_hits_over_100_namespaces(index):
    rng = np.random.default_rng(0)
    canaries = {}
    for n in range(100):
        ns = f"org_o{n % 7}:ws_w{n % 3}:store_s{n}"
        vectors = unit(rng, 5)
        index.upsert(ns, [VectorRecord(f"{ns}#{i}", vectors[i], {"owner": ns}) for i in range(5)])
        canaries[ns] = vectors
    leaks = 0
    for ns in canaries:
        for other_vectors in list(canaries.values())[:20]:  # every namespace probed with others' canaries
            for match in index.query(ns, other_vectors[0], 10):
                leaks += match.metadata["owner"] != ns or not match.id.startswith(ns + "#")
    assert leaks == 0
    assert len(index.list_namespaces()) == 100
    assert {s.vector_count for s in index.list_namespaces()} == {5}


def test_results_are_exact_through_upserts_deletes_and_compaction(index):
    rng = np.random.default_rng(1)
    ns = "org_a:ws_b:store_c"
    truth = {}
    for round_ in range(6):
        vectors = unit(rng, 800)
        ids = [f"id{(round_ * 500 + i) % 2000:05}" for i in range(800)]
        index.upsert(ns, [VectorRecord(i, v, {"r": round_}) for i, v in zip(ids, vectors)])
        truth.update(zip(ids, vectors))
        doomed = sorted(truth)[round_::3]
        index.delete(ns, doomed)
        for d in doomed:
            truth.pop(d)
    index.compact(ns)
    assert index.namespace_stats(ns).vector_count == len(truth)
    ids = sorted(truth)
    matrix = np.stack([truth[i] for i in ids])
    for q in unit(rng, 20):
        expected = [ids[i] for i in np.argsort(-(matrix @ q))[:10]]
        assert [m.id for m in index.query(ns, q, 10)] == expected
    slabs = list(index._dir(ns).glob("slab-*.f32"))
    assert len(slabs) == 1 and slabs[0].stat().st_size == len(truth) * DIM * 4


def test_upsert_replaces_and_fetch_returns_values(index):
    ns = "org_a:ws_b:store_c"
    index.upsert(ns, [VectorRecord("x", np.eye(DIM, dtype=np.float32)[0], {"v": 1})])
    index.upsert(ns, [VectorRecord("x", np.eye(DIM, dtype=np.float32)[1], {"v": 2})])
    assert index.namespace_stats(ns).vector_count == 1
    got = index.fetch(ns, ["x", "missing"])
    assert list(got) == ["x"] and got["x"].metadata == {"v": 2}
    assert np.allclose(got["x"].values, np.eye(DIM)[1])


def test_filters_and_list_ids_pagination(index):
    ns = "org_a:ws_b:store_c"
    rng = np.random.default_rng(2)
    vectors = unit(rng, 250)
    index.upsert(ns, [VectorRecord(f"doc{i % 5}:{i:03}", vectors[i], {"path": f"f{i % 5}.md", "n": i})
                      for i in range(250)])
    hits = index.query(ns, vectors[0], 300, filter={"path": "f1.md"})
    assert len(hits) == 50 and {h.metadata["path"] for h in hits} == {"f1.md"}
    hits = index.query(ns, vectors[0], 300, filter={"$or": [{"n": {"$lt": 3}}, {"n": {"$in": [200, 201]}}]})
    assert sorted(h.metadata["n"] for h in hits) == [0, 1, 2, 200, 201]
    pages, token = [], None
    while True:
        page, token = index.list_ids(ns, limit=100, pagination_token=token)
        pages.append(page)
        if not token:
            break
    assert [len(p) for p in pages] == [100, 100, 50]
    assert sum(pages, []) == sorted(sum(pages, []))
    assert len(index.list_ids(ns, prefix="doc3:", limit=1000)[0]) == 50


def test_clear_errors(index, backend):
    ns = "org_a:ws_b:store_c"
    with pytest.raises(DimensionMismatchError, match="16-dimensional"):
        index.upsert(ns, [VectorRecord("x", np.ones(8, dtype=np.float32))])
    with pytest.raises(DimensionMismatchError):
        index.query(ns, np.ones(8, dtype=np.float32), 3)
    with pytest.raises(LightfastError, match="invalid vector id"):
        index.upsert(ns, [VectorRecord("é" * 3, np.ones(DIM, dtype=np.float32))])
    with pytest.raises(LightfastError, match="invalid namespace"):
        index.upsert("bad\0ns", [VectorRecord("x", np.ones(DIM, dtype=np.float32))])
    with pytest.raises(LightfastError, match="finite"):
        index.upsert(ns, [VectorRecord("x", np.full(DIM, np.nan, dtype=np.float32))])
    backend.create_index(IndexSpec("protected", DIM, deletion_protection=True))
    with pytest.raises(LightfastError, match="deletion protection"):
        backend.delete_index("protected")


def test_delete_namespace_is_instant_and_safe_under_a_reader(index):
    ns = "org_a:ws_b:store_c"
    rng = np.random.default_rng(3)
    index.upsert(ns, [VectorRecord(f"v{i}", v) for i, v in enumerate(unit(rng, 500))])
    errors = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                index.query(ns, unit(rng)[0], 5)
            except Exception as exc:  # any error here is a bug
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.05)
    index.delete_namespace(ns)
    time.sleep(0.05)
    stop.set()
    thread.join()
    assert errors == []
    assert index.query(ns, unit(rng)[0], 5) == [] and index.namespace_stats(ns).vector_count == 0
    index.upsert(ns, [VectorRecord("again", unit(rng)[0])])
    assert [m.id for m in index.query(ns, unit(rng)[0], 5)] == ["again"]


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from pathlib import Path
    from core.vectors.base import IndexSpec, VectorRecord
    from core.vectors.local import LocalBackend
    index = LocalBackend(Path(sys.argv[1])).ensure_index(IndexSpec("test-v1", {dim}))
    rng = np.random.default_rng(int(sys.argv[2]))
    for batch in range(int(sys.argv[3])):
        m = rng.standard_normal((50, {dim})).astype(np.float32)
        index.upsert("org_a:ws_b:store_c", [VectorRecord(f"{{sys.argv[2]}}-{{batch}}-{{i}}", m[i]) for i in range(50)])
        print(batch, flush=True)
""").format(dim=DIM)


def test_two_processes_upserting_one_namespace(backend, index):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(backend.root), str(seed), "20"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for seed in (1, 2)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    ids, token = [], None
    while True:
        page, token = index.list_ids("org_a:ws_b:store_c", limit=1000, pagination_token=token)
        ids += page
        if not token:
            break
    expected = {f"{s}-{b}-{i}" for s in (1, 2) for b in range(20) for i in range(50)}
    assert set(ids) == expected and len(ids) == 2000
    assert len(index.query("org_a:ws_b:store_c", np.ones(DIM, dtype=np.float32), 2000)) == 2000


@pytest.mark.parametrize("delay", [0.3, 0.6, 1.0])
def test_a_killed_writer_leaves_the_index_readable(backend, index, delay):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(backend.root), "7", "100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    committed = len(out.split())
    ns = "org_a:ws_b:store_c"
    count = index.namespace_stats(ns).vector_count
    assert count >= committed * 50 and count % 50 == 0  # whole upserts only
    hits = index.query(ns, np.ones(DIM, dtype=np.float32), max(count, 1))
    assert len(hits) == count and all(np.isfinite(h.score) for h in hits)
    # The next writer works, over whatever bytes the killed one left.
    index.upsert(ns, [VectorRecord("after-kill", np.ones(DIM, dtype=np.float32))])
    assert index.query(ns, np.ones(DIM, dtype=np.float32), 1)[0].id == "after-kill"
    fetched = index.fetch(ns, ["after-kill"])["after-kill"]
    assert np.allclose(fetched.values, np.ones(DIM) / np.sqrt(DIM), atol=1e-6)
