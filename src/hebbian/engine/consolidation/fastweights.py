"""Fast weights on the K and/or V projections: what rank1 and association share.

Stored, per layer and projection, is the seed's batched rank-1 sum, one matrix product per
batch of evicted tokens (per KV head):

    A += sum_i w_i * outer(target_i, x_i),   b += sum_i w_i * target_i,

target_i being the token's position-free key (for k_proj) or its value (for v_proj), x_i a
layer input chosen by the subclass (rank1: the token's own; association: its strongest
attender's). The side path adds dW (x - c) to the projection's output y = W x (W, quantized or
not, is never touched), with

    dW = (A - outer(b, c)) / s2 = sum_i w_i * outer(target_i, x_i - c) / s2,

c the running mean of the layer's inputs and s2 their mean squared distance from it. Hidden
states share a large common component: uncentred, every stored target would be recalled by
every input (this is the covariance rule of Hopfield networks with biased patterns), and
dividing by s2 makes a typical input seen again recall its target at the token's weight.
Keeping A and b (not dW) makes a batch exactly the sum of its tokens taken one at a time.

Bounds, so that nothing diverges and the model keeps its footing: A, b and the input
statistics fade by `decay` per evicted token; dW's Frobenius norm stays below max_norm * |W|;
and, per token, the side path changes the projection's output by at most max_norm * |W x| (a
Frobenius bound alone does not limit that: dW concentrates along the directions inputs share).
Metaplasticity, per output row: a row's recent accumulated change h (fading likewise) slows its
learning and its fading by p = 1 / (1 + h / h0), so rows in heavy use become stiff.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from ..evicted import Evicted
from .base import POSITIVE, Knob, Strategy, heads_first, one_of


def weight_norm(projection: nn.Module, inputs: int) -> float:
    """Frobenius norm of a linear projection's weight, whatever its kind (quantized or not)."""
    # rows of W^T, bias removed
    w = projection(mx.eye(inputs)[None]) - projection(mx.zeros((1, 1, inputs)))
    return mx.sqrt((w * w).sum()).item()


def _same(a: tuple, b: tuple) -> bool:
    """Whether two tuples hold the very same objects."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def centre(state: dict[str, mx.array]) -> tuple[mx.array, mx.array]:
    """(c, s2): the running mean of the layer's inputs and their mean squared distance from it."""
    count = mx.maximum(state["input_count"], 1e-6)
    c = state["input_sum"] / count
    return c, mx.maximum(state["input_square"] / count - (c * c).sum(), 1e-6)


class FastWeights(Strategy):
    """What rank1 and association share (each registers itself and chooses `inputs`)."""

    default_strength = 0.05
    knobs = {
        "target": Knob(
            "v", "which projection the fast weights modify: k, v or both", *one_of("k", "v", "both")
        ),
        "max_norm": Knob(
            0.05,
            "bound on the fast weights, relative to the projection's own: on dW's Frobenius norm "
            "(against W's), and per token on the side path's output (against W x)",
            *POSITIVE,
        ),
        "stiffen_at": Knob(
            4.0,
            "metaplasticity: a row whose accumulated change reaches stiffen_at times a typical row "
            "at the norm bound learns and forgets at half the rate (0: off)",
            lambda x: x >= 0,
            "be 0 (off) or positive",
        ),
    }
    records_inputs = True
    _fixed = (*Strategy._fixed, "bound")

    def __init__(self, config, model: nn.Module, layers: list[int]):
        self.side_targets = ("k", "v") if config.target == "both" else (config.target,)
        self.bound = {}  # (layer, target) -> the Frobenius bound of dW
        for i in layers:
            attn = model.layers[i].self_attn
            for t in self.side_targets:
                projection = getattr(attn, f"{t}_proj", None)
                if projection is None:
                    raise ValueError(
                        f"mode {config.mode!r} needs separate k_proj and v_proj; "
                        f"{type(attn).__module__} has none (try mode 'memory' or 'slots')"
                    )
                self.bound[i, t] = config.max_norm * weight_norm(projection, model.args.hidden_size)
        super().__init__(config, model, layers)

    def reset(self) -> None:
        super().reset()
        # (layer, target) -> (the arrays of the state they come from, dW^T, dW c)
        self._effective = {}

    @property
    def nbytes(self) -> int:
        return super().nbytes + sum(
            dw_t.nbytes + shift.nbytes for _, dw_t, shift in self._effective.values()
        )

    def inputs(self, batch: Evicted) -> tuple[mx.array, mx.array | None]:
        """The layer inputs the batch's targets are keyed by, (B, 1 or H, E, D), and which count."""
        raise NotImplementedError

    def initial(self, layer: int) -> dict[str, mx.array]:
        s = self.shapes[layer]
        state = {
            "input_sum": mx.zeros((s.hidden,)),
            "input_square": mx.zeros(()),
            "input_count": mx.zeros(()),
        }
        for t in self.side_targets:
            rows = s.n_kv_heads * (s.head_dim if t == "k" else s.value_dim)
            state[f"A{t}"], state[f"b{t}"], state[f"h{t}"] = (
                mx.zeros((rows, s.hidden)),
                mx.zeros((rows,)),
                mx.zeros((rows,)),
            )
        state["mass"] = mx.zeros((s.n_kv_heads,))
        return state

    def side(self, layer: int, target: str, x: mx.array, y: mx.array) -> mx.array:
        """The `target` projection's output for inputs x with the side path added: y + dW (x - c),
        the addition shortened where it would exceed max_norm * |y| (y = W x, the base output)."""
        if layer not in self.active or target not in self.side_targets:
            return y
        side = self.compiled(f"side {target}", layer, self._side, steady=x.shape[1] == 1)
        return side(*self._weights(layer, target), x, y)

    def _weights(self, layer: int, target: str) -> tuple[mx.array, mx.array]:
        """(dW^T, dW c) of the layer's state: they change only when the layer consolidates, so
        they are made once per batch, not per token."""
        state = self.layers[layer]
        source = tuple(state.values())  # arrays, never copied: a snapshot's dict is
        weights = self._effective.get((layer, target))
        if weights is None or not _same(weights[0], source):
            effective = self.compiled(
                f"dW {target}", layer, lambda _, s: self._effective_weights(s, target), steady=True
            )
            weights = self._effective[layer, target] = (source, *effective(state))
        return weights[1:]

    def step_arrays(self, layer: int) -> dict[str, mx.array]:
        arrays = super().step_arrays(layer)
        if layer in self.active:
            for t in self.side_targets:
                arrays[f"dW^T {t}"], arrays[f"dW c {t}"] = self._weights(layer, t)
        return arrays

    def use_step_arrays(self, layer: int, arrays: dict[str, mx.array]) -> None:
        state = {name: x for name, x in arrays.items() if not name.startswith(("dW^T ", "dW c "))}
        super().use_step_arrays(layer, state)
        for t in self.side_targets:
            if f"dW^T {t}" in arrays:
                self._effective[layer, t] = (
                    tuple(self.layers[layer].values()),
                    arrays[f"dW^T {t}"],
                    arrays[f"dW c {t}"],
                )

    @staticmethod
    def _effective_weights(state: dict[str, mx.array], target: str) -> tuple[mx.array, mx.array]:
        """(dW^T, dW c): the side path's addition is x dW^T - dW c."""
        c, s2 = centre(state)
        dw_t = ((state[f"A{target}"] - state[f"b{target}"][:, None] * c) / s2).T
        return dw_t, c @ dw_t

    def _side(
        self, layer: int, dw_t: mx.array, shift: mx.array, x: mx.array, y: mx.array
    ) -> mx.array:
        extra = x.astype(mx.float32) @ dw_t - shift
        room = self.config.max_norm * mx.linalg.norm(y.astype(mx.float32), axis=-1, keepdims=True)
        size = mx.linalg.norm(extra, axis=-1, keepdims=True)
        return y + (extra * mx.minimum(1.0, room / (size + 1e-12))).astype(y.dtype)

    def update(self, layer, state, batch, weights):
        B, E = batch.importance.shape[0], batch.importance.shape[-1]
        fade = self.config.decay**E
        # (1 or H, N, D), each token faded by its age
        own = heads_first(batch.hidden).astype(mx.float32)
        ages = mx.tile(self.config.decay ** mx.arange(E - 1, -1, -1, dtype=mx.float32), B)[
            None, :, None
        ]
        new = dict(
            state,
            input_sum=fade * state["input_sum"] + (own * ages).sum(axis=(0, 1)),
            input_square=fade * state["input_square"] + (own * own * ages).sum(),
            input_count=fade * state["input_count"] + ages.sum() * own.shape[0],
        )
        x, counts = self.inputs(batch)
        x = heads_first(mx.broadcast_to(x, batch.keys.shape[:3] + x.shape[3:])).astype(mx.float32)
        if counts is not None:
            weights = weights * heads_first(counts)
        c, s2 = centre(new)
        # Each row of the batch's change to dW, sum_n target_n (x_n - c) / s2, has the squared
        # norm target^T G target / s2^2 with G the Gram matrix of the centred inputs (N x N, per
        # KV head): the row norms cost no pass over the (rows x D) change.
        centred = x - c
        gram = centred @ centred.swapaxes(1, 2)
        for t in self.side_targets:
            target = (
                heads_first(batch.keys if t == "k" else batch.values).astype(mx.float32)
                * weights[..., None]
            )
            # one product for the batch
            change_a = (target.swapaxes(1, 2) @ x).reshape(-1, x.shape[-1])
            change_b = target.sum(axis=1).reshape(-1)
            change = (
                mx.sqrt(mx.maximum(((gram @ target) * target).sum(axis=1), 0.0)).reshape(-1) / s2
            )
            new[f"A{t}"], new[f"b{t}"], new[f"h{t}"] = self._learn(
                self.bound[layer, t],
                state[f"A{t}"],
                state[f"b{t}"],
                state[f"h{t}"],
                change_a,
                change_b,
                change,
                fade,
                c,
                s2,
            )
        return new

    def _plasticity(self, bound: float, h: mx.array) -> mx.array:
        if not self.config.stiffen_at:
            return mx.ones_like(h)
        return 1 / (1 + h / (self.config.stiffen_at * bound / math.sqrt(h.shape[0])))

    def _learn(self, bound, a, b, h, change_a, change_b, change, fade, c, s2):
        """(A, b, h) after a batch: change_a, change_b its sums, change the row norms of its dW."""
        p = self._plasticity(bound, h)
        keep = 1 - (1 - fade) * p
        a, b = keep[:, None] * a + p[:, None] * change_a, keep * b + p * change_b
        norm = mx.linalg.norm((a - b[:, None] * c) / s2)
        shrink = mx.minimum(1.0, bound / (norm + 1e-12))
        return a * shrink, b * shrink, fade * h + p * change

    def layer_diagnostics(self, layer, state):
        out = {"update_norm": 0.0, "stiff_fraction": 0.0, "decay": 0.0}
        for t in self.side_targets:
            bound = self.bound[layer, t]
            p = self._plasticity(bound, state[f"h{t}"])
            dw_t, _ = self._effective_weights(state, t)
            out["update_norm"] += mx.linalg.norm(dw_t) * self.config.max_norm / bound
            out["stiff_fraction"] += (p < 0.5).mean()
            out["decay"] += (1 - (1 - self.config.decay) * p).mean()
        return {k: v / len(self.side_targets) for k, v in out.items()}
