"""What a consolidation strategy is: the one base class, its knobs, and the registry of modes.

A mode (EngineConfig.mode) is one class, registered under its name:

    @register_strategy("slots")
    class Slots(Strategy):
        summary = "merged key/value slots"  # the chat's --mode help
        default_strength = 0.1  # EngineConfig.strength when none is given
        knobs = {"slots": Knob(64, "slots per layer and KV head", *at_least(1))}
        reads = True  # attention merges read_state's output into its softmax

        def initial(self, layer): ...  # a layer's empty state
        def update(self, layer, state, batch, weights): ...  # the state after a batch
        @staticmethod
        def read_state(state, queries, scale): ...

EngineConfig takes every registered strategy's knobs as its own keys (checked by the knob's rule
and the class's `check`); MODES, the default strengths and the chat's help are read from the
registry. consolidation/__init__.py imports (so registers) every module of the package: a new
mode is one module there defining one such class (or one elsewhere, imported before the engine
is built).

The contract, every method with a default (the null strategy, "off", overrides nothing but
`consolidates`): the cache hands each layer's evicted tokens, in batches, to `consolidate`
(unless `consolidates` is false: then they are counted and dropped), keeps each token's layer
input for `records_inputs` (the patch wraps the K/V projections to see it), and for
`tracks_links` (which needs records_inputs) the input of each token's strongest attender; for
`reads`, each layer's step (step.layer_step) merges the pure `read_state` of `memory_state` into
its softmax, and a prompt chunk's queries are then shown to `observe`, for later steps (`read`
does both in one call); the K/V projections named in `side_targets` get `side` added
(sidepath.py); each layer's output is tied to `layer_state` so that a step's updates are
computed with it; `step_arrays`/`use_step_arrays` hand the arrays a step reads to a compiled
whole step (compiled.py); `snapshot`/`restore` (snapshot.py: attributes, less those in
`_fixed`), `state_dict`/`load_state_dict`, `reset`/`end_conversation`, `arrays`, `nbytes` and
`diagnostics` serve the engine.

Most strategies keep a dict of arrays per layer, replaced (never mutated) on each update, so a
snapshot copies a few dicts, not arrays, and updates stay lazy. Such a strategy defines `initial` and
`update`; `consolidate` weighs a batch's tokens for it: an evicted token counts
strength * importance / n_rep, where importance is the attention it received summed over its KV
head's query heads (so an average token counts about strength; strength alone when importance is
not tracked), times decay^age within its batch, so that one batch equals the same tokens one at a
time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import mlx.core as mx
import mlx.nn as nn

from ..evicted import Evicted
from ..snapshot import Snapshots

if TYPE_CHECKING:  # the config reads the registry: a runtime import would run in a circle
    from ..config import EngineConfig


# --- knobs -------------------------------------------------------------------------------------


KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "text"}


@dataclass(frozen=True)
class Knob:
    """One setting of a strategy, an EngineConfig key: its default, what it does, and its rule
    (`ok`, and what a value `must` be, which the refusal says: "features must be at least 1")."""

    default: Any
    help: str
    ok: Callable[[Any], bool] | None = None
    must: str = ""

    def problem(self, name: str, value: Any) -> str | None:
        """Why `value` is refused, in one line, or None: not of the default's kind (an int
        passes for a float, a bool for nothing else), or against the rule."""
        kind = type(self.default)
        if kind in KINDS and not (
            isinstance(value, kind)
            and (kind is bool or not isinstance(value, bool))
            or kind is float
            and type(value) is int
        ):
            return f"{name} must be {KINDS[kind]}, got {value!r}"
        if self.ok is None or self.ok(value):
            return None
        return f"{name} must {self.must}, got {value!r}"


# Rules for Knob(default, help, *rule): (ok, what a value must be).
def at_least(n: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda x: x >= n), (f"be at least {n}" if n else "be 0 or more")


def one_of(*choices: str) -> tuple[Callable[[Any], bool], str]:
    return (lambda x: x in choices), f"be one of {', '.join(choices)}"


POSITIVE = (lambda x: x > 0), "be positive"


# --- the registry -------------------------------------------------------------------------------

_STRATEGIES: dict[str, type[Strategy]] = {}  # mode -> class, in the order registered
# EngineConfig's own names (its fields, properties and methods), which no knob may take: config.py
# reserves them once it has defined the class (the built-in modes, registered before, are checked then)
_RESERVED: set[str] = set()
S = TypeVar("S", bound="type[Strategy]")


def _reserved_problem(mode: str, names) -> str | None:
    """Why mode `mode` may not have knobs named `names`, or None."""
    taken = next((k for k in names if k in _RESERVED or k.startswith("_")), None)
    if taken is None:
        return None
    return f"mode {mode!r}: knob {taken!r} is a name of EngineConfig's own; pick another"


def reserve(names) -> None:
    """Make `names` (EngineConfig's own) names no knob may take; ValueError if one already has."""
    _RESERVED.update(names)
    for mode, cls in _STRATEGIES.items():
        problem = _reserved_problem(mode, cls.knobs)
        if problem:
            raise ValueError(problem)


def register_strategy(name: str) -> Callable[[S], S]:
    """Class decorator: make a Strategy subclass the mode `name` (EngineConfig(mode=name))."""

    def add(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise TypeError(f"mode {name!r}: {cls!r} is not a Strategy subclass")
        if name in _STRATEGIES and _STRATEGIES[name] is not cls:
            raise ValueError(f"mode {name!r} is registered already ({_STRATEGIES[name].__name__})")
        problem = _reserved_problem(name, cls.knobs)
        if problem:
            raise ValueError(problem)
        if cls.tracks_links and not cls.records_inputs:
            raise ValueError(
                f"mode {name!r}: tracks_links needs records_inputs (a link is an input)"
            )
        for knob, value in cls.knobs.items():
            other = next(
                (s for s in _STRATEGIES.values() if s.knobs.get(knob, value) is not value), None
            )
            if other is not None:
                raise ValueError(
                    f"mode {name!r}: knob {knob!r} differs from mode {other.name!r}'s; "
                    "share the Knob object or pick another name"
                )
        cls.name = name
        _STRATEGIES[name] = cls
        return cls

    return add


def modes() -> tuple[str, ...]:
    """The registered modes, in the order registered ("off" first)."""
    return tuple(_STRATEGIES)


def strategy_class(mode: str) -> type[Strategy]:
    """The class registered as `mode` (KeyError if none)."""
    return _STRATEGIES[mode]


def all_knobs() -> dict[str, Knob]:
    """Every registered strategy's knobs, by name."""
    return {name: knob for cls in _STRATEGIES.values() for name, knob in cls.knobs.items()}


# --- shapes --------------------------------------------------------------------------------------


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


# --- the base class -------------------------------------------------------------------------------


class Strategy(Snapshots):
    """One consolidation strategy over the layers in `layers` (those with a HebbianCache). As it
    is, it consolidates nothing: the null strategy (mode "off") is this class registered."""

    # what the registry and EngineConfig read
    name: ClassVar[str] = ""  # set by register_strategy
    summary: ClassVar[str] = ""  # what evicted tokens become, for the chat's --mode help
    default_strength: ClassVar[float] = 0.0  # EngineConfig.strength when it is None
    knobs: ClassVar[dict[str, Knob]] = {}  # this mode's own EngineConfig keys

    # what the cache, attention and the patch read
    consolidates: ClassVar[bool] = True  # evicted tokens reach `consolidate` (else: dropped)
    records_inputs: ClassVar[bool] = False  # the cache keeps each token's layer input
    # the cache keeps each token's strongest attender's layer input (needs records_inputs)
    tracks_links: ClassVar[bool] = False
    reads: ClassVar[bool] = False  # attention merges `read` into its softmax
    side_targets: tuple[str, ...] = ()  # projections ("k", "v") with a side path (`side`)

    # set once; never part of a snapshot
    _fixed = ("config", "shapes", "_compiled", "side_targets")

    def __init__(
        self, config: EngineConfig, model: nn.Module | None = None, layers: list[int] = ()
    ):
        self.config = config
        # a strategy that consolidates nothing needs nothing of the model
        self.shapes = {i: layer_shape(model, i) for i in layers} if self.consolidates else {}
        self._compiled: dict[tuple[str, int], Callable] = {}
        self.reset()

    # --- the configuration ------------------------------------------------------------------------

    @classmethod
    def check(cls, config: EngineConfig) -> str | None:
        """What is wrong with `config` for this mode beyond each knob's own rule, or None."""
        return None

    @classmethod
    def recall_at(cls, config: EngineConfig) -> int:
        """The recall distance when config.recall_distance is None: just beyond the window."""
        return config.capacity

    # --- per-layer state: what most strategies define --------------------------------------------

    def initial(self, layer: int) -> dict[str, mx.array]:
        """A layer's empty state, including "mass" (n_kv_heads,): the weight consolidated, faded."""
        raise NotImplementedError(f"mode {self.name!r} keeps no per-layer state")

    def update(
        self, layer: int, state: dict[str, mx.array], batch: Evicted, weights: mx.array
    ) -> dict[str, mx.array]:
        """The layer's new state after `batch`; weights (H, N) as described in the module docstring."""
        raise NotImplementedError(f"mode {self.name!r} keeps no per-layer state")

    def layer_diagnostics(self, layer: int, state: dict[str, mx.array]) -> dict[str, mx.array]:
        """Scalar arrays describing one layer, averaged over layers by `diagnostics`."""
        return {}

    # --- lifetime ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything consolidated."""
        self.layers = {i: self.initial(i) for i in self.shapes}
        # layers holding something (read and side paths skip the others)
        self.active: set[int] = set()
        self.consolidated = 0  # tokens consolidated per layer (counted on the first layer)

    def end_conversation(self) -> None:
        """What the strategy forgets when a conversation ends and its memory is kept (by default
        nothing: the consolidated state is all it has)."""

    # --- consolidating ----------------------------------------------------------------------------

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
        """Take one layer's batch of evicted tokens (in sequence order)."""
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
        """The arrays a step of this layer changes (the layer's output is tied to them)."""
        return list(self.layers.get(layer, {}).values())

    # --- reading (attention.attend merges it into the softmax) ----------------------------------

    def observe(self, layer: int, queries: mx.array, scale: float, window=None) -> None:
        """A prompt chunk's queries (a step of more than one token), turned as memory keys want
        them (HebbianCache.memory_queries), once the layer has taken its memory_state: what
        they choose is read by later steps (by default: nothing). `window` is the layer's cache
        (HebbianCache.window_keys: what the window holds), None where no cache drives it."""

    def memory_state(self, layer: int) -> dict[str, mx.array] | None:
        """The state `read_state` reads for a layer, or None while it holds nothing."""
        return self.layers[layer] if layer in self.active else None

    @staticmethod
    def read_state(
        state: dict[str, mx.array], queries: mx.array, scale: float
    ) -> tuple[mx.array, mx.array]:
        """What `read` gives, from the state alone: a pure function of arrays (the engine traces
        it into its compiled decoding step)."""
        raise NotImplementedError("a strategy that reads defines read_state")

    # --- side paths on the K/V projections (sidepath.py) -----------------------------------------

    def side(self, layer: int, target: str, x: mx.array, y: mx.array) -> mx.array:
        """The `target` ("k" or "v") projection's output y = W x for inputs x, with the
        strategy's addition (for the projections in `side_targets`)."""
        return y

    # --- a compiled whole step (compiled.py) ------------------------------------------------------

    def step_arrays(self, layer: int) -> dict[str, mx.array]:
        """The arrays a decoding step of this layer uses: its whole state, which the step's
        output is tied to (`layer_state`) besides what it reads. A compiled whole step takes
        them as inputs: its trace must not hold them as constants."""
        return dict(self.layers.get(layer, {}))

    def use_step_arrays(self, layer: int, arrays: dict[str, mx.array]) -> None:
        """Read `arrays`, as step_arrays gives them, in this layer's steps (until `restore`)."""
        self.layers[layer] = dict(arrays)

    # --- state: snapshots (Snapshots), files, reports --------------------------------------------

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

    def diagnostics(self) -> dict[str, float]:
        """Averages over layers: "mass" (faded weight held per KV head) and the strategy's own."""
        rows = [
            {"mass": s["mass"].mean(), **self.layer_diagnostics(i, s)}
            for i, s in self.layers.items()
        ]
        if not rows:
            return {}
        return {key: sum(r[key] for r in rows).item() / len(rows) for key in rows[0]}
