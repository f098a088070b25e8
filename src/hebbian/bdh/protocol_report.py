"""Results R1-R7 of the memory protocol: the numbers, the figures, and protocol.md.

Every claim of seed 000 is set against a baseline that could produce the same picture
without any memory: chance overlap for random sets of the same size, an untrained control
word for persistence and overlap, and the sparsity that k-WTA imposes by construction.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from .. import plots
from . import report
from .hebbian import StateLogger
from .protocol import CONTROL_WORD, ProtocolConfig, config_dict
from .protocol_text import markdown

WORDS = ("Zypher", "Zyphrex", CONTROL_WORD)


def top_set(profile: np.ndarray, k: int) -> set[int]:
    return set(np.argsort(-profile, kind="stable")[:k].tolist())


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def chance_jaccard(k: int, n: int) -> float:
    """Expected overlap of two random k-subsets of n (ratio of expectations)."""
    shared = k * k / n
    return shared / (2 * k - shared)


def band_consistency(rows: np.ndarray, k: int) -> float:
    """Mean pairwise Jaccard of the rows' top-k sets: 1 when every probe uses the same units."""
    sets = [top_set(r, k) if (r > 0).sum() >= k else set(np.flatnonzero(r).tolist()) for r in rows]
    return float(np.mean([jaccard(a, b) for a, b in combinations(sets, 2)]))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")


class Run:
    """Convenience views of one logged run."""

    def __init__(self, log: StateLogger, cfg: ProtocolConfig):
        self.log, self.cfg = log, cfg
        self.steps = log.steps_of("W")
        self.ends = log.steps_of("phase_end")
        self.n_neurons = log["Zypher/neurons"].shape[-1]
        self.k_neurons = max(1, round(cfg.top_fraction * self.n_neurons))
        self.n_units = log["W"].shape[-1]
        self.k_units = int((log["Zypher/hebb"][-1, 0] != 0).sum())

    def at(self, step: int) -> int:
        return int(np.flatnonzero(self.steps == step)[0])

    def profile(self, word: str, kind: str, step: int) -> np.ndarray:
        return self.log[f"{word}/{kind}"][self.at(step)].mean(axis=0)

    def sets(self, word: str, step: int) -> tuple[set, set]:
        return (
            top_set(self.profile(word, "neurons", step), self.k_neurons),
            top_set(self.profile(word, "hebb", step), self.k_units),
        )


def phase_lines(ax, run: Run) -> None:
    for end in run.ends[:-1]:
        ax.axvline(end, color="gray", ls=":", lw=1)


def concentration(rows: np.ndarray, k: int) -> float:
    """Share of the activation mass in the k strongest units, averaged over probes."""
    top = np.sort(rows, axis=-1)[:, -k:].sum(axis=-1)
    return float(np.mean(top / np.maximum(rows.sum(axis=-1), 1e-12)))


def r1(run: Run, out: Path) -> dict:
    """Zypher's probes above the untrained word's, early and at the end of phase 1."""
    early, late = run.cfg.log_every, run.ends[0]
    fig, axes = plots.figure(2, 2, figsize=(9, 5.5))
    order = np.argsort(-run.profile("Zypher", "neurons", late))[:128]
    res = {}
    for col, (name, step) in enumerate((("early", early), ("late", late))):
        entry = {"step": int(step)}
        for row, (kind, k, _n, title) in enumerate(
            (
                ("neurons", run.k_neurons, run.n_neurons, "BDH neurons"),
                ("hebb", run.k_units, run.n_units, "Hebbian k-WTA units"),
            )
        ):
            zypher = run.log[f"Zypher/{kind}"][run.at(step)]
            control = run.log[f"{CONTROL_WORD}/{kind}"][run.at(step)]
            shown = np.concatenate([zypher, control])
            axes[row, col].imshow(
                shown[:, order] if kind == "neurons" else shown, aspect="auto", cmap="magma"
            )
            axes[row, col].axhline(len(zypher) - 0.5, color="cyan", lw=1)
            axes[row, col].set(
                title=f"{title}, {name} (step {step})",
                ylabel=f"probes: Zypher | {CONTROL_WORD}",
                xlabel="neuron (top 128 for Zypher at end of phase 1)"
                if kind == "neurons"
                else "unit",
            )
            zset, qset = top_set(zypher.mean(axis=0), k), top_set(control.mean(axis=0), k)
            entry[kind] = {
                "consistency": band_consistency(zypher, k),
                "concentration": concentration(zypher, k),
                "overlap_control": jaccard(zset, qset),
            }
        res[name] = entry
    plots.save(fig, out / "R1_emergence.png")
    res["chance"] = {
        "neurons": chance_jaccard(run.k_neurons, run.n_neurons),
        "hebb": chance_jaccard(run.k_units, run.n_units),
    }
    res["uniform_concentration"] = {"neurons": run.k_neurons / run.n_neurons, "hebb": 1.0}
    winners = np.concatenate([run.log[f"{w}/hebb"][run.at(run.ends[-1])] for w in WORDS])
    res["units_used"] = int((winners != 0).any(axis=0).sum())
    return res


def r2_r6(run: Run, out: Path) -> tuple[dict, dict]:
    W = run.log["W"]
    rows, cols = (sorted(s) for s in run.sets("Zypher", run.ends[0]))
    relevant = np.zeros(W.shape[1:], dtype=bool)
    relevant[np.ix_(rows, cols)] = True
    rel, irr = W[:, relevant].mean(axis=1), W[:, ~relevant].mean(axis=1)
    ratio = W.max(axis=(1, 2)) / W.mean(axis=(1, 2))
    fig, (a, b) = plots.figure(1, 2, figsize=(10, 3.5))
    a.plot(run.steps, rel, label="relevant (Zypher neurons -> Zypher units)")
    a.plot(run.steps, irr, label="all other synapses")
    a.plot(run.steps, W.max(axis=(1, 2)), label="max", ls="--")
    a.set(xlabel="step", ylabel="weight", title="R2: Hebbian synapse strength")
    a.legend(fontsize=7)
    b.plot(run.steps, ratio)
    b.set(xlabel="step", ylabel="max / mean weight", title="R2: max over mean")
    for ax in (a, b):
        phase_lines(ax, run)
    plots.save(fig, out / "R2_hebbian_growth.png")
    idx = [0, run.at(run.ends[0]), run.at(run.ends[-1])]
    r2 = {
        "steps": [int(run.steps[i]) for i in idx],
        "relevant": [float(rel[i]) for i in idx],
        "other": [float(irr[i]) for i in idx],
        "max_over_mean": [float(ratio[i]) for i in idx],
    }

    spread = W.max(axis=(1, 2)) - W.min(axis=(1, 2))
    fig, ax = plots.figure(figsize=(6, 3.5))
    ax.plot(run.steps, spread, label="max - min")
    ax.plot(run.steps, W.std(axis=(1, 2)), label="standard deviation")
    ax.plot(run.steps, rel / irr, label="relevant / other (mean)")
    phase_lines(ax, run)
    ax.set(xlabel="step", title="R6: weight range of the Hebbian layer")
    ax.legend(fontsize=8)
    plots.save(fig, out / "R6_variance.png")
    r6 = {
        "range": [float(spread[i]) for i in idx],
        "std": [float(W.std(axis=(1, 2))[i]) for i in idx],
        "signal_to_other": [float(rel[i] / irr[i]) for i in idx],
    }
    return r2, r6


def r3(run: Run, out: Path) -> dict:
    sparsity, steps = run.log["sparsity"], run.log.steps_of("sparsity")
    window = max(1, run.cfg.log_every)
    smooth = np.convolve(sparsity, np.ones(window) / window, mode="valid")
    probe = (run.log["Zypher/neurons"] == 0).mean(axis=(1, 2))
    fig, ax = plots.figure(figsize=(6, 3.5))
    ax.plot(steps[window - 1 :], 100 * smooth, label="BDH neurons, training batches")
    ax.plot(run.steps, 100 * probe, "o", ms=3, label="BDH neurons, Zypher probes")
    ax.axhline(
        100 * (1 - run.k_units / run.n_units),
        color="k",
        ls="--",
        label="Hebbian layer (fixed by k-WTA)",
    )
    phase_lines(ax, run)
    ax.set(xlabel="step", ylabel="% inactive", title="R3: sparsity", ylim=(0, 100))
    ax.legend(fontsize=8)
    plots.save(fig, out / "R3_sparsity.png")
    per_phase = [
        float(100 * sparsity[(steps > lo) & (steps <= hi)].mean())
        for lo, hi in zip([0, *run.ends[:-1]], run.ends)
    ]
    return {
        "bdh_per_phase": per_phase,
        "bdh_init": float(100 * probe[0]),
        "hebb": 100 * (1 - run.k_units / run.n_units),
    }


def r4(sweep: dict[int, Run], out: Path) -> list[dict]:
    rows = []
    for d, run in sorted(sweep.items()):
        end2 = run.ends[1]
        (zn, zh), (xn, xh), (qn, qh) = (run.sets(w, end2) for w in WORDS)
        rows.append(
            {
                "d_model": d,
                "neurons": run.n_neurons,
                "units": run.n_units,
                "bdh_concepts": jaccard(zn, xn),
                "bdh_control": jaccard(zn, qn),
                "bdh_chance": chance_jaccard(run.k_neurons, run.n_neurons),
                "hebb_concepts": jaccard(zh, xh),
                "hebb_control": jaccard(zh, qh),
                "hebb_chance": chance_jaccard(run.k_units, run.n_units),
            }
        )
    fig, (a, b) = plots.figure(1, 2, figsize=(10, 3.5))
    ds = [r["d_model"] for r in rows]
    for ax, kind, title in ((a, "bdh", "BDH neurons (top 5%)"), (b, "hebb", "Hebbian k-WTA units")):
        ax.plot(ds, [r[f"{kind}_concepts"] for r in rows], "o-", label="Zypher vs Zyphrex")
        ax.plot(
            ds,
            [r[f"{kind}_control"] for r in rows],
            "s--",
            label=f"Zypher vs {CONTROL_WORD} (untrained)",
        )
        ax.plot(ds, [r[f"{kind}_chance"] for r in rows], ":", color="gray", label="chance")
        ax.set(
            xscale="log",
            xticks=ds,
            xticklabels=[str(d) for d in ds],
            xlabel="d_model",
            ylabel="Jaccard overlap",
            title=f"R4: {title}, end of phase 2",
            ylim=(0, 1),
        )
        ax.legend(fontsize=7)
    plots.save(fig, out / "R4_overlap.png")
    return rows


def r5(run: Run, out: Path) -> dict:
    p1, p3 = run.ends[0], run.ends[-1]
    z1, z3 = run.profile("Zypher", "neurons", p1), run.profile("Zypher", "neurons", p3)
    q1, q3 = run.profile(CONTROL_WORD, "neurons", p1), run.profile(CONTROL_WORD, "neurons", p3)
    res = {
        "zypher": pearson(z1, z3),
        "zypher_vs_control": pearson(z1, q3),
        "zypher_vs_zyphrex": pearson(z1, run.profile("Zyphrex", "neurons", p3)),
        "specific": pearson(z1 - q1, z3 - q3),
        "hebb": pearson(run.profile("Zypher", "hebb", p1), run.profile("Zypher", "hebb", p3)),
    }
    fig, (a, b) = plots.figure(1, 2, figsize=(9, 4))
    a.scatter(z1, z3, s=4, alpha=0.5)
    a.set(
        xlabel="end of phase 1",
        ylabel="end of phase 3",
        title=f"R5: Zypher neurons, r = {res['zypher']:.2f}",
    )
    b.scatter(z1 - q1, z3 - q3, s=4, alpha=0.5, color="C1")
    b.set(
        xlabel="end of phase 1",
        ylabel="end of phase 3",
        title=f"Zypher minus {CONTROL_WORD}, r = {res['specific']:.2f}",
    )
    plots.save(fig, out / "R5_persistence.png")
    return res


def r7(run: Run, out: Path) -> dict:
    fig, ax = plots.figure(figsize=(6, 3.5))
    for word, label in (
        ("Zypher", "Zypher"),
        ("Zyphrex", "Zyphrex (control concept)"),
        (CONTROL_WORD, f"{CONTROL_WORD} + Zypher's definition (leak)"),
    ):
        ax.plot(run.steps, run.log[f"{word}/definition_loss"], label=label)
    phase_lines(ax, run)
    ax.set(xlabel="step", ylabel="definition loss (nats/byte)", title="R7: learning curves")
    ax.legend(fontsize=8)
    plots.save(fig, out / "R7_learning_curves.png")
    return {
        w: [float(run.log[f"{w}/definition_loss"][run.at(s)]) for s in (0, *run.ends)]
        for w in WORDS
    }


def write(
    cfg: ProtocolConfig,
    scale: str,
    seed: int,
    main: StateLogger,
    sweep: dict[int, StateLogger],
    report_dir,
) -> dict:
    out = Path(report_dir)
    run = Run(main, cfg)
    res = {
        "R1": r1(run, out),
        "R3": r3(run, out),
        "R4": r4({d: Run(log, cfg) for d, log in sweep.items()}, out),
        "R5": r5(run, out),
        "R7": r7(run, out),
    }
    res["R2"], res["R6"] = r2_r6(run, out)
    report.write(out / "protocol.md", markdown(res, run, config_dict(cfg, seed), scale))
    res["headline"] = [
        f"R5 persistence r = {res['R5']['zypher']:.2f} (concept-specific {res['R5']['specific']:.2f})",
        f"R7 Zypher definition loss {res['R7']['Zypher'][1]:.2f} -> {res['R7']['Zypher'][3]:.2f} nats/byte",
    ]
    return res
