"""The Dragon Hatchling (BDH) research module, in MLX.

- ``model``: BDH-GPU (shared encoder/decoder, sparse positive neurons, linear attention with
  RoPE, multiplicative gating), its config and checkpoints;
- ``data``, ``train``, ``sample``: byte-level data, training by backprop, generation and scoring;
- ``hebbian``: seed 000's Hebbian layer with k-winner-take-all and its state logger;
- ``scaffold``: seed 001's synaptic scaffolding (fast weights sigma, metaplasticity H, save/load);
- ``baseline``, ``protocol`` (+ ``protocol_report``, ``protocol_text``), ``exposure``
  (+ ``exposure_report``): the three experiments behind ``commands`` (`hebbian bdh ...`).

It stands alone on mlx and shares only ``hebbian.stats`` and ``hebbian.plots`` with the rest.
"""

from .hebbian import HebbianConfig, HebbianLayer, StateLogger, kwta
from .model import BDH, BDHConfig, load, save
from .scaffold import ScaffoldConfig, SynapseShapeError, SynapticScaffold

__all__ = [
    "BDH",
    "BDHConfig",
    "HebbianConfig",
    "HebbianLayer",
    "ScaffoldConfig",
    "StateLogger",
    "SynapseShapeError",
    "SynapticScaffold",
    "kwta",
    "load",
    "save",
]
