"""What every consolidation strategy is: per-layer state that evicted tokens change.

A strategy receives each layer's evicted tokens in batches (`consolidate`) and may add to the
model's computation in one of two ways: a memory read merged into attention (`read`, see
attention.MemoryReader) or a side path on the K/V projections (`side`, installed by
`patched(model, strategy)`). Its state is a dict of arrays per layer, replaced (never mutated)
on each update, so a snapshot is a set of references and updates stay lazy: nothing here syncs
with the device. The engine's attention ties each layer's output to that layer's state
(`layer_state`), so a step's updates are computed with the step itself.

How much an evicted token counts: strength * importance / n_rep, where importance is the
attention it received summed over its KV head's query heads (so an average token counts about
strength; strength alone when importance is not tracked), times decay^age within its batch, so
that one batch equals the same tokens one at a time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

import mlx.core as mx
import mlx.nn as nn

from ..config import EngineConfig
from ..evicted import Evicted


@dataclass(frozen=True)
class LayerShape:
    """The sizes a strategy needs of one attention layer."""

    n_heads: int
    n_kv_heads: int
    head_dim: int
    value_dim: int
    hidden: int
    scale: float

    @property
    def n_rep(self) -> int:
        return self.n_heads // self.n_kv_heads


def layer_shape(model: nn.Module, layer: int) -> LayerShape:
    attn = model.layers[layer].self_attn
    hidden = model.args.hidden_size
    n_heads, n_kv = attn.n_heads, attn.n_kv_heads
    if hasattr(attn, "k_proj") and hasattr(attn, "v_proj"):
        probe = mx.zeros((1, 1, hidden))
        head_dim, value_dim = (
            attn.k_proj(probe).shape[-1] // n_kv,
            attn.v_proj(probe).shape[-1] // n_kv,
        )
    else:
        head_dim = value_dim = getattr(attn, "head_dim", None) or hidden // n_heads
    return LayerShape(n_heads, n_kv, head_dim, value_dim, hidden, float(attn.scale))


def heads_first(x: mx.array) -> mx.array:
    """(B, H, E, ...) -> (H, B * E, ...): a batch's tokens per KV head."""
    return x.swapaxes(0, 1).reshape(x.shape[1], -1, *x.shape[3:])


class Strategy(ABC):
    """One consolidation strategy over the layers in `layers` (those with a HebbianCache)."""

    name: ClassVar[str]
    records_inputs: ClassVar[bool] = False  # the cache keeps each token's layer input
    tracks_links: ClassVar[bool] = False  # the cache keeps each token's strongest attender
    side_targets: tuple[str, ...] = ()  # projections ("k", "v") with a side path

    def __init__(self, config: EngineConfig, model: nn.Module, layers: list[int]):
        self.config = config
        self.shapes = {i: layer_shape(model, i) for i in layers}
        self._compiled: dict[tuple[str, int], Callable] = {}
        self.reset()

    # --- what each strategy defines -----------------------------------------------------------

    @abstractmethod
    def initial(self, layer: int) -> dict[str, mx.array]:
        """A layer's empty state, including "mass" (n_kv_heads,): the weight consolidated, faded."""

    @abstractmethod
    def update(
        self, layer: int, state: dict[str, mx.array], batch: Evicted, weights: mx.array
    ) -> dict[str, mx.array]:
        """The layer's new state after `batch`; weights (H, N) as described in the module docstring."""

    def layer_diagnostics(self, layer: int, state: dict[str, mx.array]) -> dict[str, mx.array]:
        """Scalar arrays describing one layer, averaged over layers by `diagnostics`."""
        return {}

    # --- shared ----------------------------------------------------------------------------------

    def reset(self) -> None:
        self.layers = {i: self.initial(i) for i in self.shapes}
        # layers holding something (read and side paths skip the others)
        self.active: set[int] = set()
        self.consolidated = 0  # tokens consolidated per layer (counted on the first layer)

    def end_conversation(self) -> None:  # noqa: B027 (an optional hook)
        """What the strategy forgets when a conversation ends and its memory is kept (by default
        nothing: the consolidated state is all it has)."""

    def compiled(self, name: str, layer: int, function: Callable, steady: bool) -> Callable:
        """`function(layer, ...)`, compiled when `steady` (the shapes recur step after step, as
        in decoding): many small operations fused into a few. A compiled function is traced
        again for every new shape, so one-off shapes run as they are."""
        if not steady:
            return partial(function, layer)
        key = name, layer
        if key not in self._compiled:
            self._compiled[key] = mx.compile(partial(function, layer))
        return self._compiled[key]

    def consolidate(self, layer: int, batch: Evicted) -> None:
        arrays = {k: v for k, v in vars(batch).items() if v is not None}
        steady = batch.positions.shape[-1] == self.config.hand_over
        self.layers[layer] = self.compiled("consolidate", layer, self._consolidate, steady)(
            self.layers[layer], arrays
        )
        self.active.add(layer)
        if layer == min(self.shapes):
            self.consolidated += batch.positions.shape[0] * batch.positions.shape[-1]

    def _consolidate(
        self, layer: int, state: dict[str, mx.array], arrays: dict[str, mx.array]
    ) -> dict[str, mx.array]:
        batch = Evicted(**arrays)
        E = batch.importance.shape[-1]
        c, shape = self.config, self.shapes[layer]
        ages = c.decay ** mx.arange(E - 1, -1, -1, dtype=mx.float32)
        # untracked, every token counts as an average one
        importance = (
            batch.importance / shape.n_rep if c.track_importance else mx.ones_like(batch.importance)
        )
        weights = heads_first(importance * ages * c.eta)
        new = self.update(layer, state, batch, weights)
        new["mass"] = c.decay**E * state["mass"] + weights.sum(axis=-1)
        return new

    def layer_state(self, layer: int) -> list[mx.array]:
        return list(self.layers[layer].values())

    def step_arrays(self, layer: int) -> dict[str, mx.array]:
        """The arrays a decoding step of this layer uses: its whole state, which the step's
        output is tied to (`layer_state`) besides what it reads. A compiled whole step takes
        them as inputs: its trace must not hold them as constants."""
        return dict(self.layers[layer])

    def use_step_arrays(self, layer: int, arrays: dict[str, mx.array]) -> None:
        """Read `arrays`, as step_arrays gives them, in this layer's steps (until `restore`)."""
        self.layers[layer] = dict(arrays)

    def arrays(self) -> list[mx.array]:
        return [x for state in self.layers.values() for x in state.values()]

    @property
    def nbytes(self) -> int:
        return sum(x.nbytes for x in self.arrays())

    def state_dict(self) -> dict[str, mx.array]:
        return {
            f"layer{i}.{name}": x for i, state in self.layers.items() for name, x in state.items()
        }

    def load_state_dict(self, arrays: dict[str, mx.array], consolidated: int) -> None:
        """Replace the state with `arrays` (as from state_dict), checked first: ValueError names
        the first array that is missing, unexpected, of the wrong shape or type, or not finite."""
        expected = self.state_dict()
        for name in sorted(set(expected) | set(arrays)):
            if name not in arrays:
                raise ValueError(f"missing array {name}")
            if name not in expected:
                raise ValueError(f"unexpected array {name}")
            want, got = expected[name], arrays[name]
            if got.shape != want.shape or got.dtype != want.dtype:
                raise ValueError(
                    f"{name} is {got.dtype} {tuple(got.shape)}, expected {want.dtype} {tuple(want.shape)}"
                )
        bad = [name for name, x in arrays.items() if not mx.isfinite(x).all().item()]
        if bad:
            raise ValueError(f"{bad[0]} holds NaN or infinite values")
        for i in self.layers:
            self.layers[i] = {name: arrays[f"layer{i}.{name}"] for name in self.layers[i]}
        self.active = set(self.layers) if consolidated else set()
        self.consolidated = consolidated

    def snapshot(self) -> tuple:
        # a layer's state dict is replaced, never changed in place: references are a snapshot
        return dict(self.layers), set(self.active), self.consolidated

    def restore(self, snapshot: tuple) -> None:
        layers, active, self.consolidated = snapshot
        self.layers, self.active = dict(layers), set(active)

    def diagnostics(self) -> dict[str, float]:
        """Averages over layers: "mass" (faded weight held per KV head) and the strategy's own."""
        rows = [
            {"mass": s["mass"].mean(), **self.layer_diagnostics(i, s)}
            for i, s in self.layers.items()
        ]
        return {key: sum(r[key] for r in rows).item() / len(rows) for key in rows[0]}


class ReadStrategy(Strategy):
    """A strategy read by attention (attention.MemoryReader): `read_state` gives the (output,
    log_mass) of attending to one layer's state; layers holding nothing are skipped."""

    def memory_state(self, layer: int) -> dict[str, mx.array] | None:
        return self.layers[layer] if layer in self.active else None

    def read(self, layer: int, queries: mx.array, scale: float):
        state = self.memory_state(layer)
        return None if state is None else self.read_state(state, queries, scale)

    @staticmethod
    @abstractmethod
    def read_state(
        state: dict[str, mx.array], queries: mx.array, scale: float
    ) -> tuple[mx.array, mx.array]:
        """(output (B, n_heads, L, Dv), log_mass (B, n_heads, L)) of `queries` attending to `state`:
        a pure function of arrays (the engine traces it into its compiled decoding step)."""
