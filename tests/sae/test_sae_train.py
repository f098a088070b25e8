"""The training loop: dictionary recovery, determinism, decoder norms, dead latents and AuxK, weighting."""

from dataclasses import replace

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

from hebbian.sae import losses
from hebbian.sae.episodes import EMOTIONAL, sine_episodes
from hebbian.sae.metrics import mean_max_cosine
from hebbian.sae.model import SparseAutoencoder
from hebbian.sae.synthetic import summarize
from hebbian.sae.train import TrainConfig, train


def sparse_dictionary_data(d=16, n_atoms=24, k=3, n=2048, seed=0):
    rng = np.random.default_rng(seed)
    atoms = rng.standard_normal((n_atoms, d))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    codes = np.zeros((n, n_atoms))
    for row in codes:
        row[rng.choice(n_atoms, k, replace=False)] = rng.uniform(0.5, 1.5, k)
    return atoms, (codes @ atoms).astype(np.float32)


@pytest.mark.parametrize(
    "activation, config",
    [
        (
            "topk",
            TrainConfig(
                steps=400,
                batch_size=128,
                lr=3e-3,
                sparsity="none",
                unit_norm_decoder=True,
                auxk_coef=1 / 32,
                dead_window=1024,
            ),
        ),
        ("relu", TrainConfig(steps=400, batch_size=128, lr=3e-3, sparsity="l1", coef=3e-3)),
    ],
)
def test_known_sparse_dictionary_is_recovered(activation, config):
    atoms, x = sparse_dictionary_data()
    sae = SparseAutoencoder(
        16, 48, activation, k=3 if activation == "topk" else None, b_dec=x.mean(axis=0)
    )
    train(sae, x, config)
    assert mean_max_cosine(atoms, np.array(sae.W_dec)) > 0.9


def test_training_is_deterministic_and_keeps_unit_atoms():
    _, x = sparse_dictionary_data(n=256)
    config = TrainConfig(steps=30, batch_size=64, sparsity="none", unit_norm_decoder=True, seed=3)
    weights = []
    for _ in range(2):
        sae = SparseAutoencoder(16, 32, "topk", k=4, seed=3)
        result = train(sae, x, config)
        weights.append(np.array(sae.W_dec))
    assert np.array_equal(*weights)
    assert np.allclose(np.linalg.norm(weights[0], axis=1), 1.0, atol=1e-5)
    assert len(result.history["loss"]) == 30 // config.log_every + (30 % config.log_every > 0)


def test_latents_that_never_fire_are_reported_dead():
    _, x = sparse_dictionary_data(n=512)
    sae = SparseAutoencoder(16, 32, "topk", k=4, b_dec=x.mean(axis=0), seed=0)
    # latents 28..31 never fire
    sae.b_enc = mx.concatenate([mx.zeros((28,)), mx.full((4,), -100.0)])
    result = train(
        sae,
        x,
        TrainConfig(
            steps=20,
            batch_size=64,
            sparsity="none",
            unit_norm_decoder=True,
            dead_window=256,
            auxk_coef=1 / 32,
        ),
    )
    assert result.dead[28:].all()
    assert result.tokens_since_fired[28:].min() == 20 * 64


def test_auxk_gradient_reaches_only_dead_latents():
    _, x = sparse_dictionary_data(n=64)
    sae = SparseAutoencoder(16, 32, "topk", k=4, b_dec=x.mean(axis=0), seed=0)
    sae.b_enc = mx.full((32,), 5.0)  # every pre-activation positive, so ReLU passes AuxK's choices
    dead = mx.array([False] * 24 + [True] * 8)

    def aux(model, xb):
        x_hat, _, z = model(xb)
        return losses.auxk_loss(model, xb, x_hat, z, dead, k_aux=4)

    _, grads = nn.value_and_grad(sae, aux)(sae, mx.array(x))
    per_latent = np.abs(np.array(grads["W_enc"])).sum(axis=0)
    assert (per_latent[:24] == 0).all() and (per_latent[24:] > 0).all()


def test_train_validates_its_inputs():
    x = np.zeros((8, 4), np.float32)
    with pytest.raises(ValueError, match="sigmoid"):
        train(SparseAutoencoder(4, 8), x, TrainConfig(steps=1, sparsity="kl"))
    with pytest.raises(ValueError, match="shape"):
        train(SparseAutoencoder(4, 8), x, TrainConfig(steps=1), recon_weights=np.ones(3))
    with pytest.raises(ValueError):
        TrainConfig(sparsity="l2")


def test_importance_weights_make_the_emotional_episode_less_sparse():
    episodes = sine_episodes(seed=0)
    config = TrainConfig(steps=1000, coef=5e-4)
    active = {}
    for weighted in (False, True):
        sae = SparseAutoencoder(300, 32, b_dec=episodes.x.mean(axis=0), seed=0)
        weights = (
            (episodes.recon_weights(), episodes.sparsity_weights()) if weighted else (None, None)
        )
        train(sae, episodes.x, replace(config), *weights)
        recon, traces, _ = (np.array(a) for a in sae(mx.array(episodes.x)))
        active[weighted] = summarize(episodes, traces, recon, 0.05)[f"active_{EMOTIONAL}"]
    assert active[True] > active[False]
