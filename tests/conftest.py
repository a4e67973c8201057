"""Shared fixtures: every test gets its own LIGHTFAST_HOME and, when it asks, a temp repo."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.embeddings.base import Embedder

TEST_PROFILE = """
indexes:
  test:
    backend: local
    name: lightfast-test-v1
    embedding_provider: local
    embedding_model: hash-test
    dimension: 64
"""


class HashEmbedder(Embedder):
    """Deterministic bag-of-words vectors for plumbing tests (the real model is tested elsewhere).

    Texts that share words get similar vectors, so search behaves sensibly.
    """

    model_name = "hash-test"
    dimension = 64
    max_tokens = 254
    batch_size = 16

    def __init__(self):
        self.calls = 0
        self.texts_embedded = 0

    def tokenizer_counts(self, texts):
        return [len(t.split()) for t in texts]

    def embed_batch(self, texts, kind):
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                seed = int.from_bytes(hashlib.sha1(word.encode()).digest()[:4], "little")
                out[row] += np.random.default_rng(seed).standard_normal(self.dimension)
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
        return out


@pytest.fixture
def anyio_backend():
    return "asyncio"  # Textual runs on asyncio


@pytest.fixture(autouse=True)
def lightfast_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("LIGHTFAST_HOME", str(home))
    for var in ("PINECONE_API_KEY", "COHERE_API_KEY", "LIGHTFAST_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return home


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")


def make_config(
    root: Path,
    stores: str | None = None,
    environment: str = "test",
    organization: str = "acme",
    workspace: str = "platform",
) -> Path:
    stores = stores or """
      - slug: docs
        include: ["**/*.md"]
        chunking: {max_tokens: 64, overlap: 8}
      - slug: code
        include: ["**/*.py"]
        chunking: {max_tokens: 64, overlap: 8}
    """
    text = (
        f"organization: {organization}\nworkspace: {workspace}\nenvironment: {environment}\n"
        f"stores:\n{textwrap.indent(textwrap.dedent(stores).strip(), '  ')}\n"
        + TEST_PROFILE
    )
    path = root / "lightfast.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    return root


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def service_factory(lightfast_home, hash_embedder):
    """Build a Lightfast service for a repo with the deterministic embedder."""
    from core.config import load_config
    from core.service import Lightfast

    def build(root: Path, embedder=None, **kw):
        config_path = root / "lightfast.yml"
        if not config_path.exists():
            make_config(root, **kw)
        return Lightfast(load_config(config_path), lightfast_home, embedder=embedder or hash_embedder)

    return build


# A docs store of ten bird pages, ingested: the data dir the damage and doctor tests break.
BIRDS = ["falcon", "heron", "owl", "pelican", "sparrow", "crow", "eagle", "wren", "robin", "finch"]
BIRD_FILES = {f"{b}.md": f"# {b}\nabout the {b}, a bird that nests near the lake\n" for b in BIRDS}
BIRDS_NS = "org_acme:ws_platform:store_docs"


@pytest.fixture
def built(repo, service_factory):
    write_files(repo, BIRD_FILES)
    service = service_factory(repo)
    service.ingest(stores=["docs"])
    assert service.search("about the falcon", stores=["docs"], top_k=1).hits[0].path == "falcon.md"
    return service
