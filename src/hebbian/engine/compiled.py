"""Steady decoding steps compiled whole: the model's forward pass with every layer's cache step.

Once the window has filled, a decoding step that hands nothing over to the strategy runs
the same graph at every token; only a few host values change (the token's slot and position,
the sinks' turn, the turn of memory queries, the mask of pending slots). Building that graph in
Python, operation by operation and layer by layer, takes a CPU milliseconds per token, while MLX
is evaluating the step before it on the same cores. `SteadyDecoder` stands in for the model
in mlx-lm's generate_step: such a step runs as one mx.compile'd call, traced once per structure
(the layers the strategy holds something for, and which host values there are), with the
caches' buffers, the strategy's state that a step reads and those host values as inputs and the
new buffers as outputs; the caches' timeline then advances once, as the step would have advanced it.
Every other call (prompt chunks, the steps before the window fills, hand-over steps, models
with caches of their own) runs the model as it is, and so does every step of a structure whose
trace failed (a model whose code cannot take its RoPE offset as an array, for one).
"""

from __future__ import annotations

from dataclasses import fields

import mlx.core as mx
import mlx.nn as nn

from .cache import HebbianCache, StepInputs
from .consolidation import Strategy
from .timeline import Timeline

_STEP_FIELDS = tuple(f.name for f in fields(StepInputs))  # read once, not per layer and step


class SteadyDecoder:
    """`model` for generate_step, with replayable steady decoding steps compiled whole (module docstring).

    Use it inside `patched(model, strategy)`, as the model itself."""

    def __init__(self, model: nn.Module, strategy: Strategy):
        self.model, self.strategy = model, strategy
        self.compiled_steps = 0  # steps run by a compiled call, for diagnostics and tests
        # structure -> compiled step, or None where tracing failed
        self._compiled: dict[tuple, object] = {}
        self._caches: list[HebbianCache] = []  # during a call: the caches a trace reads
        self._timelines: list[Timeline] = []  # and their timelines

    def __call__(self, inputs: mx.array, cache=None, **kwargs) -> mx.array:
        if (
            kwargs
            or inputs.shape != (1, 1)
            or not cache
            or not all(isinstance(c, HebbianCache) and c.replayable() for c in cache)
        ):
            return self.model(inputs, cache=cache, **kwargs)
        timelines = list({id(c.timeline): c.timeline for c in cache}.values())
        mask = cache[0].make_mask(1)
        # one dtype for every token (the prompt's int32, the sampler's uint32): one trace
        arrays = {
            "token": inputs.astype(mx.int32),
            "layers": [self._layer_arrays(c, c.steady_inputs(mask)) for c in cache],
        }
        # the structure a trace depends on besides shapes: the layers the strategy holds
        # something for, and which host values a step has (the sinks' turn, a mask, ...)
        key = (
            frozenset(self.strategy.active),
            tuple(tuple(x["step"]) for x in arrays["layers"]),
        )
        tracing = key not in self._compiled
        if tracing:
            self._compiled[key] = mx.compile(self._traced)
        elif self._compiled[key] is None:
            return self.model(inputs, cache=cache, **kwargs)
        self._caches, self._timelines = cache, timelines
        try:
            logits, buffers = self._compiled[key](arrays)
        except Exception:
            if not tracing:
                raise
            self._compiled[key] = None  # the trace left the caches as they were: run it op by op
            return self.model(inputs, cache=cache, **kwargs)
        finally:
            # not kept alive past the call (a reset engine drops its caches)
            self._caches, self._timelines = [], []
        for c, new in zip(cache, buffers):
            c.replayed(new)
        for timeline in timelines:
            timeline.advance()  # once for every layer
        self.compiled_steps += 1
        return logits

    def _layer_arrays(self, cache: HebbianCache, given: StepInputs) -> dict:
        """One layer's inputs to the compiled step: its buffers, host values and strategy arrays."""
        step = {
            name: getattr(given, name) for name in _STEP_FIELDS if getattr(given, name) is not None
        }
        strategy = self.strategy
        read = strategy.step_arrays(cache.layer) if cache.layer in strategy.shapes else {}
        return {"buffers": cache.buffers, "step": step, "strategy": read}

    def _traced(self, arrays: dict) -> tuple[mx.array, list[dict[str, mx.array]]]:
        """The step as the model runs it, on the arrays given (run by mx.compile when it traces);
        the caches and the strategy are left as they were."""
        caches, timelines, strategy = self._caches, self._timelines, self.strategy
        saved = [c.snapshot() for c in caches], [t.snapshot() for t in timelines]
        held = strategy.snapshot()
        try:
            for c, layer in zip(caches, arrays["layers"]):
                c.trace_with(layer["buffers"], StepInputs(**layer["step"]))
                if layer["strategy"]:
                    strategy.use_step_arrays(c.layer, layer["strategy"])
            logits = self.model(arrays["token"], cache=caches)
            for c in caches:
                c.check_settled()  # outside `patched`, the engine's attention never ran
            return logits, [c.buffers for c in caches]
        finally:
            for c, snapshot in zip(caches, saved[0]):
                c.restore(snapshot)
            for t, snapshot in zip(timelines, saved[1]):
                t.restore(snapshot)
            strategy.restore(held)
