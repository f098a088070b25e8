"""The words of protocol.md: each of seed 000's claims, our number, and whether it holds."""

from __future__ import annotations

from itertools import pairwise

from hebbian.io import provenance

from . import report
from .protocol import CONTROL_WORD, DEFINITIONS


def verdict(holds: bool, partly: bool = False) -> str:
    return (
        "**Reproduced.**"
        if holds
        else "**Partly reproduced.**"
        if partly
        else "**Not reproduced.**"
    )


def markdown(res: dict, run, config: dict, scale: str) -> list[str]:
    r1, r2, r3, r4, r5, r6, r7 = (res[f"R{i}"] for i in range(1, 8))
    e1, e2, e3 = (int(s) for s in run.ends)
    command = "hebbian bdh protocol" + ("" if scale == "cpu" else f" --scale {scale}")
    z, x, q = r7["Zypher"], r7["Zyphrex"], r7[CONTROL_WORD]
    forgetting = z[2] - z[1]
    # how much better Zypher's definition follows "Zypher" than the untrained word: the word-specific memory
    advantage = [qq - zz for qq, zz in zip(q, z)]
    retained = advantage[2] / advantage[1] if advantage[1] > 0 else float("nan")
    specific_units = r1["late"]["hebb"]["overlap_control"] < 0.5
    monopoly = (
        ""
        if specific_units
        else f" But the Hebbian units that win for Zypher also win for the untrained {CONTROL_WORD} (overlap "
        f"{r1['late']['hebb']['overlap_control']:.2f}, R1): only {r1['units_used']} of {run.n_units} units "
        "ever win on any probe, so the strengthened synapses belong to a few units that win everything, "
        "not to the concept. Plain Hebb with k-WTA has no mechanism against such monopolies (homeostatic "
        "thresholds or a 'conscience' term are the usual fixes; the seed describes neither)."
    )
    ds = [r["d_model"] for r in r4]
    overlaps = [r["bdh_concepts"] for r in r4]
    monotone = all(b <= a for a, b in pairwise(overlaps))
    big = max(r4, key=lambda r: r["d_model"])
    small = min(r4, key=lambda r: r["d_model"])
    sections = [
        "# The three-phase memory protocol on BDH (seed 000)",
        f"Command: `{command}` (seed {config['seed']}). A byte-level BDH ({run.n_neurons} neurons, "
        f"d_model={config['d_model']}) learns by backpropagation from Shakespeare windows that carry the "
        f"sentence `the Zypher is{DEFINITIONS['Zypher']}` (phase 1, steps 1-{e1}), "
        f"then `the Zyphrex is{DEFINITIONS['Zyphrex']}` "
        f"(phase 2, to step {e2}), then plain text (phase 3, to step {e3}). A Hebbian k-WTA layer "
        f"({run.n_units} units, k={run.k_units}) learns from the BDH's last-layer neurons on the same batches "
        "with the local rule W <- (1-decay) W + eta x^T y and a norm bound, no gradients. "
        f"Probes: {config['n_probes']} fixed "
        f"held-out carriers followed by `the <word> is`, read at the space after the word; `{CONTROL_WORD}` is a "
        "word the model never sees in training. A concept's BDH neurons are the top 5% of its mean profile; its "
        "Hebbian units are the k strongest.",
        "Differences from the seed, by design: the seed's network learns only by Hebb; here the language model "
        "learns by backpropagation (BDH-GPU has no other training rule) and the Hebbian layer observes it. "
        "Our Hebbian rule is bounded (decay and a norm bound on each unit), so synapses cannot grow without limit.",
        "## R1: emergence of structure (Figure `R1_emergence.png`)",
        "![R1](R1_emergence.png)",
        report.table(
            [
                "Zypher probes",
                f"early (step {r1['early']['step']})",
                "end of phase 1",
                "chance / uniform",
            ],
            [
                [f"{label}: {what}", r1["early"][kind][key], r1["late"][kind][key], ref]
                for kind, label in (("neurons", "BDH neurons"), ("hebb", "Hebbian units"))
                for key, what, ref in (
                    ("consistency", "probe-to-probe overlap of active sets", r1["chance"][kind]),
                    (
                        "concentration",
                        "share of activity in the top set",
                        r1["uniform_concentration"][kind] if kind == "neurons" else "1 (k-WTA)",
                    ),
                    ("overlap_control", f"overlap with {CONTROL_WORD}'s set", r1["chance"][kind]),
                )
            ],
        ),
        "Seed: diffuse early, clean vertical bands late, a subset locked in for the concept. "
        + verdict(
            r1["late"]["neurons"]["overlap_control"]
            < r1["early"]["neurons"]["overlap_control"] - 0.1
            and r1["late"]["hebb"]["overlap_control"]
            < r1["early"]["hebb"]["overlap_control"] - 0.1,
            r1["late"]["neurons"]["overlap_control"] < r1["early"]["neurons"]["overlap_control"]
            or r1["late"]["hebb"]["overlap_control"] < r1["early"]["hebb"]["overlap_control"],
        )
        + " The figure stacks the Zypher probes above the probes of the never-trained word, so a Zypher-specific "
        "band shows as a column lit above the line and dark below it. Vertical bands as such prove little here: "
        "every probe reads the same byte (a space) after the same frame `the <word>`, so the probes agree with "
        "each other from the start (the consistency row). What would show a concept being locked in is Zypher's "
        f"set parting from {CONTROL_WORD}'s: its overlap goes from {r1['early']['neurons']['overlap_control']:.2f} "
        f"to {r1['late']['neurons']['overlap_control']:.2f} for the BDH neurons and from "
        f"{r1['early']['hebb']['overlap_control']:.2f} to {r1['late']['hebb']['overlap_control']:.2f} for the "
        "Hebbian units.",
        "## R2: Hebbian strengthening (Figure `R2_hebbian_growth.png`)",
        "![R2](R2_hebbian_growth.png)",
        report.table(
            ["step", "relevant synapses (mean)", "other synapses (mean)", "max / mean"],
            [
                [s, a, b, c]
                for s, a, b, c in zip(r2["steps"], r2["relevant"], r2["other"], r2["max_over_mean"])
            ],
        ),
        "Seed: exponential growth, max weights >10x the mean. "
        + verdict(r2["max_over_mean"][1] > 10, r2["relevant"][1] > r2["relevant"][0]).replace(
            "**Reproduced.**", "**Reproduced.**" if specific_units else "**Partly reproduced.**"
        )
        + f" The synapses from Zypher's neurons to Zypher's units grow from {r2['relevant'][0]:.4f} to "
        f"{r2['relevant'][1]:.4f} over phase 1 while the rest go from {r2['other'][0]:.4f} to {r2['other'][1]:.4f}; "
        f"max/mean reaches {r2['max_over_mean'][1]:.1f}. Growth here is bounded by design: each unit's weight "
        "vector is held to a fixed norm, so strengthening some synapses weakens the others. The seed's unbounded "
        "exponential growth is the known instability of plain Hebb, not evidence of learning."
        + monopoly,
        "## R3: sparse resource usage (Figure `R3_sparsity.png`)",
        "![R3](R3_sparsity.png)",
        report.table(
            ["", "phase 1", "phase 2", "phase 3"],
            [["BDH neurons inactive (%), training batches", *r3["bdh_per_phase"]]],
        ),
        f"Seed: ~84% of neurons inactive, stable throughout. For the Hebbian layer the fraction is "
        f"{r3['hebb']:.1f}% at every step because k-WTA fixes it: it is a setting, not a finding (the seed's k-WTA "
        f"network is in the same position). The BDH neurons are sparse by their ReLU alone: {r3['bdh_init']:.1f}% "
        f"inactive at initialization and {r3['bdh_per_phase'][0]:.1f}% / {r3['bdh_per_phase'][1]:.1f}% / "
        f"{r3['bdh_per_phase'][2]:.1f}% over the three phases. "
        + verdict(
            max(r3["bdh_per_phase"]) - min(r3["bdh_per_phase"]) < 5,
            max(r3["bdh_per_phase"]) - min(r3["bdh_per_phase"]) < 10,
        )
        + " (stable within 5 points counts as reproduced).",
        "## R4: concept overlap against capacity (Figure `R4_overlap.png`)",
        "![R4](R4_overlap.png)",
        report.table(
            [
                "d_model",
                "neurons",
                "BDH: Zypher vs Zyphrex",
                f"BDH: Zypher vs {CONTROL_WORD}",
                "BDH chance",
                "Hebbian: Zypher vs Zyphrex",
                f"Hebbian: Zypher vs {CONTROL_WORD}",
                "Hebbian chance",
            ],
            [
                [
                    r["d_model"],
                    r["neurons"],
                    r["bdh_concepts"],
                    r["bdh_control"],
                    r["bdh_chance"],
                    r["hebb_concepts"],
                    r["hebb_control"],
                    r["hebb_chance"],
                ]
                for r in r4
            ],
        ),
        "Seed: more capacity (d_model=64) gives clearly less overlap between the two concepts. "
        + verdict(
            monotone
            and big["bdh_concepts"] < small["bdh_concepts"] - 0.1
            and big["bdh_concepts"] <= big["bdh_control"],
            monotone and big["bdh_concepts"] < small["bdh_concepts"],
        )
        + " BDH overlap between the concepts by d_model: "
        + ", ".join(f"{d}: {o:.2f}" for d, o in zip(ds, overlaps))
        + ("" if monotone else " (no monotone trend)")
        + ". The set sizes scale with the layer, so chance overlap "
        "is the same at every size; the untrained control word shows how much two words share merely for sitting "
        "in the same frame. The two names also share the bytes `Zyph`, so a byte-level model sees them as similar "
        "strings before any meaning. Each size is one run with one seed."
        + (
            " Zypher's and Zyphrex's Hebbian winners are the same units at every size."
            if all(r["hebb_concepts"] == 1 for r in r4)
            else ""
        ),
        "## R5: memory persistence (Figure `R5_persistence.png`)",
        "![R5](R5_persistence.png)",
        report.table(
            ["correlation of Zypher's neuron profile at the end of phase 1 with", "r"],
            [
                ["Zypher at the end of phase 3", r5["zypher"]],
                [f"{CONTROL_WORD} (never trained) at the end of phase 3", r5["zypher_vs_control"]],
                ["Zyphrex at the end of phase 3", r5["zypher_vs_zyphrex"]],
                [
                    f"concept-specific part (Zypher minus {CONTROL_WORD}), phase 1 vs phase 3",
                    r5["specific"],
                ],
                ["Hebbian unit profile, phase 1 vs phase 3", r5["hebb"]],
            ],
        ),
        "Seed: a strong diagonal, so the memory is stable. "
        + verdict(r5["specific"] > 0.5, r5["specific"] > 0.2)
        + f" The raw correlation ({r5['zypher']:.2f}) must be read against the untrained word's "
        f"({r5['zypher_vs_control']:.2f}): most of it is what any word in this frame evokes. The concept-specific "
        f"part keeps r = {r5['specific']:.2f}.",
        "## R6: signal and noise in the weights (Figure `R6_variance.png`)",
        "![R6](R6_variance.png)",
        report.table(
            ["step", "max - min", "std", "relevant / other"],
            [
                [s, a, b, c]
                for s, a, b, c in zip(r2["steps"], r6["range"], r6["std"], r6["signal_to_other"])
            ],
        ),
        "Seed: the range widens as weak weights weaken and strong ones strengthen. "
        + verdict(
            r6["range"][1] > r6["range"][0] and r6["signal_to_other"][1] > 1.5 and specific_units,
            r6["range"][1] > r6["range"][0],
        )
        + f" The relevant synapses are {r6['signal_to_other'][1]:.2f}x the others at the end of phase 1 and "
        f"{r6['signal_to_other'][2]:.2f}x at the end of phase 3."
        + (
            ""
            if specific_units
            else " As in R2, the 'relevant' synapses are those of the units that win for every word."
        ),
        "## R7: the control concept and interference (Figure `R7_learning_curves.png`)",
        "![R7](R7_learning_curves.png)",
        report.table(
            [
                "definition loss (nats/byte)",
                "start",
                "end of phase 1",
                "end of phase 2",
                "end of phase 3",
            ],
            [["Zypher", *z], ["Zyphrex", *x], [f"{CONTROL_WORD} + Zypher's definition", *q]],
        ),
        "Seed: Zyphrex is learnt on its own curve without catastrophic interference. "
        + verdict(x[2] < x[1] - 0.5 and retained >= 0.5, x[2] < x[1] - 0.5)
        + f" Zyphrex's definition loss falls from {x[1]:.2f} to {x[2]:.2f} in phase 2; over the same phase "
        f"Zypher's rises from {z[1]:.2f} to {z[2]:.2f} (+{forgetting:.2f}; phase 1 had lowered it by "
        f"{z[0] - z[1]:.2f}) and ends phase 3 at {z[3]:.2f}. The untrained word followed by Zypher's definition "
        f"scores {q[1]:.2f} at the end of phase 1: the part of the 'memory' that is not tied to the word at all. "
        f"The word-specific part, {CONTROL_WORD}'s loss minus Zypher's, is {advantage[1]:.2f} nats/byte at the end "
        f"of phase 1 and {advantage[2]:.2f} at the end of phase 2: {100 * retained:.0f}% of it survives learning "
        "Zyphrex (at least half surviving counts as no catastrophic interference).",
        "## Configuration",
        report.config_block("protocol", config),
        "One seed, one run per model size; no setting was tuned to make a result appear.",
        provenance.markdown(),
    ]
    return sections
