"""`hebbian bdh protocol`: seed 000's three-phase memory protocol on a small BDH.

A byte-level BDH learns by backpropagation from three streams of Shakespeare windows:

1. acquisition: every window carries the sentence defining "Zypher";
2. interference: every window carries the sentence defining "Zyphrex" (and never "Zypher");
3. persistence: plain Shakespeare, the "forgetting period".

Alongside, a Hebbian k-WTA layer (no gradients) learns from the BDH's last-layer neurons on
the same batches. Every ``log_every`` steps the logger probes both concepts and an untrained
control word ("Quorbel") in 16 fixed held-out carriers, ``<carrier> the <word> is``, and
records the neurons at the space that follows the word (the same byte for every word, so
what differs is what the model has made of the word), the Hebbian layer's response there,
its weights, and the loss of each definition. ``protocol_report`` turns the logs into R1-R7.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import mlx.core as mx
import numpy as np

from .. import corpus
from .baseline import no_progress
from .data import ByteData, encode
from .hebbian import HebbianConfig, HebbianLayer, StateLogger
from .model import BDH, BDHConfig
from .train import TrainConfig, Trainer

DEFINITIONS = {
    "Zypher": " a silver fox that sings at dawn.",
    "Zyphrex": " an iron bell that rings at dusk.",
}
CONTROL_WORD = "Quorbel"
PHASES = ("acquisition", "interference", "persistence")
PHASE_CONCEPT = {"acquisition": "Zypher", "interference": "Zyphrex", "persistence": None}


@dataclass(frozen=True)
class ProtocolConfig:
    d_model: int = 64
    n_layer: int = 2
    n_head: int = 2
    multiplier: int = 8  # neurons = multiplier * d_model, so capacity grows with d_model
    phase_steps: int = 150
    batch_size: int = 8
    block_size: int = 128
    learning_rate: float = 3e-3  # constant: a continual learner has no end of schedule
    log_every: int = 10
    n_probes: int = 16
    carrier_bytes: int = 48
    top_fraction: float = 0.05  # a concept's BDH neurons: the top 5% of its mean profile
    hebb_units_per_dim: int = 2  # Hebbian units = 2 * d_model
    hebb_k_fraction: float = 0.125  # k-WTA keeps 1/8 of the units
    hebb_eta: float = 0.05
    hebb_decay: float = 0.001
    hebb_max_norm: float = 1.0
    sweep: tuple[int, ...] = (16, 32, 64)  # d_model values for R4 (phases 1-2)

    def model_config(self, d_model: int | None = None) -> BDHConfig:
        return BDHConfig(self.n_layer, d_model or self.d_model, self.n_head, self.multiplier, 0.0)

    def hebbian_config(self, d_model: int, seed: int) -> HebbianConfig:
        n_out = self.hebb_units_per_dim * d_model
        return HebbianConfig(
            self.model_config(d_model).n_neurons,
            n_out,
            max(1, round(self.hebb_k_fraction * n_out)),
            self.hebb_eta,
            self.hebb_decay,
            self.hebb_max_norm,
            seed,
        )


PRESETS = {
    "cpu": ProtocolConfig(),
    "gpu": ProtocolConfig(
        phase_steps=500, batch_size=32, log_every=25, sweep=(16, 32, 64, 128, 256)
    ),
    "tiny": ProtocolConfig(
        d_model=16,
        phase_steps=4,
        batch_size=2,
        block_size=64,
        log_every=2,
        n_probes=4,
        carrier_bytes=16,
        sweep=(8, 16),
    ),
}


def concept_batch(
    data: ByteData, rng: np.random.Generator, sentence: bytes | None, batch: int, block: int
) -> tuple[mx.array, mx.array]:
    """Training windows with ``sentence`` written over a random stretch of each (or plain text)."""
    starts = rng.integers(0, len(data.train) - block - 1, size=batch)
    rows = data.train[starts[:, None] + np.arange(block + 1)].astype(np.int32)
    if sentence is not None:
        s = np.frombuffer(sentence, dtype=np.uint8)
        for row, at in zip(rows, rng.integers(0, block + 1 - len(s), size=batch)):
            row[at : at + len(s)] = s
    return mx.array(rows[:, :-1]), mx.array(rows[:, 1:])


class Probes:
    """Fixed held-out carriers followed by ``the <word> is<definition>``, one batch per word."""

    def __init__(self, data: ByteData, n: int, carrier_bytes: int):
        starts = np.linspace(0, len(data.val) - carrier_bytes - 1, n).astype(int)
        self.carriers = [data.val[s : s + carrier_bytes] for s in starts]
        self.batches = {}
        for word in (*DEFINITIONS, CONTROL_WORD):
            prompt = encode(f" the {word} is")
            definition = encode(DEFINITIONS.get(word, DEFINITIONS["Zypher"]))
            rows = np.stack(
                [np.concatenate([c, prompt, definition]) for c in self.carriers]
            ).astype(np.int32)
            space = carrier_bytes + len(f" the {word}")  # the space right after the word
            self.batches[word] = (
                mx.array(rows),
                space,
                carrier_bytes + len(prompt),
                len(definition),
            )

    def measure(self, model: BDH, hebb: HebbianLayer) -> dict[str, dict[str, np.ndarray]]:
        """Per word: BDH neurons and Hebbian response at the space after it, and the definition loss."""
        model.eval()
        out = {}
        for word, (rows, space, start, length) in self.batches.items():
            res = model.forward(rows[:, :-1])
            neurons = last_layer_neurons(res.activity, space)
            logp = res.logits[:, start - 1 : start - 1 + length]
            logp = logp - mx.logsumexp(logp, axis=-1, keepdims=True)
            targets = rows[:, start : start + length]
            nll = -mx.take_along_axis(logp, targets[..., None], axis=-1).mean()
            out[word] = {
                "neurons": np.array(neurons),
                "hebb": np.array(hebb(normalize(neurons))),
                "definition_loss": nll.item(),
            }
        return out


def last_layer_neurons(activity, position: int | None = None) -> mx.array:
    """The last layer's sparse neurons as rows (B*T or B, nh*N), heads concatenated."""
    xs = activity[-1].x_sparse  # (nh, B, T, N)
    if position is not None:
        xs = xs[:, :, position : position + 1]
    nh, B, T, N = xs.shape
    return xs.transpose(1, 2, 0, 3).reshape(B * T, nh * N)


def normalize(rows: mx.array) -> mx.array:
    return rows / mx.maximum(mx.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


def run_phases(
    cfg: ProtocolConfig,
    d_model: int,
    seed: int,
    data: ByteData,
    probes: Probes,
    phases: tuple[str, ...],
    advance: Callable[[], None],
) -> StateLogger:
    """Train one model through ``phases``, logging its state; returns the log."""
    mx.random.seed(seed)
    model = BDH(cfg.model_config(d_model))
    hebb = HebbianLayer(cfg.hebbian_config(d_model, seed))
    total = cfg.phase_steps * len(phases)
    trainer = Trainer(
        model,
        TrainConfig(
            steps=total,
            batch_size=cfg.batch_size,
            block_size=cfg.block_size,
            learning_rate=cfg.learning_rate,
            warmup_steps=0,
            schedule="constant",
            seed=seed,
        ),
    )
    rng = np.random.default_rng(seed)
    log = StateLogger()

    def snapshot(step: int) -> None:
        for word, m in probes.measure(model, hebb).items():
            log.log(step, **{f"{word}/{k}": v for k, v in m.items()})
        log.log(step, W=hebb.W)

    snapshot(0)
    step = 0
    for phase in phases:
        concept = PHASE_CONCEPT[phase]
        sentence = None if concept is None else f"the {concept} is{DEFINITIONS[concept]}".encode()
        for _ in range(cfg.phase_steps):
            x, y = concept_batch(data, rng, sentence, cfg.batch_size, cfg.block_size)
            loss = trainer.step(x, y)
            model.eval()
            neurons = last_layer_neurons(model.forward(x).activity)
            hebb.step(normalize(neurons))
            step += 1
            log.log(step, loss=loss, sparsity=(neurons == 0).mean().item())
            if step % cfg.log_every == 0 or step % cfg.phase_steps == 0:
                snapshot(step)
            advance()
        log.log(step, phase_end=PHASES.index(phase))
    return log


def run(
    scale: str = "cpu", seed: int = 0, progress=None, text: str | None = None
) -> tuple[StateLogger, dict[int, StateLogger]]:
    """The logs of the main run (three phases at ``d_model``) and of the capacity sweep (phases 1-2,
    by d_model, the main run's included)."""
    cfg = PRESETS[scale]
    progress = progress or no_progress
    data = ByteData(corpus.load("shakespeare") if text is None else text)
    probes = Probes(data, cfg.n_probes, cfg.carrier_bytes)
    main = run_phases(
        cfg,
        cfg.d_model,
        seed,
        data,
        probes,
        PHASES,
        progress(f"protocol d_model={cfg.d_model}", 3 * cfg.phase_steps),
    )
    sweep = {cfg.d_model: main}
    for d in cfg.sweep:
        if d != cfg.d_model:
            sweep[d] = run_phases(
                cfg,
                d,
                seed,
                data,
                probes,
                PHASES[:2],
                progress(f"sweep d_model={d} (phases 1-2)", 2 * cfg.phase_steps),
            )
    return main, sweep


def config_dict(cfg: ProtocolConfig, seed: int) -> dict:
    return {
        **asdict(cfg),
        "seed": seed,
        "model": asdict(cfg.model_config()),
        "hebbian": asdict(cfg.hebbian_config(cfg.d_model, seed)),
    }
