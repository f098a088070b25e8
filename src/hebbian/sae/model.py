"""The sparse autoencoder: one MLX module with ReLU, TopK and sigmoid latents.

    z     = (x - b_dec) W_enc + b_enc          pre-activations
    f     = act(z)                              latents (relu, topk or sigmoid)
    x_hat = f W_dec + b_dec                     reconstruction

ReLU is the standard L1-trained SAE (SAELens ``standard``); TopK keeps the k
largest pre-activations and applies a ReLU to them (OpenAI, Gao et al. 2024);
sigmoid is the classic sparse autoencoder (Ng 2011) whose latents are rates in
(0, 1), the form a KL sparsity penalty toward a target rate needs.

``W_dec`` rows are the dictionary atoms, one per latent. Initialisation follows
OpenAI's: unit-norm random atoms with the encoder tied to their transpose, and
``b_dec`` set to a data statistic (the caller passes the mean) so that the
encoder sees centred inputs from the first step.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

ACTIVATIONS = ("relu", "topk", "sigmoid")


def topk_mask(z: mx.array, k: int) -> mx.array:
    """A 0/1 mask with ones at exactly the ``k`` largest entries of each row of ``z``."""
    if not 0 < k <= z.shape[-1]:
        raise ValueError(f"k must lie in 1..{z.shape[-1]}, got {k}")
    idx = mx.argpartition(-z, kth=k - 1, axis=-1)[..., :k]
    return mx.put_along_axis(mx.zeros_like(z), idx, mx.array(1.0, dtype=z.dtype), axis=-1)


class SparseAutoencoder(nn.Module):
    """An SAE over ``d_in``-dimensional inputs with ``n_latents`` latents.

    ``activation`` is one of ACTIVATIONS; ``k`` is required for ``topk``.
    ``b_dec`` initialises the decoder bias (e.g. the data mean); ``seed`` fixes
    the initial weights.
    """

    def __init__(
        self,
        d_in: int,
        n_latents: int,
        activation: str = "relu",
        k: int | None = None,
        b_dec: np.ndarray | None = None,
        seed: int = 0,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if (activation == "topk") != (k is not None):
            raise ValueError("k is required for topk latents and only for them")
        if k is not None and not 0 < k <= n_latents:
            raise ValueError(f"k must lie in 1..{n_latents}, got {k}")
        self.d_in, self.n_latents, self.activation, self.k = d_in, n_latents, activation, k
        rng = np.random.default_rng(seed)
        atoms = rng.standard_normal((n_latents, d_in)).astype(np.float32)
        atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
        self.W_dec = mx.array(atoms)
        self.W_enc = mx.array(atoms.T.copy())
        self.b_enc = mx.zeros((n_latents,))
        self.b_dec = mx.array(
            np.zeros(d_in, np.float32) if b_dec is None else np.asarray(b_dec, np.float32)
        )

    def pre_activations(self, x: mx.array) -> mx.array:
        return (x - self.b_dec) @ self.W_enc + self.b_enc

    def activate(self, z: mx.array) -> mx.array:
        if self.activation == "sigmoid":
            return mx.sigmoid(z)
        if self.activation == "topk":
            return nn.relu(z) * mx.stop_gradient(topk_mask(z, self.k))
        return nn.relu(z)

    def encode(self, x: mx.array) -> mx.array:
        return self.activate(self.pre_activations(x))

    def decode(self, f: mx.array) -> mx.array:
        return f @ self.W_dec + self.b_dec

    def __call__(self, x: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        """(reconstruction, latents, pre-activations) for a batch ``x`` of shape [B, d_in]."""
        z = self.pre_activations(x)
        f = self.activate(z)
        return self.decode(f), f, z

    def calibrate_encoder(self, x: np.ndarray) -> None:
        """Scale ``W_enc`` so that reconstructions of ``x`` match its norm about ``b_dec`` on average.

        OpenAI's data-dependent init: with tied random atoms the initial
        reconstruction is too large by a factor that grows with n_latents / d_in,
        and the first steps would be spent shrinking it. Exact for ReLU and TopK
        latents (positively homogeneous in W_enc while b_enc = 0).
        """
        x = mx.array(np.asarray(x, np.float32))
        x_hat, _, _ = self(x)
        ratio = mx.mean(mx.linalg.norm(x_hat - self.b_dec, axis=-1)) / mx.mean(
            mx.linalg.norm(x - self.b_dec, axis=-1)
        )
        self.W_enc = self.W_enc / ratio

    def decoder_norms(self) -> mx.array:
        """The L2 norm of each dictionary atom (row of ``W_dec``), shape [n_latents]."""
        return mx.linalg.norm(self.W_dec, axis=1)

    def normalize_decoder(self) -> None:
        """Rescale every atom to unit norm (the constraint TopK training keeps)."""
        self.W_dec = self.W_dec / self.decoder_norms()[:, None]
