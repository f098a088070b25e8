"""The Hebbian graph: the STDP rule on hand-made activity and spreading activation's formula."""

import mlx.core as mx
import numpy as np
import pytest

from hebbian.memnet.graph import spread, stdp_update


def one_hot(i, n=4):
    return mx.array(np.eye(n, dtype=np.float32)[i][None])  # batch of 1


def run_stdp(slots, rate=1.0, decay=0.1, n=4):
    adjacency, previous = mx.zeros((1, n, n)), mx.zeros((1, n))
    for slot in slots:
        current = one_hot(slot, n)
        adjacency = stdp_update(adjacency, previous, current, rate, decay)
        previous = current
    return np.array(adjacency[0])


def test_writing_slots_0_1_2_in_turn_links_0_to_1_and_1_to_2_only():
    a = run_stdp([0, 1, 2], rate=1.0, decay=0.1)
    expected = np.zeros((4, 4))
    expected[0, 1] = 1.0 * (1 - 0.1)  # formed at step 1, decayed once at step 2
    expected[1, 2] = 1.0
    np.testing.assert_allclose(a, expected, atol=1e-7)


def test_edges_are_directed_from_earlier_to_later():
    a = run_stdp([2, 0])
    assert a[2, 0] > 0 and a[0, 2] == 0


def test_an_edge_decays_geometrically_once_its_slots_fall_idle():
    a = run_stdp([0, 1, 3, 3, 3], rate=0.5, decay=0.2)  # 3 -> 3 repeats leave 0 -> 1 alone
    np.testing.assert_allclose(a[0, 1], 0.5 * 0.8**3, rtol=1e-6)


def test_rows_stay_bounded_under_long_random_activity():
    rng = np.random.default_rng(0)
    adjacency, previous = mx.zeros((3, 6, 6)), mx.zeros((3, 6))
    for _ in range(200):
        current = mx.array(rng.dirichlet(np.ones(6), size=3).astype(np.float32))
        adjacency = stdp_update(adjacency, previous, current, rate=1.0, decay=0.01)
        previous = current
    a = np.array(adjacency)
    assert (a >= 0).all()
    assert a.sum(axis=-1).max() <= 1 + 1e-5


def test_spreading_activation_equals_the_formula():
    rng = np.random.default_rng(1)
    w = rng.dirichlet(np.ones(5), size=(2, 3)).astype(np.float32)  # (B, H, N)
    a = rng.uniform(0, 0.3, (2, 5, 5)).astype(np.float32)
    alpha = 0.3
    expected = (1 - alpha) * w + alpha * np.einsum("bhn,bnm->bhm", w, a)
    np.testing.assert_allclose(
        np.array(spread(mx.array(w), mx.array(a), alpha)), expected, rtol=1e-6
    )


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_spreading_activation_limits(alpha):
    w = mx.array([[[0.2, 0.8, 0.0]]])
    a = mx.array([[[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]])
    out = np.array(spread(w, a, alpha))
    expected = [[[0.2, 0.8, 0.0]]] if alpha == 0 else [[[0.0, 0.2, 0.8]]]
    np.testing.assert_allclose(out, expected, atol=1e-7)
