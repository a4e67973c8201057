"""all-MiniLM-L6-v2 on numpy: the BERT encoder, mean pooling, L2 normalisation.

sentence-transformers needs torch (1.4 GB, ~4.7 s to import); the same
weights run here in float32 numpy, giving the same vectors
(tests/test_embeddings_local.py checks them against sentence-transformers'
output, cosine > 0.9999). Tokenising is the caller's job (core/embeddings/local.py).

Speed comes from three things:
- no padding at all: the texts of a batch are packed into one (tokens, 384)
  matrix for the dense layers, and attention runs per text on its own slice,
  so no token attends to another text and no padding mask is needed;
- fused QKV weights, with the 1/sqrt(head size) scale folded into Q;
- the feed-forward block and its GELU run over row blocks that stay in cache,
  with in-place ufuncs instead of fresh temporaries.

One text (a query) runs with BLAS limited to one thread: its products are too
small to share, and OpenBLAS's threads spin waiting for each other on a busy
machine (115 ms of CPU per query at load 8, against 14 ms on one thread).

This is the fallback engine; onnxruntime (core/embeddings/onnx_runtime.py) is
the default.
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

F32 = np.float32
_ROWS = 256  # row block of the feed-forward pass: (256, 1536) float32 is 1.5 MB

# erfc(z) ~ t * poly(t) * exp(-z^2), t = 1 / (1 + P z), z >= 0: Abramowitz & Stegun
# 7.1.26, |error| < 1.5e-7, at float32 resolution. Coefficients pre-halved for GELU.
_P = 0.3275911
_A = tuple(F32(0.5 * a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))
_SQRT_HALF = 0.7071067811865476
_BLAS = []
_BLAS_LOCK = threading.Lock()


def one_blas_thread():
    """A context that limits BLAS to one thread (a no-op without threadpoolctl)."""
    with _BLAS_LOCK:
        if not _BLAS:
            try:
                from threadpoolctl import ThreadpoolController

                _BLAS.append(ThreadpoolController())
            except ImportError:
                _BLAS.append(None)
    controller = _BLAS[0]
    return controller.limit(limits=1, user_api="blas") if controller else contextlib.nullcontext()


def gelu_(x: np.ndarray, a: np.ndarray, t: np.ndarray, e: np.ndarray) -> np.ndarray:
    """BERT's exact (erf) GELU, in place on x; a, t, e are scratch arrays of x's shape.

    gelu(x) = x * (1 + erf(x / sqrt 2)) / 2 = relu(x) - |x| * erfc(|x| / sqrt 2) / 2.
    """
    np.abs(x, out=a)
    np.multiply(a, a, out=e)
    e *= F32(-0.5)
    np.exp(e, out=e)  # exp(-z^2), z = |x| / sqrt 2
    e *= a  # |x| exp(-z^2); frees a
    np.multiply(a, F32(_P * _SQRT_HALF), out=t)
    t += F32(1.0)
    np.reciprocal(t, out=t)
    # Horner into a: ((((A4 t + A3) t + A2) t + A1) t + A0) t, then times |x| exp(-z^2).
    np.multiply(t, _A[4], out=a)
    for coefficient in (_A[3], _A[2], _A[1], _A[0]):
        a += coefficient
        a *= t
    a *= e
    np.maximum(x, F32(0.0), out=x)
    x -= a
    return x


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.einsum("ij,ij->i", centered, centered)[:, None] / F32(x.shape[-1])
    centered *= 1.0 / np.sqrt(var + F32(eps))
    centered *= weight
    centered += bias
    return centered


class MiniLM:
    """The encoder: token id sequences in, normalised sentence vectors out."""

    engine = "numpy"

    def __init__(self, model_dir: Path):
        from safetensors.numpy import load_file

        config = json.loads((model_dir / "config.json").read_text())
        self.heads = config["num_attention_heads"]
        self.hidden = config["hidden_size"]
        self.eps = float(config["layer_norm_eps"])
        self.max_positions = config["max_position_embeddings"]
        size = self.hidden // self.heads
        w = load_file(str(model_dir / "model.safetensors"))

        def f32(name: str) -> np.ndarray:
            return np.ascontiguousarray(w[name], dtype=F32)

        self.word = f32("embeddings.word_embeddings.weight")
        # Every token has token type 0: fold that row into the position table.
        self.position = f32("embeddings.position_embeddings.weight") + f32("embeddings.token_type_embeddings.weight")[0]
        self.emb_ln = (f32("embeddings.LayerNorm.weight"), f32("embeddings.LayerNorm.bias"))
        scale = F32(1.0 / np.sqrt(size))
        self.layers = []
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            att = p + "attention.self."
            qkv_w = np.concatenate([f32(att + "query.weight") * scale, f32(att + "key.weight"), f32(att + "value.weight")])
            qkv_b = np.concatenate([f32(att + "query.bias") * scale, f32(att + "key.bias"), f32(att + "value.bias")])
            self.layers.append({
                "qkv_w": np.ascontiguousarray(qkv_w.T), "qkv_b": qkv_b,
                "out_w": np.ascontiguousarray(f32(p + "attention.output.dense.weight").T),
                "out_b": f32(p + "attention.output.dense.bias"),
                "ln1": (f32(p + "attention.output.LayerNorm.weight"), f32(p + "attention.output.LayerNorm.bias")),
                "in_w": np.ascontiguousarray(f32(p + "intermediate.dense.weight").T),
                "in_b": f32(p + "intermediate.dense.bias"),
                "ff_w": np.ascontiguousarray(f32(p + "output.dense.weight").T),
                "ff_b": f32(p + "output.dense.bias"),
                "ln2": (f32(p + "output.LayerNorm.weight"), f32(p + "output.LayerNorm.bias")),
            })

    def encode(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """Token ids per text ([CLS] ... [SEP], already truncated); returns (texts, hidden) unit vectors."""
        if len(sequences) == 1:
            with one_blas_thread():
                return self._encode(sequences)
        return self._encode(sequences)

    def _encode(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        if len(lengths) == 0:
            return np.zeros((0, self.hidden), dtype=F32)
        if lengths.min() < 1 or lengths.max() > self.max_positions:
            raise ValueError(f"sequence lengths must be 1..{self.max_positions}, got {lengths.min()}..{lengths.max()}")
        ends = np.cumsum(lengths)
        starts = ends - lengths
        ids = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
        positions = np.arange(len(ids)) - np.repeat(starts, lengths)
        x = layer_norm(self.word[ids] + self.position[positions], *self.emb_ln, self.eps)
        spans = list(zip(starts.tolist(), ends.tolist()))
        for layer in self.layers:
            x = self._layer(x, layer, spans)
        pooled = np.add.reduceat(x, starts, axis=0) / lengths[:, None].astype(F32)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, F32(1e-12))).astype(F32)

    def _layer(self, x: np.ndarray, layer: dict, spans: list[tuple[int, int]]) -> np.ndarray:
        heads, size, hidden = self.heads, self.hidden // self.heads, self.hidden
        qkv = x @ layer["qkv_w"]
        qkv += layer["qkv_b"]
        qkv = qkv.reshape(len(x), 3, heads, size)
        context = np.empty((len(x), heads, size), dtype=F32)
        for start, end in spans:  # attention within each text only: no mask, no padding
            q = qkv[start:end, 0].transpose(1, 0, 2)  # (heads, n, size), already scaled
            k = qkv[start:end, 1].transpose(1, 2, 0)  # (heads, size, n)
            v = qkv[start:end, 2].transpose(1, 0, 2)
            scores = q @ k
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            # Normalise after the product: (heads, n, size) divisions, not (heads, n, n).
            mixed = scores @ v
            mixed /= scores.sum(axis=-1, keepdims=True)
            context[start:end] = mixed.transpose(1, 0, 2)
        attended = context.reshape(len(x), hidden) @ layer["out_w"]
        attended += layer["out_b"]
        attended += x
        x = layer_norm(attended, *layer["ln1"], self.eps)

        out = np.empty_like(x)
        inter = layer["in_w"].shape[1]
        scratch = [np.empty((_ROWS, inter), dtype=F32) for _ in range(3)]
        for row in range(0, len(x), _ROWS):
            block = x[row : row + _ROWS]
            n = len(block)
            h = block @ layer["in_w"]
            h += layer["in_b"]
            gelu_(h, *(s[:n] for s in scratch))
            np.matmul(h, layer["ff_w"], out=out[row : row + n])
        out += layer["ff_b"]
        out += x
        return layer_norm(out, *layer["ln2"], self.eps)
