"""attention_received, the layer splice and the LLM pipeline on a tiny random llama model."""

import mlx.core as mx
import numpy as np
import pytest
from gguf_fixtures import tiny_model

from hebbian.sae.activations import collect
from hebbian.sae.attention import attention_received, received_within
from hebbian.sae.importance import relative_to_position
from hebbian.sae.llm import inliers_only
from hebbian.sae.splice import Spliced, spliced

TOKENS = np.array([5, 17, 3, 99, 42, 7, 7, 250, 1, 64, 12, 33])


@pytest.fixture(scope="module")
def llama():
    return tiny_model("llama", seed=0)


def _rope(x, base, traditional):
    """numpy RoPE over the last axis of x [H, T, D] at positions 0..T-1."""
    d = x.shape[-1]
    angles = np.arange(x.shape[1])[:, None] * base ** (-np.arange(d // 2) * 2 / d)[None]
    cos, sin = np.cos(angles), np.sin(angles)
    if traditional:
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2], out[..., 1::2] = a * cos - b * sin, a * sin + b * cos
        return out
    a, b = x[..., : d // 2], x[..., d // 2 :]
    return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)


def reference_received(model, tokens):
    """Layer 0's attention received, computed in float64 numpy from the weights."""
    block, attn = model.model.layers[0], model.model.layers[0].self_attn
    h = np.array(model.model.embed_tokens.weight)[tokens].astype(np.float64)
    norm = block.input_layernorm
    x = h / np.sqrt(np.mean(h**2, axis=-1, keepdims=True) + norm.eps) * np.array(norm.weight)
    t, hd = len(tokens), attn.q_proj.weight.shape[0] // attn.n_heads
    q = (x @ np.array(attn.q_proj.weight).T).reshape(t, attn.n_heads, hd).transpose(1, 0, 2)
    k = (x @ np.array(attn.k_proj.weight).T).reshape(t, attn.n_kv_heads, hd).transpose(1, 0, 2)
    q, k = (
        _rope(q, attn.rope.base, attn.rope.traditional),
        _rope(k, attn.rope.base, attn.rope.traditional),
    )
    # query head h reads kv head h // group
    k = np.repeat(k, attn.n_heads // attn.n_kv_heads, axis=0)
    scores = q @ k.transpose(0, 2, 1) * attn.scale + np.triu(np.full((t, t), -np.inf), k=1)
    probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    return probs.sum(axis=1).mean(axis=0)


def test_attention_received_matches_numpy_reference(llama):
    got = attention_received(llama, TOKENS, 0)
    assert np.allclose(got, reference_received(llama, TOKENS), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer", [0, 1])
def test_attention_received_sums_to_the_number_of_queries(llama, layer):
    got = attention_received(llama, TOKENS, layer)
    assert got.shape == (len(TOKENS),) and got.sum() == pytest.approx(len(TOKENS), rel=1e-5)
    assert got[-1] > 0 and (got >= got[-1] - 1e-6).all()  # the last key is seen by one query only
    with pytest.raises(ValueError):
        attention_received(llama, TOKENS, 2)


def test_received_within_counts_a_fixed_horizon_of_queries():
    t = 5
    # every query attends uniformly
    uniform = np.tril(np.ones((t, t)) / np.arange(1, t + 1)[:, None])
    got = received_within(uniform, 2)
    assert np.allclose(
        got[:4], [1 + 1 / 2, 1 / 2 + 1 / 3, 1 / 3 + 1 / 4, 1 / 4 + 1 / 5]
    ) and np.isnan(got[4])
    assert (
        np.allclose(received_within(uniform, t)[0], uniform.sum(axis=0)[0])
        and np.isnan(received_within(uniform, t)[1:]).all()
    )
    with pytest.raises(ValueError):
        received_within(uniform, 6)


def test_importance_is_relative_to_the_reference_mean_at_each_position():
    values = np.array([1.0, 2.0, 3.0, 6.0, 4.0, np.nan])
    position = np.array([1, 2, 1, 2, 1, 2])
    reference = np.array([0, 1, 2, 3])  # position 1 mean 2, position 2 mean 4
    assert np.allclose(
        relative_to_position(values, position, reference),
        [0.5, 0.5, 1.5, 1.5, 2.0, np.nan],
        equal_nan=True,
    )


def test_splice_transforms_and_restores_exactly(llama):
    tokens = mx.array(TOKENS)[None]
    clean = np.array(llama(tokens))
    original = llama.model.layers[1]
    with spliced(llama, 1, lambda h: h) as wrapper:
        assert (
            isinstance(llama.model.layers[1], Spliced)
            and wrapper.use_sliding == original.use_sliding
        )
        assert np.array_equal(np.array(llama(tokens)), clean)
    with spliced(llama, 1, mx.zeros_like):
        zeroed = np.array(llama(tokens))
    assert not np.allclose(zeroed[0, 1:], clean[0, 1:]) and np.array_equal(
        zeroed[0, 0], clean[0, 0]
    )
    with pytest.raises(RuntimeError), spliced(llama, 1, mx.zeros_like):
        raise RuntimeError("boom")
    assert llama.model.layers[1] is original
    assert np.array_equal(np.array(llama(tokens)), clean)


def test_outlier_positions_pass_through_the_splice_transform():
    h = mx.array([[[1.0, 0.0], [300.0, 0.0], [0.0, 2.0]]])
    out = inliers_only(mx.zeros_like, max_norm=10.0)(h)
    assert np.array_equal(np.array(out), [[[0.0, 0.0], [300.0, 0.0], [0.0, 0.0]]])


def test_collect_drops_position_zero_and_measures_importance(llama):
    tokens = np.stack([TOKENS, TOKENS[::-1]])
    t = len(TOKENS)
    acts = collect(llama, tokens, 1, horizon=t, batch=1)
    assert acts.x.shape == (2 * (t - 1), 64) and np.array_equal(
        acts.position[: t - 1], np.arange(1, t)
    )
    assert np.allclose(acts.received[: t - 1], attention_received(llama, TOKENS, 1)[1:], atol=1e-6)
    assert np.isnan(acts.windowed).all()  # with a horizon of t only position 0 (dropped) has one
    acts = collect(llama, tokens, 1, horizon=4, batch=2)
    assert (
        np.isfinite(acts.windowed[: t - 4]).all() and np.isnan(acts.windowed[t - 4 : t - 1]).all()
    )
