"""core/sparse.py: the lexical terms as Pinecone sparse vectors (BM25 document weights)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.lexical import terms  # noqa: E402
from core.sparse import (K1, MAX_NONZERO, document_vector, fold, query_vector,  # noqa: E402
                         term_index)


def weight_of(vector, term: str) -> float:
    index = term_index(fold(term))  # as both sides fold plurals
    return dict(zip(vector.indices, vector.values)).get(index, 0.0)


def test_term_indices_are_stable_32_bit_and_the_same_in_another_process():
    assert term_index("ensure_namespace") == int.from_bytes(
        hashlib.blake2b(b"ensure_namespace", digest_size=4).digest(), "little")
    assert 0 <= term_index("x") < 2**32
    other = subprocess.run([sys.executable, "-c", "from core.sparse import term_index; "
                            "print(term_index('LocalIndex._load'))"], capture_output=True, text=True,
                           cwd=Path(__file__).resolve().parents[1], check=True)
    assert int(other.stdout) == term_index("LocalIndex._load")  # no per-process hash seed


def test_a_document_vector_holds_the_identifier_its_parts_and_its_path_terms():
    vector = document_vector({"path": "core/vectors/local.py", "headings": "",
                              "text": "def ensure_namespace(name): return LocalIndex._load(name)",
                              "symbols": ["ensure_namespace"]})
    assert list(vector.indices) == sorted(set(vector.indices))  # distinct, ascending
    assert len(vector.indices) == len(vector.values) and all(v > 0 for v in vector.values)
    for term in ("ensure_namespace", "ensure", "namespace", "localindex._load", "_load", "load", "local", "vectors"):
        assert weight_of(vector, term) > 0, term
    assert weight_of(vector, "ensure_namespace") > weight_of(vector, "return")  # a defined symbol weighs more


def test_term_frequency_saturates_and_longer_chunks_weigh_each_term_less():
    def w(text):
        return weight_of(document_vector({"path": "a.md", "text": text}), "pelican")

    once, twice, many = w("pelican here"), w("pelican pelican here"), w("pelican " * 200)
    assert once < twice < many < K1 + 1  # more occurrences count, but never past BM25's bound
    assert w("pelican " + "filler " * 400) < w("pelican filler")  # length normalisation


def test_a_chunk_with_more_terms_than_pinecone_takes_keeps_its_heaviest():
    words = ["".join(chr(97 + (i // 26**k) % 26) for k in range(3)) + "q" for i in range(3000)]  # distinct
    vector = document_vector({"path": "big.md", "text": " ".join(words) + " pelican pelican", "symbols": []})
    assert len(vector.indices) == MAX_NONZERO
    assert weight_of(vector, "pelican") > max(weight_of(vector, w) for w in words) > 0  # kept, and first


def test_a_query_weighs_its_distinct_terms_alike_and_drops_stopwords():
    vector = query_vector("How does the LocalIndex load its indexes?")
    wanted = {fold(t) for t in terms("LocalIndex load indexes")}
    assert {term_index(t) for t in wanted} == set(vector.indices)
    assert set(vector.values) == {1.0}
    assert not query_vector("what is the")  # only stopwords: nothing to send


def test_plurals_fold_alike_on_both_sides_but_identifiers_stay_whole():
    assert fold("indexes") == fold("index") == "index" and fold("queries") == fold("query") == "query"
    assert fold("files") == "file" and fold("classes") == "class"
    assert fold("status") == "status" and fold("analysis") == "analysis" and fold("_loads") == "_loads"
    doc = document_vector({"path": "a.md", "text": "The colony of pelicans"})
    assert set(query_vector("pelican").indices) <= set(doc.indices)
    assert query_vector("pelican").indices == query_vector("pelicans").indices


def test_an_empty_chunk_has_no_vector():
    assert not document_vector({"path": "", "text": "", "symbols": []})
