"""The Dragon Hatchling, GPU-friendly form (BDH-GPU), in MLX.

Written after Pathway's reference (github.com/pathwaycom/bdh, ``bdh.py``). One set of
weights is shared by every layer: ``encoder`` and ``encoder_v`` lift the D-dimensional
state into n_head x N neurons, ``decoder`` brings the gated neuron activity back to D.
Each layer:

    x_sparse = relu(x @ encoder)                       # sparse, positive neurons
    a        = sum_{s<t} <rope(x_sparse_t), rope(x_sparse_s)> x_s   # linear attention
    y_sparse = relu(ln(a) @ encoder_v)
    x        = ln(x + ln((x_sparse * y_sparse) @ decoder))        # multiplicative gating

The attention has no softmax, so its memory is a state rho = sum_s k_s^T x_s of fixed
size (n_head, N, D): ``forward`` takes and returns it, which gives exact token-by-token
generation and lets the scaffolding add a persistent fast-weight term ``x_sparse @ sigma``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import mlx.core as mx
import mlx.nn as nn

from ..io.files import replacing, write_atomic

ROPE_BASE = 2.0**16


@dataclass(frozen=True)
class BDHConfig:
    """The reference's defaults: 6 layers, D=256, 4 heads, N = 64*256/4 = 4096 neurons a head."""

    n_layer: int = 6
    n_embd: int = 256
    n_head: int = 4
    mlp_internal_dim_multiplier: int = 64
    dropout: float = 0.1
    vocab_size: int = 256

    def __post_init__(self):
        for name in ("n_layer", "n_embd", "n_head", "mlp_internal_dim_multiplier", "vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if (self.mlp_internal_dim_multiplier * self.n_embd) % self.n_head:
            raise ValueError("mlp_internal_dim_multiplier * n_embd must be divisible by n_head")
        if self.neurons_per_head % 2:
            raise ValueError("neurons per head must be even (RoPE rotates pairs)")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")

    @property
    def neurons_per_head(self) -> int:
        return self.mlp_internal_dim_multiplier * self.n_embd // self.n_head

    @property
    def n_neurons(self) -> int:
        return self.neurons_per_head * self.n_head

    def state_shape(self, batch: int = 1) -> tuple[int, int, int, int]:
        """Shape of one layer's attention state: (n_head, batch, N, D)."""
        return (self.n_head, batch, self.neurons_per_head, self.n_embd)


class LayerActivity(NamedTuple):
    """What one layer computed: its sparse neurons (nh, B, T, N) and its input state (B, T, D)."""

    x_sparse: mx.array
    x: mx.array


class Output(NamedTuple):
    logits: mx.array  # (B, T, vocab)
    states: list[mx.array]  # per layer, (nh, B, N, D): the attention state after the last token
    activity: list[LayerActivity]


def layer_norm(x: mx.array) -> mx.array:
    """LayerNorm without affine parameters, as in the reference."""
    return mx.fast.layer_norm(x, None, None, 1e-5)


def rope(x: mx.array, offset: int) -> mx.array:
    """Rotate consecutive neuron pairs by position (the reference's interleaved RoPE, base 2^16)."""
    return mx.fast.rope(x, x.shape[-1], traditional=True, base=ROPE_BASE, scale=1.0, offset=offset)


def linear_attention(
    q: mx.array, v: mx.array, state: mx.array | None, offset: int
) -> tuple[mx.array, mx.array]:
    """Strictly causal linear attention with keys = queries; returns (output, new state).

    q: (nh, B, T, N) at positions offset..offset+T-1; v: (B, T, D); state: the sum of
    k^T v over all earlier positions (nh, B, N, D), or None at the start of a sequence.
    """
    qr = rope(q, offset)
    scores = mx.tril(qr @ qr.swapaxes(-1, -2), k=-1)  # a token never attends to itself
    out = scores @ v
    if state is not None:
        out = out + qr @ state
    update = qr.swapaxes(-1, -2) @ v
    return out, update if state is None else state + update


class BDH(nn.Module):
    """Neuron tensors are laid out heads first, (nh, B, T, N), so that every product with the
    shared weights is one batched matrix product over heads (no weight broadcast over batch)."""

    def __init__(self, config: BDHConfig):
        super().__init__()
        self.config = config
        nh, D, N, V = config.n_head, config.n_embd, config.neurons_per_head, config.vocab_size
        init = nn.init.normal(std=0.02)
        self.embed = nn.Embedding(V, D)
        self.embed.weight = init(self.embed.weight)
        self.encoder = init(mx.zeros((nh, D, N)))
        self.encoder_v = init(mx.zeros((nh, D, N)))
        self.decoder = init(mx.zeros((nh * N, D)))  # row h*N + n: neuron n of head h
        self.lm_head = init(mx.zeros((D, V)))
        self.drop = nn.Dropout(config.dropout)

    def __call__(self, idx: mx.array) -> mx.array:
        return self.forward(idx).logits

    def forward(
        self,
        idx: mx.array,
        states: list[mx.array] | None = None,
        offset: int = 0,
        fast_weights: mx.array | None = None,
    ) -> Output:
        """Logits for byte ids ``idx`` (B, T) at positions offset..offset+T-1.

        ``states`` continues a sequence (one attention state a layer, from an earlier call);
        ``fast_weights`` (n_layer, nh, N, D) adds a position-free read-out ``x_sparse @ sigma``
        to each layer's attention (the synaptic scaffolding).
        """
        C = self.config
        B, T = idx.shape
        nh, N, D = C.n_head, C.neurons_per_head, C.n_embd
        decoder = self.decoder.reshape(nh, N, D)
        x = layer_norm(self.embed(idx))  # (B, T, D)
        new_states, activity = [], []
        for layer in range(C.n_layer):
            x_sparse = nn.relu(x.reshape(1, B * T, D) @ self.encoder)  # (nh, B*T, N)
            a, state = linear_attention(
                x_sparse.reshape(nh, B, T, N), x, None if states is None else states[layer], offset
            )
            a = a.reshape(nh, B * T, D)
            if fast_weights is not None:
                a = a + x_sparse @ fast_weights[layer]
            y_sparse = nn.relu(layer_norm(a) @ self.encoder_v)
            xy = self.drop(x_sparse * y_sparse)
            y = (xy @ decoder).sum(axis=0).reshape(B, T, D)  # = concat over heads @ decoder
            activity.append(LayerActivity(x_sparse.reshape(nh, B, T, N), x))
            new_states.append(state)
            x = layer_norm(x + layer_norm(y))
        return Output(x @ self.lm_head, new_states, activity)


def count_parameters(model: nn.Module) -> int:
    return sum(p.size for _, p in nn.utils.tree_flatten(model.parameters()))


def save(model: BDH, directory: str | Path, extra: dict | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (plus ``extra`` under "meta") to a directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with replacing(directory / "model.safetensors", suffix=".safetensors") as temporary:
        model.save_weights(str(temporary))
    payload = {"config": asdict(model.config), "meta": extra or {}}
    write_atomic(directory / "config.json", json.dumps(payload, indent=2))
    return directory


def load(directory: str | Path) -> tuple[BDH, dict]:
    """The model saved in ``directory`` (in eval mode) and its metadata."""
    directory = Path(directory)
    if not (directory / "config.json").exists():
        raise FileNotFoundError(
            f"no BDH checkpoint in {directory} (expected config.json and model.safetensors)"
        )
    payload = json.loads((directory / "config.json").read_text())
    model = BDH(BDHConfig(**payload["config"]))
    model.load_weights(str(directory / "model.safetensors"))
    model.eval()
    return model, payload.get("meta", {})
