"""`hebbian bdh scaffold`: learning new facts at inference time, and recalling them in a new process.

Seed 001's "glip" test made measurable. Made-up words get definitions ("A glip is a small
blue bird."); half of them are exposed to the model, the other half are controls. Session 1
(this process) scores every fact as log p(" a small blue bird." | "A glip is") with empty
synapses, reads each exposed sentence ``repeats`` times with the scaffold learning (forward
passes only), and saves the synapses. Session 2 is a fresh Python process
(``python -m hebbian.bdh.exposure``) that loads the checkpoint and the synapse file and
scores every fact again. The change on exposed facts, against the change on controls, is
what the synapses carry; the fact placed in the context window is the positive control.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import mlx.core as mx
import numpy as np

from .. import corpus
from ..io.files import write_atomic
from .baseline import no_progress
from .data import ByteData, encode
from .exposure_report import write
from .model import BDH, load
from .sample import continuation_logprob
from .scaffold import ScaffoldConfig, SynapticScaffold

ADJECTIVES = (
    "small",
    "large",
    "old",
    "quiet",
    "bright",
    "heavy",
    "soft",
    "wild",
    "round",
    "sharp",
    "cold",
    "sweet",
)
COLOURS = ("blue", "red", "green", "white", "black", "golden", "grey", "silver")
EXPLORATORY_ETAS = (1.0, 0.1, 0.01, 0.001)  # read-out strengths tried after the pre-declared one
NOUNS = (
    "bird",
    "stone",
    "horse",
    "flower",
    "sword",
    "ship",
    "tree",
    "coat",
    "bell",
    "fish",
    "cup",
    "knife",
    "crown",
    "door",
    "lamp",
    "hill",
)


def make_facts(n: int, seed: int, forbidden: set[str] = frozenset()) -> list[dict]:
    """``n`` made-up words (none in ``forbidden``), each with a distinct definition; the seed's glip comes first."""
    rng = np.random.default_rng(seed)
    words, definitions = ["glip"], ["a small blue bird"]
    while len(words) < n:
        syllables = [
            rng.choice(list("bdfgklmnprstvz")) + rng.choice(list("aeiou")) for _ in range(2)
        ]
        word = "".join(syllables) + rng.choice(list("bdgklmnprst"))
        if word not in words and word not in forbidden:
            words.append(word)
    while len(definitions) < n:
        d = f"a {rng.choice(ADJECTIVES)} {rng.choice(COLOURS)} {rng.choice(NOUNS)}"
        if d not in definitions:
            definitions.append(d)
    return [
        {"word": w, "sentence": f"A {w} is {d}.", "cue": f"A {w} is", "answer": f" {d}."}
        for w, d in zip(words, definitions)
    ]


def score(
    model: BDH, facts: list[dict], fast_weights: mx.array | None = None, context: bool = False
) -> list[float]:
    """log p(answer | cue) per fact, in nats; ``context`` puts the fact itself before the cue."""
    return [
        continuation_logprob(
            model, (f["sentence"] + " " if context else "") + f["cue"], f["answer"], fast_weights
        )
        for f in facts
    ]


def repeat_test(model: BDH, text: str, block_size: int, n: int = 48) -> dict[str, list[float]]:
    """Per-byte log p of ``n`` held-out passages read once and read again right after themselves.

    A model that uses its context copies the second reading; this shows whether it does at all.
    Lead-in plus two readings fit in ``block_size``, the context length the model was trained on.
    """
    length = 2 * block_size // 5
    val = ByteData(text).val  # held out in training
    starts = np.linspace(length, len(val) - length - 1, n).astype(int)
    first, second = [], []
    for s in starts:
        lead, passage = bytes(val[s - length // 2 : s]), bytes(val[s : s + length])
        first.append(continuation_logprob(model, lead, passage) / length)
        second.append(continuation_logprob(model, lead + passage, passage) / length)
    return {"first": first, "second": second}


def expose(
    model: BDH, scaffold: SynapticScaffold, facts: list[dict], repeats: int, advance=lambda: None
) -> list[dict]:
    """Read each fact ``repeats`` times (round-robin), the synapses learning after every sentence."""
    model.eval()
    trace = []
    for _ in range(repeats):
        for fact in facts:
            ids = mx.array(encode(fact["sentence"]).astype(np.int32))[None]
            scaffold.update(model.forward(ids, fast_weights=scaffold.sigma).activity)
            trace.append(scaffold.diagnostics())
            advance()
    return trace


def eta_sweep(
    model: BDH,
    facts: list[dict],
    n_exposed: int,
    repeats: int,
    etas: tuple[float, ...],
    config: ScaffoldConfig,
    advance=lambda: None,
) -> list[dict]:
    """Exploratory, in one process: the same exposure at other read-out strengths, every fact rescored."""
    rows = []
    for eta in etas:
        scaffold = SynapticScaffold.for_model(model.config, replace(config, eta=eta))
        expose(model, scaffold, facts[:n_exposed], repeats)
        rows.append({"eta": eta, "after": score(model, facts, scaffold.sigma)})
        advance()
    return rows


def recall_in_new_process(
    checkpoint: Path, synapses: Path, facts_path: Path, out_path: Path
) -> dict:
    """Run session 2 in a fresh interpreter and return what it wrote."""
    cmd = [
        sys.executable,
        "-m",
        "hebbian.bdh.exposure",
        str(checkpoint),
        str(synapses),
        str(facts_path),
        str(out_path),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the recall process failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(out_path.read_text())


def main(argv: list[str]) -> None:
    """Session 2: ``python -m hebbian.bdh.exposure CHECKPOINT SYNAPSES FACTS_JSON OUT_JSON``."""
    checkpoint, synapses, facts_path, out_path = (Path(a) for a in argv)
    model, _ = load(checkpoint)
    scaffold = SynapticScaffold.for_model(model.config)
    scaffold.load_synapses(synapses)
    facts = json.loads(facts_path.read_text())
    out = {"after": score(model, facts, scaffold.sigma), "diagnostics": scaffold.diagnostics()}
    write_atomic(out_path, json.dumps(out))


def run(
    model: BDH,
    checkpoint: Path,
    n_facts: int,
    repeats: int,
    seed: int,
    synapses: Path,
    report_dir,
    progress=None,
    config: ScaffoldConfig = ScaffoldConfig(),
    block_size: int = 64,
) -> dict:
    """Both sessions, the statistics and scaffold.md (``block_size``: the context the model was trained on)."""
    progress = progress or no_progress
    text = corpus.load("shakespeare")
    vocabulary = set(re.findall(r"[a-z]+", text.lower()))
    facts = make_facts(2 * n_facts, seed, forbidden=vocabulary)
    exposed = facts[:n_facts]  # the rest are the controls
    before = score(model, facts)
    in_context = score(model, exposed, context=True)
    repeat = repeat_test(model, text, block_size)
    scaffold = SynapticScaffold.for_model(model.config, config)
    trace = expose(
        model,
        scaffold,
        exposed,
        repeats,
        progress("exposing facts (inference only)", repeats * n_facts),
    )
    scaffold.save_synapses(synapses)
    facts_path = synapses.with_name("facts.json")
    write_atomic(facts_path, json.dumps(facts, indent=1))
    session2 = recall_in_new_process(
        checkpoint, synapses, facts_path, synapses.with_name("recall.json")
    )
    etas = tuple(e for e in EXPLORATORY_ETAS if e != config.eta)
    sweep = eta_sweep(
        model, facts, n_facts, repeats, etas, config, progress("exploratory eta sweep", len(etas))
    )
    result = {
        "n_facts": n_facts,
        "repeats": repeats,
        "seed": seed,
        "facts": facts,
        "before": before,
        "after": session2["after"],
        "in_context": in_context,
        "trace": trace,
        "diagnostics_session1": scaffold.diagnostics(),
        "diagnostics_session2": session2["diagnostics"],
        "scaffold_config": asdict(config),
        "model_config": asdict(model.config),
        "checkpoint": str(checkpoint),
        "synapse_file_bytes": synapses.stat().st_size,
        "eta_sweep": sweep,
        "repeat": repeat,
        "block_size": block_size,
    }
    return write(result, Path(report_dir))


if __name__ == "__main__":
    main(sys.argv[1:])
