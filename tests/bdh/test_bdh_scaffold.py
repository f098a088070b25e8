"""Synaptic scaffolding: the Hebbian fast-weight rule, metaplasticity, bounds, persistence,
diagnostics, and its read-out inside the model."""

import mlx.core as mx
import numpy as np
import pytest

from hebbian.bdh.model import BDH, BDHConfig, LayerActivity
from hebbian.bdh.scaffold import ScaffoldConfig, SynapseShapeError, SynapticScaffold

SHAPE = (2, 2, 4, 3)  # (n_layer, n_head, N, D)


def activity(neuron: int, dim: int, strength: float = 1.0) -> list[LayerActivity]:
    """Every layer and head: one token where ``neuron`` fires together with state ``dim``."""
    L, nh, N, D = SHAPE
    x_sparse = np.zeros((nh, 1, 1, N), dtype=np.float32)
    x_sparse[..., neuron] = strength
    x = np.zeros((1, 1, D), dtype=np.float32)
    x[..., dim] = 1.0
    return [LayerActivity(mx.array(x_sparse), mx.array(x))] * L


def test_update_is_the_hebbian_outer_product_with_decay():
    s = SynapticScaffold(SHAPE, ScaffoldConfig(eta=0.5, base_decay=0.1, meta_rate=0.0))
    s.sigma = mx.ones(SHAPE)
    rng = np.random.default_rng(0)
    xs = rng.uniform(size=(2, 3, 5, 4)).astype(np.float32)  # (nh, B, T, N)
    x = rng.normal(size=(3, 5, 3)).astype(np.float32)  # (B, T, D)
    s.update([LayerActivity(mx.array(xs), mx.array(x))] * 2)
    coact = np.einsum("hbtn,btd->hnd", xs, x)
    np.testing.assert_allclose(np.array(s.sigma)[0], 0.9 + 0.5 * coact, rtol=1e-5)


def test_metaplasticity_slows_decay_for_a_frequently_co_active_synapse():
    s = SynapticScaffold(
        SHAPE, ScaffoldConfig(eta=1.0, base_decay=0.05, meta_rate=0.2, stiffness=9.0)
    )
    s.update(activity(neuron=1, dim=1))  # the rare synapse: co-active once
    for _ in range(30):
        s.update(activity(neuron=0, dim=0))  # the frequent one: co-active every step
    frequent, rare = (0, 0, 0, 0), (0, 0, 1, 1)
    rates = np.array(s.decay_rate())
    assert rates[frequent] < rates[rare]
    before = np.array(s.sigma)
    s.rest(10)
    kept = np.array(s.sigma) / np.where(before == 0, 1, before)
    assert kept[frequent] > kept[rare]
    assert rates[(0, 0, 2, 2)] == pytest.approx(0.05)  # never used: the base rate


def test_sigma_stays_bounded_however_long_the_exposure():
    s = SynapticScaffold(SHAPE, ScaffoldConfig(eta=10.0, base_decay=0.0, capacity=5.0))
    for _ in range(100):  # no decay at all: only the bound holds sigma
        s.update(activity(neuron=2, dim=0, strength=100.0))
    norms = np.linalg.norm(np.array(s.sigma).reshape(4, -1), axis=1)
    one_update = 10.0 * 100.0  # eta * |x_sparse| * |x|
    assert np.isfinite(norms).all() and norms.max() == pytest.approx(5.0 * one_update, rel=1e-5)
    assert 0 <= np.array(s.H).min() and np.array(s.H).max() <= 1


def test_save_and_load_round_trip_exactly(tmp_path):
    s = SynapticScaffold(SHAPE)
    rng = np.random.default_rng(3)
    s.sigma = mx.array(rng.normal(size=SHAPE).astype(np.float32))
    s.H = mx.array(rng.uniform(size=SHAPE).astype(np.float32))
    path = s.save_synapses(tmp_path / "mem" / "synapses.safetensors")
    fresh = SynapticScaffold(SHAPE)
    fresh.load_synapses(path)
    np.testing.assert_array_equal(np.array(fresh.sigma), np.array(s.sigma))
    np.testing.assert_array_equal(np.array(fresh.H), np.array(s.H))
    np.testing.assert_array_equal(np.array(fresh.peak), np.array(s.peak))
    assert fresh.diagnostics() == s.diagnostics()
    assert list(tmp_path.joinpath("mem").iterdir()) == [path]  # no temporary file left behind


def test_a_mismatched_shape_is_refused_with_a_clear_error(tmp_path):
    path = SynapticScaffold(SHAPE).save_synapses(tmp_path / "s.safetensors")
    other = SynapticScaffold((2, 2, 8, 3))
    with pytest.raises(
        SynapseShapeError, match=r"sigma of shape \(2, 2, 4, 3\).*\(2, 2, 8, 3\).*another model"
    ):
        other.load_synapses(path)
    assert np.array(other.sigma).sum() == 0  # nothing half-loaded
    with pytest.raises(FileNotFoundError):
        other.load_synapses(tmp_path / "none.safetensors")


def test_diagnostics_on_a_hand_made_state():
    s = SynapticScaffold(
        (1, 1, 2, 2), ScaffoldConfig(base_decay=0.1, stiffness=9.0, stiff_threshold=0.5)
    )
    s.sigma = mx.array([[[[3.0, 0.0], [0.0, 4.0]]]])
    s.H = mx.array([[[[1.0, 0.0], [0.0, 0.6]]]])
    d = s.diagnostics()
    assert d["sigma_norm"] == pytest.approx(5.0)
    assert d["stiff_synapses"] == pytest.approx(0.5)  # H = 1.0 and 0.6 exceed 0.5
    # decay = 0.1 / (1 + 9 H): 0.01, 0.1, 0.1, 0.1 / 6.4
    assert d["avg_decay"] == pytest.approx((0.01 + 0.1 + 0.1 + 0.1 / 6.4) / 4)


def test_zero_synapses_leave_the_model_unchanged_and_exposure_changes_it():
    mx.random.seed(0)
    config = BDHConfig(n_layer=2, n_embd=16, n_head=2, mlp_internal_dim_multiplier=4, dropout=0.0)
    model = BDH(config)
    model.eval()
    s = SynapticScaffold.for_model(config)
    x = mx.array([[1, 2, 3, 4, 5]])
    np.testing.assert_array_equal(
        np.array(model.forward(x, fast_weights=s.sigma).logits), np.array(model(x))
    )
    s.update(model.forward(x, fast_weights=s.sigma).activity)
    assert s.diagnostics()["sigma_norm"] > 0
    assert not np.allclose(
        np.array(model.forward(x, fast_weights=s.sigma).logits), np.array(model(x))
    )
