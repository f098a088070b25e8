"""The GGUF loader against models built directly: same logits, exact dequantization."""

import gguf
import mlx.core as mx
import numpy as np
import pytest
from gguf_fixtures import tiny_model, write_gguf
from mlx.utils import tree_flatten

from hebbian.models import ModelSpecError, load, resolve
from hebbian.models.gguf_loader import load_gguf

Q = gguf.GGMLQuantizationType
TOKENS = mx.array([[5, 17, 99, 3, 250, 42, 7, 7, 128, 64, 1, 200]])


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "gemma3_text"])
def test_gguf_round_trip_gives_identical_logits(tmp_path, model_type):
    reference = tiny_model(model_type)
    write_gguf(reference, tmp_path / "m.gguf", model_type)
    loaded, tokenizer, config = load_gguf(tmp_path / "m.gguf")
    want, got = reference(TOKENS), loaded(TOKENS)
    # longer than gemma's sliding window (8), so local attention is exercised too
    assert got.shape == want.shape == (1, TOKENS.shape[1], len(tokenizer.vocab))
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-4, atol=1e-4)


def test_llama_without_traditional_rope_would_differ(tmp_path):
    """The Q/K permutation matters: the check above can fail."""
    reference = tiny_model("llama")
    write_gguf(reference, tmp_path / "m.gguf", "llama")
    loaded, _, _ = load_gguf(tmp_path / "m.gguf")
    for layer in loaded.model.layers:
        layer.self_attn.rope.traditional = False
    assert not np.allclose(np.array(loaded(TOKENS)), np.array(reference(TOKENS)), atol=1e-3)


def _k_quant_blocks(w: np.ndarray, qtype) -> np.ndarray:
    """Random K-quant blocks with sane float16 scales (gguf-py cannot quantize K types)."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    scale_offsets = {
        Q.Q2_K: (80, 82),
        Q.Q3_K: (108,),
        Q.Q4_K: (0, 2),
        Q.Q5_K: (0, 2),
        Q.Q6_K: (208,),
    }
    rng = np.random.default_rng(int(qtype))
    rows, cols = w.shape
    data = rng.integers(0, 256, (rows, cols // block, size), dtype=np.uint8)
    for offset in scale_offsets[qtype]:
        scales = rng.uniform(0.001, 0.02, (rows, cols // block)).astype(np.float16)
        data[..., offset : offset + 2] = scales.view(np.uint8).reshape(rows, cols // block, 2)
    return data.reshape(rows, -1)


def _quantize(w, qtype):
    if qtype in (Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K):
        return _k_quant_blocks(w, qtype)
    return gguf.quants.quantize(w, qtype)


def test_every_tensor_type_matches_reference_dequantization(tmp_path):
    """Each weight of a mixed-type file equals gguf-py's reference dequantization.

    mx.load would fail this: it rounds Q4_0/Q4_1/Q8_0 to float16, misreads Q4_K and
    rejects Q5_0.
    """
    types = [
        Q.F16,
        Q.BF16,
        Q.Q8_0,
        Q.Q4_0,
        Q.Q4_1,
        Q.Q5_0,
        Q.Q5_1,
        Q.Q2_K,
        Q.Q3_K,
        Q.Q4_K,
        Q.Q5_K,
        Q.Q6_K,
    ]
    model = tiny_model(
        "llama",
        hidden_size=256,
        intermediate_size=256,
        num_attention_heads=4,
        num_key_value_heads=4,
    )
    layer_tensors = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
    names = [f"blk.{i}.{t}.weight" for i in range(2) for t in layer_tensors] + ["token_embd.weight"]
    assignment = {name: types[i % len(types)] for i, name in enumerate(names)}
    assert set(assignment.values()) == set(types)
    write_gguf(model, tmp_path / "mixed.gguf", "llama", types=assignment, quantize=_quantize)
    loaded, _, _ = load_gguf(tmp_path / "mixed.gguf")

    reader = gguf.GGUFReader(str(tmp_path / "mixed.gguf"))
    by_name = {t.name: t for t in reader.tensors}
    params = dict(tree_flatten(loaded.parameters()))
    hf = {"token_embd.weight": "model.embed_tokens.weight"}
    hf.update(
        {
            f"blk.{i}.{t}.weight": f"model.layers.{i}.{m}.weight"
            for i in range(2)
            for t, m in zip(
                layer_tensors,
                [
                    "self_attn.q_proj",
                    "self_attn.k_proj",
                    "self_attn.v_proj",
                    "self_attn.o_proj",
                    "mlp.gate_proj",
                    "mlp.up_proj",
                    "mlp.down_proj",
                ],
            )
        }
    )
    for name, qtype in assignment.items():
        t = by_name[name]
        assert t.tensor_type == qtype
        want = gguf.quants.dequantize(t.data, t.tensor_type).reshape(params[hf[name]].shape)
        assert np.isfinite(want).all() and np.abs(want).max() > 0
        np.testing.assert_array_equal(
            np.array(params[hf[name]]), want, err_msg=f"{name} ({qtype.name})"
        )
    assert params["model.embed_tokens.weight"].dtype == mx.float32


def test_unsupported_architecture_is_one_clear_error(tmp_path):
    write_gguf(tiny_model("llama"), tmp_path / "bert.gguf", "llama", arch="bert")
    with pytest.raises(
        ModelSpecError,
        match=r"architecture 'bert' is not supported \(supported: gemma3, llama, qwen2\)",
    ):
        load(str(tmp_path / "bert.gguf"))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "no such model"),
        (lambda p: p.write_text("hello"), "is not a model"),
        (lambda p: p.write_bytes(b"GGUF" + b"\x03\x00"), "damaged GGUF"),
        (lambda p: p.mkdir(), "no config.json"),
    ],
)
def test_bad_specs_name_the_problem(tmp_path, make, message):
    path = tmp_path / "thing.gguf"
    make(path)
    with pytest.raises(ModelSpecError, match=message) as info:
        load(str(path))
    assert "\n" not in str(info.value)


def test_hf_repo_ids_go_to_mlx_lm():
    assert resolve("mlx-community/SmolLM2-135M-Instruct") == (
        "hf",
        "mlx-community/SmolLM2-135M-Instruct",
    )
