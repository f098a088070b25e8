"""SAE model and loss terms against hand-computed values on tiny inputs."""

import math

import mlx.core as mx
import numpy as np
import pytest

from hebbian.sae import losses
from hebbian.sae.model import SparseAutoencoder, topk_mask


def test_squared_error_is_mean_over_features_per_example():
    x = mx.array([[1.0, 2.0], [0.0, 0.0]])
    x_hat = mx.array([[0.0, 0.0], [1.0, 1.0]])
    assert np.allclose(losses.squared_error(x, x_hat), [2.5, 1.0])


def test_weighted_mean_is_mean_of_weighted_values():
    values = mx.array([2.5, 1.0])
    assert losses.weighted_mean(values).item() == pytest.approx(1.75)
    assert losses.weighted_mean(values, mx.array([2.0, 0.5])).item() == pytest.approx(
        (5.0 + 0.5) / 2
    )


def test_l1_penalty_scales_by_decoder_norms():
    f = mx.array([[1.0, 0.0, 2.0]])
    assert losses.l1_penalty(f).item() == pytest.approx(3.0)
    assert losses.l1_penalty(f, mx.array([1.0, 3.0, 0.5])).item() == pytest.approx(2.0)


def _kl(rate, target=0.1):
    return target * math.log(target / rate) + (1 - target) * math.log((1 - target) / (1 - rate))


def test_kl_penalty_per_example():
    expected = _kl(0.5)
    got = losses.kl_penalty(mx.array([[0.5, 0.1]]), 0.1)  # the second latent sits at the target: 0
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_kl_rate_penalty_uses_weighted_batch_rate():
    f = mx.array([[0.2], [0.4]])
    assert losses.kl_rate_penalty(f, 0.1).item() == pytest.approx(_kl(0.3), rel=1e-5)
    assert losses.kl_rate_penalty(f, 0.1, mx.array([1.0, 3.0])).item() == pytest.approx(
        _kl(0.35), rel=1e-5
    )
    with pytest.raises(ValueError):
        losses.kl_rate_penalty(f, 1.0)


def _tiny_sae():
    sae = SparseAutoencoder(2, 3)
    sae.W_dec = mx.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    return sae


def test_auxk_loss_hand_computed():
    sae = _tiny_sae()
    z = mx.array([[5.0, 2.0, -1.0], [1.0, 3.0, 0.5]])
    x = mx.array([[1.0, 1.0], [0.0, 2.0]])
    x_hat = mx.zeros_like(x)  # residual = x
    dead = mx.array([False, True, True])
    # k_aux = 1 picks latent 1 in both rows: residual estimates [0, 2] and [0, 3];
    # error 1 + 1 + 0 + 1 = 3; residual spread about its mean [0.5, 1.5] is 1; scale min(2/1, 1) = 1
    assert losses.auxk_loss(sae, x, x_hat, z, dead, k_aux=1).item() == pytest.approx(3.0, rel=1e-5)
    # with k_aux = 4 > 2 dead latents the scale is 2/4 and all dead latents join: row 0 gets 2*[0,1],
    # row 1 gets 3*[0,1] + 0.5*[1,1] = [0.5, 3.5]; error 1 + 1 + 0.25 + 2.25 = 4.5
    assert losses.auxk_loss(sae, x, x_hat, z, dead, k_aux=4).item() == pytest.approx(
        0.5 * 4.5, rel=1e-5
    )
    assert losses.auxk_loss(sae, x, x_hat, z, mx.array([False] * 3), k_aux=1).item() == 0.0


def test_topk_mask_has_exactly_k_ones_even_with_ties():
    z = mx.concatenate([mx.random.normal((5, 40), key=mx.random.key(0)), mx.zeros((1, 40))])
    assert np.array_equal(np.array(topk_mask(z, 7).sum(axis=1)), [7] * 6)


def test_topk_sae_has_exactly_k_active_latents():
    sae = SparseAutoencoder(16, 64, "topk", k=5, seed=1)
    sae.b_enc = mx.full((64,), 50.0)  # all pre-activations positive, so ReLU keeps all k
    f = sae.encode(mx.array(np.random.default_rng(0).standard_normal((32, 16)), mx.float32))
    assert np.array_equal(np.array((f > 0).sum(axis=1)), [5] * 32)


def test_decoder_normalisation_and_encoder_calibration():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 8)).astype(np.float32)
    sae = SparseAutoencoder(8, 32, b_dec=x.mean(axis=0), seed=0)
    sae.W_dec = sae.W_dec * 3
    sae.normalize_decoder()
    assert np.allclose(sae.decoder_norms(), 1.0, atol=1e-6)
    sae.calibrate_encoder(x)
    x_hat = np.array(sae(mx.array(x))[0])
    centred = x - x.mean(axis=0)
    assert np.linalg.norm(x_hat - x.mean(axis=0), axis=1).mean() == pytest.approx(
        np.linalg.norm(centred, axis=1).mean(), rel=1e-4
    )


def test_model_rejects_bad_arguments():
    with pytest.raises(ValueError):
        SparseAutoencoder(4, 8, "tanh")
    with pytest.raises(ValueError):
        SparseAutoencoder(4, 8, "topk")
    with pytest.raises(ValueError):
        SparseAutoencoder(4, 8, "relu", k=2)
