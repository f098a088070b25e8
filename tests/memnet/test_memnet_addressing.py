"""Read and write addressing: top-k, random, the meta-policy's content-free part, allocation."""

import mlx.core as mx
import numpy as np

from hebbian.memnet import addressing


def test_top_k_softmax_is_a_softmax_over_the_k_best_only():
    scores = mx.array([[1.0, 3.0, 2.0, -1.0, 0.5]])
    out = np.array(addressing.top_k_softmax(scores, 2))[0]
    e = np.exp([3.0, 2.0])
    np.testing.assert_allclose(out, [0, e[0] / e.sum(), e[1] / e.sum(), 0, 0], rtol=1e-6)


def test_top_k_with_k_at_least_n_is_the_full_softmax():
    scores = mx.array([[0.1, 0.2, 0.3]])
    np.testing.assert_allclose(
        np.array(addressing.top_k_softmax(scores, 3)),
        np.array(mx.softmax(scores, axis=-1)),
        rtol=1e-6,
    )


def test_random_one_hot_is_one_hot_and_reproducible():
    a = np.array(addressing.random_one_hot(mx.random.key(3), (4, 5), 6))
    b = np.array(addressing.random_one_hot(mx.random.key(3), (4, 5), 6))
    assert a.shape == (4, 5, 6)
    np.testing.assert_array_equal(a.sum(axis=-1), 1)
    np.testing.assert_array_equal(a, b)


def test_meta_policy_mix_sums_to_one():
    gate = mx.softmax(
        mx.array(np.random.default_rng(0).normal(size=(2, 3, 3)).astype(np.float32)), axis=-1
    )
    random = addressing.random_one_hot(mx.random.key(0), (2, 3), 5)
    top = addressing.top_k_softmax(mx.random.normal((2, 3, 5), key=mx.random.key(1)), 2)
    address = gate[..., 0:1] * top + addressing.exploration(gate, random)
    np.testing.assert_allclose(np.array(address.sum(axis=-1)), 1, rtol=1e-6)


def test_exploration_is_uniform_plus_random_parts():
    gate = mx.array([[0.5, 0.3, 0.2]])
    random = mx.array([[0.0, 1.0, 0.0, 0.0]])
    np.testing.assert_allclose(
        np.array(addressing.exploration(gate, random)), [[0.075, 0.275, 0.075, 0.075]], rtol=1e-6
    )


def test_allocation_prefers_the_oldest_slot():
    age = mx.array([[0.0, 5.0, 1.0]])
    weights = np.array(addressing.allocation(age, mx.array(2.0)))[0]
    assert weights.argmax() == 1 and abs(weights.sum() - 1) < 1e-6
