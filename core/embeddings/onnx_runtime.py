"""all-MiniLM-L6-v2 on onnxruntime: the packaged weights as an ONNX graph, built once and cached.

The graph (core/embeddings/onnx_graph.py) is built from model.safetensors the
first time and kept under the data dir, named by the weights' SHA-256 and the
graph version, so other weights or a newer graph shape never reuse it. A cached
file that onnxruntime cannot load (truncated, corrupt) is rebuilt; a data dir
that cannot be written still works (the graph is built in memory each time).

Threads: the session runs each call on one thread (intra_op_num_threads=1,
no spinning). A short query is one call on the caller's thread; a batch of
documents is cut into small length-sorted parts (PART texts) that a pool of
one thread per core takes in turn. Independent runs never wait for each
other, so a busy machine slows them down in proportion instead of collapsing
them (OpenBLAS's threads, which wait for each other at every small product,
did); and small parts keep both threads busy to the batch's end when the
scheduler gives one of them less time (two halves left the faster thread
idle while the slower finished: bench/embedder.py measures both).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from core.embeddings.onnx_graph import GRAPH_VERSION, OPSET, build_model

log = logging.getLogger("lightfast.embeddings")

PART = 4  # texts per run in a batch of documents: small enough to balance, big enough to amortise a run
_HASHES: dict[str, str] = {}  # "path|size|mtime_ns" -> sha256, per process
_HASH_LOCK = threading.Lock()


def default_workers() -> int:
    """Parallel runs for a batch of documents: LIGHTFAST_EMBED_THREADS, else one per core (at most 4)."""
    env = os.environ.get("LIGHTFAST_EMBED_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(os.cpu_count() or 1, 4))


def weights_sha256(weights: Path, cache_dir: Path | None) -> str:
    """SHA-256 of the weights file, remembered by (path, size, mtime) in memory and in
    cache_dir/weights-sha256.json, so a process start does not re-read 90 MB."""
    stat = weights.stat()
    key = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    with _HASH_LOCK:
        if key in _HASHES:
            return _HASHES[key]
        memo_path = cache_dir / "weights-sha256.json" if cache_dir else None
        memo: dict = {}
        if memo_path is not None:
            try:
                memo = json.loads(memo_path.read_text())
            except (OSError, ValueError):
                memo = {}
        digest = memo.get(key) if isinstance(memo, dict) else None
        if not (isinstance(digest, str) and len(digest) == 64):
            h = hashlib.sha256()
            with weights.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            digest = h.hexdigest()
            if memo_path is not None:
                memo = memo if isinstance(memo, dict) else {}
                memo[key] = digest
                _write_atomic(memo_path, json.dumps(memo, indent=1).encode())
        _HASHES[key] = digest
        return digest


def _write_atomic(path: Path, data: bytes) -> bool:
    """Write data to path through a temp file and a rename; False if the disk refuses."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return True
    except OSError as exc:
        log.warning("could not write %s (%s): kept in memory only, for this process", path, exc)
        try:
            tmp.unlink()
        except OSError:
            pass
        return False


class OnnxMiniLM:
    """Same interface as core.embeddings.minilm.MiniLM: encode(token id sequences) -> unit vectors."""

    engine = "onnxruntime"

    def __init__(self, model_dir: Path, cache_dir: Path | None, workers: int | None = None):
        import onnxruntime as ort

        self.hidden = json.loads((model_dir / "config.json").read_text())["hidden_size"]
        self.workers = workers or default_workers()
        sha = weights_sha256(model_dir / "model.safetensors", cache_dir)
        #: Where the graph is cached (None: no cache dir given).
        self.graph_path = (
            cache_dir / f"all-MiniLM-L6-v2-{sha[:16]}-g{GRAPH_VERSION}-opset{OPSET}.onnx" if cache_dir else None
        )
        #: "cache" (loaded the cached graph), "built" (built and cached) or "memory" (built, not cached).
        self.graph_source = ""
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings about shape merging are noise here
        self._session = self._open(ort, options, model_dir)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="lightfast-embed") if self.workers > 1 else None

    def _open(self, ort, options, model_dir: Path):
        providers = ["CPUExecutionProvider"]
        path = self.graph_path
        if path is not None and path.is_file():
            try:
                session = ort.InferenceSession(str(path), options, providers=providers)
                self.graph_source = "cache"
                return session
            except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
                log.warning("cached model graph %s is unreadable (%s): rebuilding it", path, exc)
                try:
                    path.unlink()
                except OSError:
                    pass
        data = build_model(model_dir).SerializeToString()
        if path is not None and _write_atomic(path, data):
            self.graph_source = "built"
            return ort.InferenceSession(str(path), options, providers=providers)
        self.graph_source = "memory"
        return ort.InferenceSession(data, options, providers=providers)

    def _run(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        longest = max(len(s) for s in sequences)
        ids = np.zeros((len(sequences), longest), dtype=np.int64)
        mask = np.zeros((len(sequences), longest), dtype=np.int64)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    def encode(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """Token ids per text ([CLS] ... [SEP], already truncated); returns (texts, hidden) unit vectors."""
        if len(sequences) == 0:
            return np.zeros((0, self.hidden), dtype=np.float32)
        if min(len(s) for s in sequences) < 1:
            raise ValueError("every sequence needs at least one token")
        if self._pool is None or len(sequences) < 2 * PART:
            return np.asarray(self._run(sequences), dtype=np.float32)
        # Contiguous parts: the base class sorts texts by length, so each part pads little.
        # Whichever thread is free takes the next part (the pool's queue), so a thread the
        # scheduler slows down just does fewer of them.
        parts = [sequences[a : a + PART] for a in range(0, len(sequences), PART)]
        return np.concatenate(list(self._pool.map(self._run, parts))).astype(np.float32, copy=False)
