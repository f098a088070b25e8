"""Every knob of a MemNet in one validated dataclass.

The ablations of the experiments are configurations, not code paths: ``alpha=0`` turns
the Hebbian graph off, ``dream_every=0`` turns dreaming off and ``policy='topk'`` fixes the
read policy to top-k (see ``ABLATIONS``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

POLICIES = ("meta", "topk")


@dataclass(frozen=True)
class MemNetConfig:
    """Sizes, memory dynamics and loss weights of a MemNet."""

    vocab_size: int
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 4
    window: int = 3  # tokens each controller layer attends to (itself included)
    n_slots: int = 8
    slot_dim: int = 32
    read_heads: int = 2
    write_heads: int = 1
    top_k: int = 2
    policy: str = "meta"  # 'meta': learned gate over top-k/uniform/random; 'topk': top-k only
    alpha: float = 0.3  # weight of spreading activation; 0 turns the graph off
    stdp_rate: float = 1.0  # eta of the STDP rule
    graph_decay: float = 0.05  # fraction of every edge lost per step
    dream_every: int = 8  # steps between dreaming passes; 0 turns dreaming off
    lambda_hallucination: float = 0.1
    lambda_utilization: float = 0.01
    lambda_sparsity: float = 0.01

    def __post_init__(self) -> None:
        positive = (
            "vocab_size",
            "d_model",
            "n_layers",
            "n_heads",
            "window",
            "n_slots",
            "slot_dim",
            "read_heads",
            "write_heads",
            "top_k",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})"
            )
        if self.top_k > self.n_slots:
            raise ValueError(f"top_k ({self.top_k}) cannot exceed n_slots ({self.n_slots})")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        for name in ("alpha", "graph_decay"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)!r}")
        for name in (
            "stdp_rate",
            "dream_every",
            "lambda_hallucination",
            "lambda_utilization",
            "lambda_sparsity",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")

    @property
    def receptive_field(self) -> int:
        """How far back the controller alone can see: stacked windows reach L * (W - 1) + 1 tokens."""
        return self.n_layers * (self.window - 1) + 1

    def to_dict(self) -> dict:
        return asdict(self)


# The three ablations the experiments run next to the full model.
ABLATIONS = {
    "memnet_no_graph": {"alpha": 0.0},
    "memnet_no_dream": {"dream_every": 0},
    "memnet_topk_only": {"policy": "topk"},
}


def ablated(config: MemNetConfig, name: str) -> MemNetConfig:
    """``config`` with the ablation ``name`` (a key of ABLATIONS) applied."""
    return replace(config, **ABLATIONS[name])
