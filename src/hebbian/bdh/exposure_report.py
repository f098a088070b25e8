"""Statistics, figures and scaffold.md for the inference-time exposure experiment."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hebbian.io import provenance

from .. import plots, stats
from . import report


def paired(after, before) -> dict:
    t = stats.paired_t(after, before)
    w = stats.wilcoxon(after, before)
    boot = stats.bootstrap_paired_diff_ci(after, before)
    return {
        "n": t.n,
        "mean_diff": boot.value,
        "ci": (boot.ci_low, boot.ci_high),
        "t": t.statistic,
        "p_t": t.p_value,
        "p_wilcoxon": w.p_value,
        "dz": t.effect.value,
        "dz_ci": (t.effect.ci_low, t.effect.ci_high),
    }


def specific(after, before, n: int) -> dict:
    """Welch's test of the exposed facts' change (first n) against the controls' change (the rest)."""
    after, before = np.asarray(after), np.asarray(before)
    t = stats.welch_t(after[:n] - before[:n], after[n:] - before[n:])
    return {
        "mean": float(t.extra["mean_diff"]),
        "t": t.statistic,
        "p": t.p_value,
        "d": t.effect.value,
        "d_ci": (t.effect.ci_low, t.effect.ci_high),
        "exposed": float(np.mean(after[:n] - before[:n])),
        "control": float(np.mean(after[n:] - before[n:])),
    }


def analyse(r: dict) -> dict:
    n = r["n_facts"]
    before, after = np.array(r["before"]), np.array(r["after"])
    exposed, control = paired(after[:n], before[:n]), paired(after[n:], before[n:])
    did = specific(after, before, n)
    context = paired(r["in_context"], before[:n])
    p = stats.correct([exposed["p_t"], control["p_t"], did["p"], context["p_t"]], "holm")
    exposed["p_holm"], control["p_holm"], did["p_holm"], context["p_holm"] = p.p_values
    sweep = [{"eta": row["eta"], **specific(row["after"], before, n)} for row in r["eta_sweep"]]
    if sweep:
        for row, p_holm in zip(sweep, stats.correct([row["p"] for row in sweep], "holm").p_values):
            row["p_holm"] = p_holm
    answer_bytes = np.array([len(f["answer"].encode()) for f in r["facts"]])
    repeat = paired(r["repeat"]["second"], r["repeat"]["first"])
    return {
        "exposed": exposed,
        "control": control,
        "specific": did,
        "context": context,
        "sweep": sweep,
        "repeat": repeat,
        "block_size": r["block_size"],
        "repeat_bytes": 2 * r["block_size"] // 5,
        "mean_answer_bytes": float(answer_bytes.mean()),
    }


def figures(r: dict, a: dict, out: Path) -> None:
    n = r["n_facts"]
    before, after = np.array(r["before"]), np.array(r["after"])
    fig, (left, right) = plots.figure(1, 2, figsize=(10, 4))
    left.scatter(before[:n], after[:n], s=12, label="exposed")
    left.scatter(before[n:], after[n:], s=12, marker="x", label="control (not exposed)")
    left.scatter(before[:n], r["in_context"], s=8, alpha=0.5, label="exposed, fact in context")
    lo, hi = min(before.min(), after.min()), max(before.max(), after.max(), max(r["in_context"]))
    left.plot([lo, hi], [lo, hi], color="gray", lw=1)
    left.set(
        xlabel="log p(definition | cue) before (nats)",
        ylabel="after exposure (session 2)",
        title="S1: each fact before and after",
    )
    left.legend(fontsize=7)
    change = after - before
    right.plot(np.arange(n), change[:n], "o", ms=4, label="exposed (in exposure order)")
    right.axhspan(
        *a["control"]["ci"], color="C1", alpha=0.3, label="control: 95% CI of the mean change"
    )
    right.axhline(0, color="gray", lw=1)
    right.set(
        xlabel="fact (order of exposure)",
        ylabel="change in log p (nats)",
        title="S2: change against recency",
    )
    right.legend(fontsize=7)
    plots.save(fig, out / "scaffold_recall.png")

    trace = r["trace"]
    fig, (left, right) = plots.figure(1, 2, figsize=(10, 3.2))
    left.plot([t["sigma_norm"] for t in trace])
    left.set(xlabel="exposure update", ylabel="sigma_norm", title="S3: memory formed")
    right.plot([t["stiff_synapses"] for t in trace], label="stiff_synapses")
    right.plot(
        np.array([t["avg_decay"] for t in trace]) / r["scaffold_config"]["base_decay"],
        label="avg_decay / base_decay",
    )
    right.set(xlabel="exposure update", title="S3: metaplasticity")
    right.legend(fontsize=7)
    plots.save(fig, out / "scaffold_synapses.png")


def fmt_ci(ci) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def interpretation(a: dict) -> str:
    e, c, s, k = a["exposed"], a["control"], a["specific"], a["context"]
    if s["p_holm"] < 0.05 and s["mean"] > 0:
        core = (
            f"Exposure raised the exposed definitions by {e['mean_diff']:.3f} nats on average, "
            f"{s['mean']:.3f} nats more than the controls changed (Welch p = {s['p_holm']:.3g} after Holm): "
            "the synapses carry something specific to the exposed facts across the process boundary."
        )
    elif s["p_holm"] < 0.05:
        core = (
            f"The exposed facts changed by {s['mean']:.3f} nats less than the controls (Holm p = "
            f"{s['p_holm']:.3g}): exposure did not help the facts it was about."
        )
    else:
        core = (
            f"The change on exposed facts ({e['mean_diff']:.3f} nats) is not distinguishable from the change on "
            f"facts never exposed ({c['mean_diff']:.3f}; difference {s['mean']:.3f}, Holm p = {s['p_holm']:.3g}): "
            "no fact-specific recall is shown. This is a null result for the scaffold as configured."
        )
    if c["p_holm"] < 0.05:
        core += (
            f" The controls moved too ({c['mean_diff']:.3f} nats, Holm p = {c['p_holm']:.3g}): part of any "
            "change is generic (the shared `A <word> is a <adjective> <colour> <noun>.` frame), not recall."
        )
    in_view = f"{k['mean_diff']:.3f} nats (95% CI {fmt_ci(k['ci'])})"
    if k["ci"][0] > 0:
        core += (
            f" For scale, putting the fact in the context window raises its log-probability by {in_view}: that "
            "is what the model can do with the fact in view, a reference for what position-free synapses "
            "might carry."
        )
    else:
        core += (
            f" Even the positive control fails: with the fact itself in the context window the definition's "
            f"log-probability changes by {in_view}. At this scale the model does not copy a definition from "
            "its context, so the synapses, which store the same co-activations as the attention state minus "
            "their positions, had little that the model could use."
        )
    rep = a["repeat"]
    core += (
        f" Repeat test: a held-out passage of {a['repeat_bytes']} bytes read a second time, right after itself (within "
        f"the {a['block_size']}-byte context the model was trained on), changes its "
        f"log-probability by {rep['mean_diff']:.3f} nats per byte (95% CI {fmt_ci(rep['ci'])}, n = {rep['n']}); "
        + (
            "the model does copy verbatim text from its context."
            if rep["ci"][0] > 0
            else "the second reading is less likely than the first: a verbatim copy in view hurts this model "
            "rather than helps it."
            if rep["ci"][1] < 0
            else "the model makes no measurable use of a verbatim copy in view."
        )
    )
    return core


def write(r: dict, out: Path) -> dict:
    a = analyse(r)
    figures(r, a, out)
    rows = []
    for name, key in (
        ("exposed, after - before", "exposed"),
        ("control, after - before", "control"),
        ("exposed, fact in context - before", "context"),
    ):
        x = a[key]
        rows.append(
            [
                name,
                x["n"],
                x["mean_diff"],
                fmt_ci(x["ci"]),
                x["t"],
                x["p_t"],
                x["p_holm"],
                x["p_wilcoxon"],
                f"{x['dz']:.3f} {fmt_ci(x['dz_ci'])}",
            ]
        )
    s = a["specific"]
    d1, d2 = r["diagnostics_session1"], r["diagnostics_session2"]
    glip = r["facts"][0]
    sections = [
        "# Synaptic scaffolding: inference-time learning across sessions (seed 001)",
        f"Command: `hebbian bdh scaffold` (seed {r['seed']}) on the checkpoint `{r['checkpoint']}`. "
        f"{r['n_facts']} made-up words with definitions were exposed, {r['repeats']} readings each, with no "
        f"gradient anywhere; {r['n_facts']} more were never exposed (controls). Example: `{glip['sentence']}`, "
        f"scored as log p(`{glip['answer']}` | `{glip['cue']}`). "
        f"Definitions average {a['mean_answer_bytes']:.1f} bytes.",
        "The synapses sigma (one (n_head, N, D) block a layer) learn sigma <- (1-decay) sigma + eta x_sparse^T x "
        "after each sentence, with metaplastic decay and a norm bound (`hebbian.bdh.scaffold`), and are read by the "
        "model as x_sparse @ sigma beside its attention. Session 1 scored every fact, exposed the model and saved "
        f"the synapses ({r['synapse_file_bytes'] / 1e6:.1f} MB); session 2, a separate Python process, loaded the "
        "checkpoint and the synapse file and scored every fact again.",
        "## Result",
        interpretation(a),
        report.table(
            [
                "comparison (nats)",
                "n",
                "mean change",
                "95% CI (bootstrap)",
                "t",
                "p",
                "p (Holm, 4 tests)",
                "p (Wilcoxon)",
                "d_z [95% CI]",
            ],
            rows,
        ),
        f"Exposed change minus control change (Welch): {s['mean']:.3f} nats, t = {s['t']:.2f}, p = {s['p']:.3g} "
        f"(Holm {s['p_holm']:.3g}), Cohen's d = {s['d']:.3f} {fmt_ci(s['d_ci'])}.",
        "Figure `scaffold_recall.png`: S1, every fact before and after; S2, the change by order of exposure "
        "(the last exposed have had the least time to decay).",
        "![S1 and S2](scaffold_recall.png)",
        "## Synapse diagnostics",
        report.table(
            ["", "sigma_norm", "stiff_synapses", "avg_decay"],
            [
                ["end of session 1", d1["sigma_norm"], d1["stiff_synapses"], d1["avg_decay"]],
                ["loaded in session 2", d2["sigma_norm"], d2["stiff_synapses"], d2["avg_decay"]],
            ],
        ),
        (
            "The two rows agree exactly: the file round-trips. "
            if d1 == d2
            else "The two rows differ: the synapse file did not round-trip exactly. "
        )
        + "Figure `scaffold_synapses.png` (S3) follows the "
        "diagnostics through the exposure.",
        "![S3](scaffold_synapses.png)",
        "## Exploratory: other read-out strengths (not pre-declared)",
        "After the run above, the same exposure was repeated in session 1 at other values of eta (every value in "
        "the list was tried and is shown; none was chosen afterwards). Read these as a map of the mechanism, not "
        "as a confirmed effect: Holm's correction runs over this table only.",
        report.table(
            [
                "eta",
                "exposed change",
                "control change",
                "difference",
                "d [95% CI]",
                "p (Welch)",
                "p (Holm)",
            ],
            [
                [
                    row["eta"],
                    row["exposed"],
                    row["control"],
                    row["mean"],
                    f"{row['d']:.3f} {fmt_ci(row['d_ci'])}",
                    row["p"],
                    row["p_holm"],
                ]
                for row in a["sweep"]
            ],
        ),
        "## What this does and does not show",
        "The seed reported structural change (sigma_norm, stiff synapses) as its evidence of learning. Structural "
        "change is guaranteed by construction: any exposure makes sigma non-zero. The test that matters is whether "
        "the change makes the exposed facts, and not others, more likely; the table above answers it with paired "
        "tests over many facts. Settings were fixed before the run (eta = 1 makes one reading add exactly what the "
        "sentence adds to the attention state, without its RoPE phases) and not tuned afterwards.",
        "## Configuration",
        report.config_block("scaffold", r["scaffold_config"]),
        report.config_block("model", r["model_config"]),
        provenance.markdown(),
    ]
    report.write(out / "scaffold.md", sections)
    return {
        "analysis": a,
        "headline": f"exposed {a['exposed']['mean_diff']:+.3f} nats, control "
        f"{a['control']['mean_diff']:+.3f}, difference p(Holm) = {s['p_holm']:.3g}",
    }
