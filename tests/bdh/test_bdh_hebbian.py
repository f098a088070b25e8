"""The seed-000 Hebbian layer: k-WTA, the outer-product update, its bounds, the logger."""

import mlx.core as mx
import numpy as np
import pytest

from hebbian.bdh.hebbian import HebbianConfig, HebbianLayer, StateLogger, kwta


@pytest.mark.parametrize("k", [1, 3, 10])
def test_kwta_keeps_exactly_k_active_per_row(k):
    h = mx.array(np.random.default_rng(0).normal(size=(5, 4, 10)).astype(np.float32))
    y = np.array(kwta(h, k))
    assert ((y != 0).sum(axis=-1) == k).all()
    # the survivors are the k largest of their row, unchanged
    top = np.sort(np.array(h), axis=-1)[..., -k:]
    np.testing.assert_array_equal(np.sort(np.where(y != 0, y, -np.inf), axis=-1)[..., -k:], top)


def test_kwta_rejects_an_impossible_k():
    with pytest.raises(ValueError, match="k must lie"):
        kwta(mx.zeros((2, 4)), 5)


def test_the_update_on_a_hand_made_input_is_the_outer_product_rule():
    layer = HebbianLayer(HebbianConfig(n_in=3, n_out=4, k=2, eta=0.5, decay=0.1, max_norm=1e6))
    layer.W = mx.array([[1.0, 0.0, 0.0, 2.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 3.0, 1.0]])
    W0 = np.array(layer.W)
    x = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], dtype=np.float32)
    y = np.array(layer.step(mx.array(x)))
    # h = x @ W: row 0 -> [1, 0, 0, 2] (winners 3, 0); row 1 -> [0, 1, 3, 1] (winner 2, then a tie of 1s)
    assert y[0].tolist() == [1.0, 0.0, 0.0, 2.0]
    assert y[1, 2] == 3.0 and (y[1] != 0).sum() == 2
    expected = 0.9 * W0 + 0.5 * (np.outer(x[0], y[0]) + np.outer(x[1], y[1]))
    np.testing.assert_allclose(np.array(layer.W), expected, rtol=1e-6)


def test_weights_stay_bounded_and_non_negative_under_endless_repetition():
    layer = HebbianLayer(HebbianConfig(n_in=16, n_out=8, k=2, eta=1.0, decay=0.0, max_norm=1.0))
    x = mx.array(np.random.default_rng(1).uniform(size=(4, 16)).astype(np.float32))
    for _ in range(200):
        layer.step(x)
    W = np.array(layer.W)
    assert np.isfinite(W).all() and (W >= 0).all()
    assert np.linalg.norm(W, axis=0).max() <= 1.0 + 1e-5


def test_logger_records_per_step_snapshots():
    log = StateLogger()
    a = mx.zeros((2, 3))
    log.log(0, activations=a, loss=1.5)
    a = a + 1  # a later change must not alter what was logged
    log.log(10, activations=a, loss=0.5)
    assert log["activations"].shape == (2, 2, 3) and log["activations"][0].sum() == 0
    assert log["loss"].tolist() == [1.5, 0.5] and log.steps_of("loss").tolist() == [0, 10]
    assert "loss" in log and "weights" not in log
    with pytest.raises(KeyError, match="nothing logged"):
        log["weights"]
