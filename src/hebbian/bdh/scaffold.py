"""Synaptic scaffolding (seed 001): fast weights that learn during inference, no backprop.

BDH's attention state rho = sum_s k_s^T x_s is already a Hebbian memory (neuron k_s
co-active with state x_s), but it lives for one sequence only. The scaffold keeps a
persistent, position-free copy per layer and head, ``sigma`` (n_layer, nh, N, D), that the
model reads as ``x_sparse @ sigma`` next to its attention (``BDH.forward(fast_weights=...)``).

After a forward pass, ``update`` applies, for each layer, with C = sum_{b,t} x_sparse^T x:

    H     <- (1 - meta_rate) * H + meta_rate * |C| / max|C|     usage history in [0, 1]
    decay  = base_decay / (1 + stiffness * H)                   metaplasticity: used synapses forget slower
    sigma <- (1 - decay) * sigma + eta * C                       Hebbian growth with forgetting

then scales each (layer, head) block of sigma back if its norm passed ``capacity`` times the
largest single update that block has received (so the bound follows the model's own scale). With
eta = 1 one exposure adds exactly what the text would add to the attention state, minus
its RoPE phases. Everything is one batched matrix product per layer.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import mlx.core as mx

from hebbian.io.files import replacing

from .model import LayerActivity


@dataclass(frozen=True)
class ScaffoldConfig:
    eta: float = 1.0
    base_decay: float = 0.01  # per update, for a synapse never used
    meta_rate: float = 0.1  # how fast the usage history H follows current co-activation
    stiffness: float = 9.0  # a synapse with H = 1 forgets 1 + stiffness times slower
    capacity: float = 100.0  # a block's norm is held to this many times its largest single update
    stiff_threshold: float = 0.5  # H above this counts as a stiff synapse

    def __post_init__(self):
        if self.eta < 0 or self.stiffness < 0 or self.capacity <= 0:
            raise ValueError("need eta >= 0, stiffness >= 0 and capacity > 0")
        for name in ("base_decay", "meta_rate", "stiff_threshold"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")


class SynapseShapeError(ValueError):
    """A synapse file does not fit this model."""


class SynapticScaffold:
    def __init__(self, shape: tuple[int, int, int, int], config: ScaffoldConfig = ScaffoldConfig()):
        """``shape`` is (n_layer, n_head, N, D): ``SynapticScaffold.for_model(model.config)`` builds it."""
        self.config = config
        self.sigma = mx.zeros(shape)
        self.H = mx.zeros(shape)
        self.peak = mx.zeros((*shape[:2], 1, 1))  # largest update norm seen, per (layer, head)

    @classmethod
    def for_model(cls, model_config, config: ScaffoldConfig = ScaffoldConfig()) -> SynapticScaffold:
        c = model_config
        return cls((c.n_layer, c.n_head, c.neurons_per_head, c.n_embd), config)

    def decay_rate(self) -> mx.array:
        """Each synapse's forgetting rate per update."""
        return self.config.base_decay / (1 + self.config.stiffness * self.H)

    def update(self, activity: list[LayerActivity]) -> None:
        """One plasticity step from the layers' activity of a forward pass (any batch and length)."""
        coact = mx.stack([coactivation(a) for a in activity])  # (L, nh, N, D)
        self.apply(coact)

    def apply(self, coact: mx.array) -> None:
        """The plasticity step for a given co-activation (L, nh, N, D); ``update`` computes it."""
        c = self.config
        magnitude = mx.abs(coact)
        peak = magnitude.max(axis=(1, 2, 3), keepdims=True)
        usage = magnitude / mx.maximum(peak, 1e-12)
        self.H = (1 - c.meta_rate) * self.H + c.meta_rate * usage
        self.peak = mx.maximum(self.peak, c.eta * block_norms(coact))
        sigma = (1 - self.decay_rate()) * self.sigma + c.eta * coact
        bound = c.capacity * self.peak
        self.sigma = sigma * mx.minimum(1.0, bound / mx.maximum(block_norms(sigma), 1e-12))
        mx.eval(self.sigma, self.H, self.peak)

    def rest(self, steps: int = 1) -> None:
        """Updates without activity: forgetting (and the fading of usage) alone."""
        for _ in range(steps):
            self.apply(mx.zeros(self.sigma.shape))

    def diagnostics(self) -> dict[str, float]:
        """sigma_norm: memory formed (Frobenius norm); stiff_synapses: fraction with H above the
        threshold; avg_decay: mean forgetting rate per update."""
        return {
            "sigma_norm": mx.linalg.norm(self.sigma.reshape(-1)).item(),
            "stiff_synapses": (self.H > self.config.stiff_threshold).mean().item(),
            "avg_decay": self.decay_rate().mean().item(),
        }

    def save_synapses(self, path: str | Path) -> Path:
        """Write sigma, H and the update peaks (safetensors, config in the metadata) atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # mx.save_safetensors appends ".safetensors" to other names: give the temporary file that suffix
        with replacing(path, ".safetensors") as temporary:
            mx.save_safetensors(
                str(temporary),
                {"sigma": self.sigma, "H": self.H, "peak": self.peak},
                metadata={"scaffold_config": json.dumps(asdict(self.config))},
            )
        return path

    def load_synapses(self, path: str | Path) -> None:
        """Replace the synapses with a file's; refuse a file made for a model of another shape."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no synapse file at {path}")
        tensors = mx.load(str(path))
        missing = {"sigma", "H", "peak"} - set(tensors)
        if missing:
            raise SynapseShapeError(f"{path} is not a synapse file: it lacks {sorted(missing)}")
        for name, own in (("sigma", self.sigma), ("H", self.H), ("peak", self.peak)):
            if tuple(tensors[name].shape) != tuple(own.shape):
                raise SynapseShapeError(
                    f"{path} holds {name} of shape {tuple(tensors[name].shape)} but this model's {name} has "
                    f"shape {tuple(own.shape)} (n_layer, n_head, ...): it was saved from another model"
                )
        self.sigma, self.H, self.peak = tensors["sigma"], tensors["H"], tensors["peak"]


def block_norms(x: mx.array) -> mx.array:
    """Frobenius norm of each (layer, head) block of an (L, nh, N, D) array, as (L, nh, 1, 1)."""
    return mx.sqrt((x * x).sum(axis=(2, 3), keepdims=True))


def coactivation(activity: LayerActivity) -> mx.array:
    """sum over batch and time of x_sparse^T x, per head: (nh, N, D)."""
    nh, B, T, N = activity.x_sparse.shape
    keys = activity.x_sparse.reshape(nh, B * T, N)
    values = activity.x.reshape(B * T, -1)
    return keys.swapaxes(-1, -2) @ values
