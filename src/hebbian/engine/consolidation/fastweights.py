"""Fast weights on the K and/or V projections: what rank1 and association share.

The side path adds dW x to a projection's output (y = W x + dW x; W, quantized or not, is never
touched). Each batch of evicted tokens changes dW by one matrix product per KV head,

    dW += sum_i w_i * outer(target_i, x_i / |x_i|^2),

target_i being the token's position-free key (for k_proj) or its value (for v_proj) and x_i a
layer input chosen by the subclass (rank1: the token's own; association: its strongest
attender's). Dividing by |x_i|^2 makes dW x_i = w_i * target_i: an input seen again recalls its
target at the token's weight. dW fades by `decay` per evicted token and its Frobenius norm is
bounded by max_norm * |W|. Metaplasticity, per output row: a row's recent accumulated change h
(fading like dW) slows both its learning and its fading by p = 1 / (1 + h / h0), so rows in
heavy use become stiff and keep what they hold while the others take the new.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from ..cache import Evicted
from .base import Strategy, heads_first
import os
CENTER = os.environ.get('CENTER', '1') == '1'


def weight_norm(projection: nn.Module, inputs: int) -> float:
    """Frobenius norm of a linear projection's weight, whatever its kind (quantized or not)."""
    eye = mx.eye(inputs)[None]
    w = projection(eye) - projection(mx.zeros((1, 1, inputs)))  # rows of W^T, bias removed
    return mx.sqrt((w * w).sum()).item()


class FastWeights(Strategy):
    records_inputs = True

    def __init__(self, config, model: nn.Module, layers: list[int]):
        self.side_targets = ("k", "v") if config.target == "both" else (config.target,)
        self.bound = {}  # (layer, target) -> the norm bound of dW
        for i in layers:
            attn = model.layers[i].self_attn
            for t in self.side_targets:
                projection = getattr(attn, f"{t}_proj", None)
                if projection is None:
                    raise ValueError(f"mode {config.mode!r} needs separate k_proj and v_proj; "
                                     f"{type(attn).__module__} has none (try mode 'memory' or 'slots')")
                self.bound[i, t] = config.max_norm * weight_norm(projection, model.args.hidden_size)
        super().__init__(config, model, layers)

    def inputs(self, batch: Evicted) -> tuple[mx.array, mx.array | None]:
        """The layer inputs the batch's targets are keyed by, (B, 1 or H, E, D), and which count."""
        raise NotImplementedError

    def initial(self, layer: int) -> dict[str, mx.array]:
        s = self.shapes[layer]
        state = {"input_sum": mx.zeros((s.hidden,)), "input_count": mx.zeros(())}
        for t in self.side_targets:
            rows = s.n_kv_heads * (s.head_dim if t == "k" else s.value_dim)
            state[f"d{t}"], state[f"h{t}"] = mx.zeros((rows, s.hidden)), mx.zeros((rows,))
        state["mass"] = mx.zeros((s.n_kv_heads,))
        return state

    def side(self, layer: int, target: str, x: mx.array) -> mx.array | None:
        """The side path's addition to the `target` projection's output for inputs x."""
        if layer not in self.active or target not in self.side_targets:
            return None
        state = self.layers[layer]
        return ((x - self._center(state)) if CENTER else x) @ state[f"d{target}"].T

    @staticmethod
    def _center(state):
        return state["input_sum"] / mx.maximum(state["input_count"], 1e-6)

    def update(self, layer, state, batch, weights):
        x, counts = self.inputs(batch)
        E = batch.importance.shape[-1]
        fade = self.config.decay ** E
        own = heads_first(batch.hidden)[0].astype(mx.float32)  # (N, D): the layer's inputs, for the centre
        new = dict(state, input_sum=fade * state["input_sum"] + own.sum(axis=0),
                   input_count=fade * state["input_count"] + own.shape[0])
        x = heads_first(mx.broadcast_to(x, batch.keys.shape[:3] + x.shape[3:])).astype(mx.float32)
        x = x - self._center(new) if CENTER else x
        if counts is not None:
            weights = weights * heads_first(counts)
        x = x / mx.maximum((x * x).sum(axis=-1, keepdims=True), 1e-6)
        for t in self.side_targets:
            target = heads_first(batch.keys if t == "k" else batch.values).astype(mx.float32)
            change = ((target * weights[..., None]).swapaxes(1, 2) @ x).reshape(-1, x.shape[-1])
            new[f"d{t}"], new[f"h{t}"] = self._learn(self.bound[layer, t], state[f"d{t}"], state[f"h{t}"], change, E)
        return new

    def _plasticity(self, bound: float, h: mx.array) -> mx.array:
        if not self.config.stiffen_at:
            return mx.ones_like(h)
        h0 = self.config.stiffen_at * bound / math.sqrt(h.shape[0])
        return 1 / (1 + h / h0)

    def _learn(self, bound, dw, h, change, E):
        p = self._plasticity(bound, h)
        keep = 1 - (1 - self.config.decay ** E) * p
        dw = keep[:, None] * dw + p[:, None] * change
        dw = dw * mx.minimum(1.0, bound / (mx.sqrt((dw * dw).sum()) + 1e-12))
        return dw, self.config.decay ** E * h + p * mx.sqrt((change * change).sum(axis=-1))

    def layer_diagnostics(self, layer, state):
        out = {"update_norm": 0.0, "stiff_fraction": 0.0, "decay": 0.0}
        for t in self.side_targets:
            bound, dw = self.bound[layer, t], state[f"d{t}"]
            p = self._plasticity(bound, state[f"h{t}"])
            out["update_norm"] += mx.sqrt((dw * dw).sum()) * self.config.max_norm / bound
            out["stiff_fraction"] += (p < 0.5).mean()
            out["decay"] += (1 - (1 - self.config.decay) * p).mean()
        return {k: v / len(self.side_targets) for k, v in out.items()}
