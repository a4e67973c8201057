"""Build the ONNX graph of all-MiniLM-L6-v2 from its packaged safetensors, without torch.

The graph is the same network as core/embeddings/minilm.py (BERT encoder, mean
pooling, L2 normalisation), written with the `onnx` package's helper API:

    input_ids, attention_mask: int64 (batch, seq)  ->  sentence_embedding: float32 (batch, 384)

Padding is handled by the attention mask (an additive -1e9 bias on padded keys,
and padded tokens left out of the mean), so a padded text gets the vector it
gets alone. onnxruntime fuses the plain ops (LayerNorm, GELU, attention) itself.
Only building needs `onnx`; running needs only onnxruntime.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OPSET = 17
#: Bump when the graph below changes, so cached graphs of an older shape are rebuilt.
GRAPH_VERSION = 1


def build_model(model_dir: Path):
    """The ModelProto for the weights under model_dir (model.safetensors, config.json)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text())
    heads = config["num_attention_heads"]
    hidden = config["hidden_size"]
    size = hidden // heads
    eps = float(config["layer_norm_eps"])
    w = load_file(str(model_dir / "model.safetensors"))
    nodes, inits = [], []

    def const(name: str, array) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def f32(name: str) -> np.ndarray:
        return np.asarray(w[name], dtype=np.float32)

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def linear(x: str, prefix: str, out: str, scale: float = 1.0) -> str:
        scale = np.float32(scale)
        weight = const(prefix + ".w", (f32(prefix + ".weight") * scale).T)
        bias = const(prefix + ".b", f32(prefix + ".bias") * scale)
        return node("Add", [node("MatMul", [x, weight], out + "_mm"), bias], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        return node("LayerNormalization", [x, const(prefix + ".w", f32(prefix + ".weight")),
                                            const(prefix + ".b", f32(prefix + ".bias"))],
                    out, axis=-1, epsilon=eps)

    one_f = const("one_f", np.array(1.0, dtype=np.float32))
    half_f = const("half_f", np.array(0.5, dtype=np.float32))
    sqrt2 = const("sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))
    heads_shape = const("heads_shape", np.array([0, 0, heads, size], dtype=np.int64))
    hidden_shape = const("hidden_shape", np.array([0, 0, hidden], dtype=np.int64))

    # Embeddings: word + position (token type 0 folded into the position table), LayerNorm.
    word = node("Gather", [const("word_emb", f32("embeddings.word_embeddings.weight")), "input_ids"], "word")
    seq_len = node("Shape", ["input_ids"], "seq_len", start=1, end=2)  # (1,): the sequence length
    pos_table = f32("embeddings.position_embeddings.weight") + f32("embeddings.token_type_embeddings.weight")[0]
    zero = const("zero_1d", np.array([0], dtype=np.int64))
    pos = node("Slice", [const("pos_emb", pos_table), zero, seq_len, zero], "pos")  # rows 0..seq-1
    x = layer_norm(node("Add", [word, pos], "emb_sum"), "embeddings.LayerNorm", "emb")

    # Attention bias: 0 on real tokens, -1e9 on padding; (batch, 1, 1, seq).
    mask_f = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inverted = node("Sub", [one_f, mask_f], "mask_inv")
    bias = node("Mul", [inverted, const("neg", np.array(-1e9, dtype=np.float32))], "mask_bias2")
    bias = node("Unsqueeze", [bias, const("ax12", np.array([1, 2], dtype=np.int64))], "mask_bias")

    scale = 1.0 / np.sqrt(size)
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        att = p + "attention.self."

        def split_heads(t: str, perm: list[int], out: str) -> str:
            return node("Transpose", [node("Reshape", [t, heads_shape], out + "_r")], out, perm=perm)

        q = split_heads(linear(x, att + "query", f"l{i}_q", scale), [0, 2, 1, 3], f"l{i}_qh")
        k = split_heads(linear(x, att + "key", f"l{i}_k"), [0, 2, 3, 1], f"l{i}_kh")
        v = split_heads(linear(x, att + "value", f"l{i}_v"), [0, 2, 1, 3], f"l{i}_vh")
        scores = node("Add", [node("MatMul", [q, k], f"l{i}_qk"), bias], f"l{i}_scores")
        probs = node("Softmax", [scores], f"l{i}_probs", axis=-1)
        ctx = node("MatMul", [probs, v], f"l{i}_ctx")
        ctx = node("Reshape", [node("Transpose", [ctx], f"l{i}_ctx_t", perm=[0, 2, 1, 3]), hidden_shape], f"l{i}_ctx_r")
        attended = linear(ctx, p + "attention.output.dense", f"l{i}_ao")
        x = layer_norm(node("Add", [attended, x], f"l{i}_res1"), p + "attention.output.LayerNorm", f"l{i}_ln1")

        h = linear(x, p + "intermediate.dense", f"l{i}_in")
        # Exact GELU: h * 0.5 * (1 + erf(h / sqrt 2)).
        erf = node("Erf", [node("Div", [h, sqrt2], f"l{i}_gdiv")], f"l{i}_gerf")
        gelu = node("Mul", [node("Mul", [h, node("Add", [erf, one_f], f"l{i}_gadd")], f"l{i}_gmul"), half_f], f"l{i}_gelu")
        out = linear(gelu, p + "output.dense", f"l{i}_ff")
        x = layer_norm(node("Add", [out, x], f"l{i}_res2"), p + "output.LayerNorm", f"l{i}_ln2")

    # Mean over real tokens, then L2 normalisation.
    mask3 = node("Unsqueeze", [mask_f, const("ax2", np.array([2], dtype=np.int64))], "mask3")
    axis1 = const("ax1", np.array([1], dtype=np.int64))
    summed = node("ReduceSum", [node("Mul", [x, mask3], "masked"), axis1], "summed", keepdims=0)
    count = node("Max", [node("ReduceSum", [mask3, axis1], "count0", keepdims=0),
                         const("tiny_count", np.array(1e-9, dtype=np.float32))], "count")
    pooled = node("Div", [summed, count], "pooled")
    norm = node("ReduceL2", [pooled], "norm0", axes=[1], keepdims=1)
    norm = node("Max", [norm, const("tiny_norm", np.array(1e-12, dtype=np.float32))], "norm")
    node("Div", [pooled, norm], "sentence_embedding")

    graph = helper.make_graph(
        nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lightfast", producer_version=str(GRAPH_VERSION))
    model.ir_version = 8  # opset 17's IR; accepted by every onnxruntime that runs opset 17
    onnx.checker.check_model(model)
    return model
