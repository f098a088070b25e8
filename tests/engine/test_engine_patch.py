"""The attention patch: transparent for mlx-lm's own caches, reference counted, fully undone."""

import importlib

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from gguf_fixtures import tiny_model, vocabulary
from mlx.utils import tree_flatten
from mlx_lm.models import base
from mlx_lm.models.cache import KVCache

from hebbian.engine import install, is_installed, patched, remove
from hebbian.engine.patch import NAME, model_modules

EXTRA_ARGS = {
    "qwen3": dict(
        hidden_size=64,
        num_hidden_layers=2,
        intermediate_size=128,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        rms_norm_eps=1e-6,
        rope_theta=1e6,
        max_position_embeddings=256,
        tie_word_embeddings=True,
    ),
    "phi3": dict(
        hidden_size=64,
        num_hidden_layers=2,
        intermediate_size=128,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=1e-5,
        max_position_embeddings=256,
    ),
}
ARCHITECTURES = ["llama", "qwen2", "qwen3", "gemma3_text", "phi3"]
TOKENS = mx.array([[5, 17, 42, 99, 3, 250, 7, 7, 31, 64, 12, 200]])


def tiny(model_type: str, **overrides) -> nn.Module:
    """A tiny random float32 model of any mlx-lm architecture used here."""
    if model_type not in EXTRA_ARGS:
        return tiny_model(model_type, **overrides)
    module = importlib.import_module(f"mlx_lm.models.{model_type}")
    args = {
        "model_type": model_type,
        "vocab_size": len(vocabulary()),
        **EXTRA_ARGS[model_type],
        **overrides,
    }
    mx.random.seed(0)
    model = module.Model(module.ModelArgs.from_dict(args))
    model.set_dtype(mx.float32)
    mx.eval(model.parameters())
    return model


def _plain_cache(model):
    return model.make_cache() if hasattr(model, "make_cache") else [KVCache() for _ in model.layers]


def _prefill_and_step(model):
    cache = _plain_cache(model)
    return model(TOKENS, cache=cache), model(mx.array([[9]]), cache=cache)


@pytest.mark.parametrize("model_type", ARCHITECTURES)
def test_patch_is_transparent_and_fully_undone(model_type):
    model = tiny(model_type)
    modules = model_modules(model)
    assert f"mlx_lm.models.{model_type}" in [m.__name__ for m in modules]
    originals = [getattr(m, NAME) for m in modules]
    params = [(k, np.array(v)) for k, v in tree_flatten(model.parameters())]
    expected = _prefill_and_step(model)

    with patched(model):
        assert all(getattr(m, NAME) is not o for m, o in zip(modules, originals))
        got = _prefill_and_step(model)
    for e, g in zip(expected, got):
        assert mx.array_equal(e, g)

    assert all(getattr(m, NAME) is o for m, o in zip(modules, originals))
    assert not is_installed(model)
    after = tree_flatten(model.parameters())
    assert [k for k, _ in after] == [k for k, _ in params]
    assert all(np.array_equal(np.array(v), p) for (_, v), (_, p) in zip(after, params))


def test_installs_are_reference_counted():
    a, b = tiny("llama"), tiny("llama", seed=1)
    module = importlib.import_module("mlx_lm.models.llama")
    original = module.scaled_dot_product_attention
    install(a)
    install(a)
    with patched(b):
        dispatcher = module.scaled_dot_product_attention
        assert dispatcher is not original
    remove(a)
    assert module.scaled_dot_product_attention is dispatcher
    remove(a)
    assert module.scaled_dot_product_attention is original
    remove(a)  # one removal too many changes nothing
    assert module.scaled_dot_product_attention is original
    assert base.scaled_dot_product_attention is original


def test_patch_is_undone_when_the_body_raises():
    model = tiny("qwen2")
    module = importlib.import_module("mlx_lm.models.qwen2")
    original = module.scaled_dot_product_attention
    with pytest.raises(KeyError), patched(model):
        raise KeyError("boom")
    assert module.scaled_dot_product_attention is original


def test_a_model_without_mlx_lm_attention_is_refused():
    with pytest.raises(ValueError, match="does not call mlx-lm's scaled_dot_product_attention"):
        install(nn.Linear(4, 4))


def test_side_paths_are_attached_for_the_patch_and_removed_exactly():
    from hebbian.engine import EngineConfig
    from hebbian.engine.consolidation import Rank1
    from hebbian.engine.sidepath import SidePath

    model = tiny("llama")
    attns = [layer.self_attn for layer in model.layers]
    originals = [(a.k_proj, a.v_proj) for a in attns]
    params = [(k, np.array(v)) for k, v in tree_flatten(model.parameters())]
    expected = _prefill_and_step(model)
    strategy = Rank1(EngineConfig(mode="rank1", target="both"), model, [0, 1])
    with patched(model, strategy):
        assert all(isinstance(p, SidePath) for a in attns for p in (a.k_proj, a.v_proj))
        with patched(model, strategy):  # nested: the outer patch keeps its wrappers
            assert all(a.k_proj.base is k for a, (k, _) in zip(attns, originals))
        assert all(isinstance(a.k_proj, SidePath) for a in attns)
        with (
            pytest.raises(RuntimeError, match="another strategy's side path"),
            patched(model, Rank1(EngineConfig(mode="rank1"), model, [0, 1])),
        ):
            pass
        got = _prefill_and_step(model)  # nothing consolidated yet: the side path adds nothing
    for e, g in zip(expected, got):
        assert mx.array_equal(e, g)
    assert all(a.k_proj is k and a.v_proj is v for a, (k, v) in zip(attns, originals))
    after = tree_flatten(model.parameters())
    assert [k for k, _ in after] == [k for k, _ in params]
    assert all(np.array_equal(np.array(v), p) for (_, v), (_, p) in zip(after, params))
